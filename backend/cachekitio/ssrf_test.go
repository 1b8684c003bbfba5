package cachekitio

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
)

// TestCheckURL is the SSRF table: every URL with the outcome under the four
// combinations of AllowCustomHost (c) and AllowPrivateNetworks (p).
func TestCheckURL(t *testing.T) {
	t.Parallel()
	const (
		ok    = "ok"
		block = "block"
	)
	tests := []struct {
		url                                string
		plain, custom, private, customPriv string // outcomes: default, c, p, c+p
	}{
		// The allowlist.
		{"https://api.cachekit.io", ok, ok, ok, ok},
		{"https://api.cachekit.io/", ok, ok, ok, ok},
		{"https://API.CacheKit.IO", ok, ok, ok, ok},
		{"https://api.cachekit.io.", ok, ok, ok, ok},
		{"https://api.staging.cachekit.io", ok, ok, ok, ok},
		{"https://v2.api.cachekit.io:8443/prefix", ok, ok, ok, ok},
		{"https://eu.api.staging.cachekit.io", ok, ok, ok, ok},
		{"https://cachekit.io", block, ok, block, ok},
		{"https://evilapi.cachekit.io", block, ok, block, ok},
		{"https://api.cachekit.io.evil.com", block, ok, block, ok},
		{"https://api-cachekit.io", block, ok, block, ok},
		{"https://cache.example.com", block, ok, block, ok},
		{"https://cache.internal:8443/api", block, ok, block, ok},
		{"https://fd00.example.com", block, ok, block, ok}, // a name starting "fd" is just a name
		{"https://fc.example.com", block, ok, block, ok},

		// Scheme and URL shape: never allowed.
		{"http://api.cachekit.io", block, block, block, block},
		{"HTTP://api.cachekit.io", block, block, block, block},
		{"ftp://api.cachekit.io", block, block, block, block},
		{"api.cachekit.io", block, block, block, block},
		{"//api.cachekit.io", block, block, block, block},
		{"https:api.cachekit.io", block, block, block, block},
		{"https://user:pass@api.cachekit.io", block, block, block, block},
		{"https://ck_live_x@api.cachekit.io", block, block, block, block},
		{"https://api.cachekit.io?x=1", block, block, block, block},
		{"https://api.cachekit.io/?", block, block, block, block},
		{"https://api.cachekit.io#frag", block, block, block, block},
		{"https://api.cachekit.io:0", block, block, block, block},
		{"https://api.cachekit.io:99999", block, block, block, block},
		{"https://api.cachekit.io/a/../b", block, block, block, block},
		{"https://api.cachekit.io\\@evil.com", block, block, block, block},
		{"https:// api.cachekit.io", block, block, block, block},
		{"https://", block, block, block, block},
		{"https://-bad-.example.com", block, block, block, block},
		{"https://exa mple.com", block, block, block, block},

		// Literal addresses: public ones need AllowCustomHost; private ones
		// also need AllowPrivateNetworks.
		{"https://8.8.8.8", block, ok, block, ok},
		{"https://[2606:4700::1111]", block, ok, block, ok},
		{"https://127.0.0.1", block, block, block, ok},
		{"https://127.9.8.7:8443", block, block, block, ok},
		{"https://10.0.0.1", block, block, block, ok},
		{"https://172.16.0.1", block, block, block, ok},
		{"https://172.31.255.255", block, block, block, ok},
		{"https://172.32.0.1", block, ok, block, ok}, // just outside 172.16/12
		{"https://192.168.1.1", block, block, block, ok},
		{"https://100.64.0.1", block, block, block, ok},
		{"https://[::1]", block, block, block, ok},
		{"https://[fd12:3456::1]", block, block, block, ok},
		{"https://[fc00::1]", block, block, block, ok},
		{"https://[::ffff:127.0.0.1]", block, block, block, ok},
		{"https://[::ffff:10.0.0.1]", block, block, block, ok},
		{"https://[::ffff:8.8.8.8]", block, ok, block, ok},

		// Never dialled, whatever the options.
		{"https://0.0.0.0", block, block, block, block},
		{"https://0.1.2.3", block, block, block, block},
		{"https://169.254.169.254/latest/meta-data", block, block, block, block},
		{"https://169.254.0.1", block, block, block, block},
		{"https://224.0.0.1", block, block, block, block},
		{"https://255.255.255.255", block, block, block, block},
		{"https://240.0.0.1", block, block, block, block},
		{"https://192.0.2.1", block, block, block, block},
		{"https://198.18.0.1", block, block, block, block},
		{"https://[::]", block, block, block, block},
		{"https://[fe80::1]", block, block, block, block},
		{"https://[fe80::1%25eth0]", block, block, block, block},
		{"https://[ff02::1]", block, block, block, block},
		{"https://[::ffff:169.254.169.254]", block, block, block, block},
		{"https://[::ffff:0.0.0.0]", block, block, block, block},
		{"https://[::127.0.0.1]", block, block, block, block},
		{"https://[64:ff9b::10.0.0.1]", block, block, block, block},
		{"https://[64:ff9b::a9fe:a9fe]", block, block, block, block},
		{"https://[2002:a00:1::]", block, block, block, block},
		{"https://[2001:db8::1]", block, block, block, block},

		// Numeric forms resolvers disagree on: refused.
		{"https://127.1", block, block, block, block},
		{"https://2130706433", block, block, block, block},
		{"https://0x7f.0.0.1", block, block, block, block},
		{"https://0x7f000001", block, block, block, block},
		{"https://017700000001", block, block, block, block},
		{"https://10.1", block, block, block, block},

		// Local names: the machine itself.
		{"https://localhost", block, block, block, ok},
		{"https://localhost:8443", block, block, block, ok},
		{"https://api.localhost", block, block, block, ok},
		{"https://LOCALHOST.", block, block, block, ok},
	}
	if len(tests) < 40 {
		t.Fatalf("the SSRF table needs at least 40 URLs, has %d", len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			t.Parallel()
			for _, m := range []struct {
				custom, private bool
				want            string
			}{
				{false, false, tt.plain},
				{true, false, tt.custom},
				{false, true, tt.private},
				{true, true, tt.customPriv},
			} {
				_, err := checkURL(tt.url, m.custom, m.private)
				got := ok
				if err != nil {
					got = block
					if !errors.Is(err, ErrUnsafeURL) {
						t.Errorf("custom=%v private=%v: error %v does not wrap ErrUnsafeURL", m.custom, m.private, err)
					}
					if strings.Contains(err.Error(), "pass") || strings.Contains(err.Error(), "ck_live_x") {
						t.Errorf("error echoes credentials: %v", err)
					}
				}
				if got != m.want {
					t.Errorf("custom=%v private=%v: got %s (err %v), want %s", m.custom, m.private, got, err, m.want)
				}
			}
		})
	}
}

func TestCheckURLBase(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, base string }{
		{"https://api.cachekit.io", "https://api.cachekit.io"},
		{"https://api.cachekit.io/", "https://api.cachekit.io"},
		{"https://api.cachekit.io:8443/prefix/", "https://api.cachekit.io:8443/prefix"},
		{"HTTPS://api.cachekit.io/p%20q", "https://api.cachekit.io/p%20q"},
		{"https://API.CacheKit.io.:443/", "https://api.cachekit.io:443"},
		{"https://v2.API.cachekit.io.", "https://v2.api.cachekit.io"},
	}
	for _, tt := range tests {
		cu, err := checkURL(tt.in, false, false)
		if err != nil {
			t.Fatalf("%s: %v", tt.in, err)
		}
		if got := cu.base.String(); got != tt.base {
			t.Errorf("%s: base %q, want %q", tt.in, got, tt.base)
		}
	}
	for in, want := range map[string]string{
		"https://[2606:4700::1111]":      "https://[2606:4700::1111]",
		"https://[2606:4700::1111]:8443": "https://[2606:4700::1111]:8443",
		"https://[::ffff:8.8.8.8]":       "https://[::ffff:8.8.8.8]",
		"https://8.8.8.8:443/x/":         "https://8.8.8.8:443/x",
	} {
		cu, err := checkURL(in, true, false)
		if err != nil || cu.base.String() != want {
			t.Errorf("%s: base %v, %v, want %q", in, cu.base, err, want)
		}
	}
}

func TestClassifyAddr(t *testing.T) {
	t.Parallel()
	tests := []struct {
		addr string
		want addrClass
	}{
		{"1.1.1.1", classPublic},
		{"8.8.4.4", classPublic},
		{"2606:4700:4700::1111", classPublic},
		{"64:ff9b::808:808", classPublic}, // NAT64 of 8.8.8.8
		{"2002:808:808::1", classPublic},  // 6to4 of 8.8.8.8
		{"127.0.0.1", classPrivate},
		{"10.255.255.255", classPrivate},
		{"100.127.255.255", classPrivate},
		{"100.128.0.0", classPublic},
		{"::1", classPrivate},
		{"fdff::1", classPrivate},
		{"::ffff:192.168.0.1", classPrivate},
		{"0.0.0.0", classBlocked},
		{"169.254.169.254", classBlocked},
		{"fe80::1", classBlocked},
		{"febf::1", classBlocked},
		{"ff05::2", classBlocked},
		{"::", classBlocked},
		{"::ffff:0:0", classBlocked},
		{"64:ff9b::7f00:1", classBlocked},
		{"2002:7f00:1::", classBlocked},
		{"2001::1", classBlocked},
		{"3fff::1", classBlocked},
	}
	for _, tt := range tests {
		if got, why := classifyAddr(netip.MustParseAddr(tt.addr)); got != tt.want {
			t.Errorf("%s: class %d (%s), want %d", tt.addr, got, why, tt.want)
		}
	}
	if c, _ := classifyAddr(netip.Addr{}); c != classBlocked {
		t.Error("the zero Addr must be blocked")
	}
	if c, _ := classifyAddr(netip.MustParseAddr("fe80::1%eth0")); c != classBlocked {
		t.Error("zoned addresses must be blocked")
	}
}

// mapResolver answers from a fixed table, like a DNS server under test
// control; names missing from it are not found.
type mapResolver map[string][]netip.Addr

func (m mapResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := m[strings.ToLower(host)]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func addrs(s ...string) []netip.Addr {
	out := make([]netip.Addr, len(s))
	for i, a := range s {
		out[i] = netip.MustParseAddr(a)
	}
	return out
}

// TestDialTimeCheck proves the second check: allowed names whose DNS answers
// are internal are refused at dial time, before any packet is sent to them.
func TestDialTimeCheck(t *testing.T) {
	t.Parallel()
	res := mapResolver{
		"api.cachekit.io":         addrs("10.0.0.1"),
		"meta.api.cachekit.io":    addrs("169.254.169.254"),
		"mixed.api.cachekit.io":   addrs("8.8.8.8", "127.0.0.1"),
		"mapped.api.cachekit.io":  addrs("::ffff:10.0.0.1"),
		"ula.api.cachekit.io":     addrs("fd00::1"),
		"zero.api.cachekit.io":    addrs("0.0.0.0"),
		"loop6.api.cachekit.io":   addrs("::1"),
		"nat64.api.cachekit.io":   addrs("64:ff9b::a00:1"),
		"cgnat.api.cachekit.io":   addrs("100.100.100.100"),
		"private.api.cachekit.io": addrs("192.168.10.10"),
	}
	for name, as := range res {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			d := &guardedDialer{resolver: res}
			conn, err := d.DialContext(context.Background(), "tcp", net.JoinHostPort(name, "443"))
			if err == nil {
				conn.Close()
				t.Fatalf("dial to %s (%v) succeeded", name, as)
			}
			if !errors.Is(err, ErrBlockedAddress) {
				t.Fatalf("error %v does not wrap ErrBlockedAddress", err)
			}
		})
	}
	// A literal internal address reaching the dialer (it can not, through
	// checkURL, but the dialer does not rely on that).
	d := &guardedDialer{resolver: res}
	if _, err := d.DialContext(context.Background(), "tcp", "127.0.0.1:1"); !errors.Is(err, ErrBlockedAddress) {
		t.Fatalf("literal loopback: %v", err)
	}
}

// TestDialTimeOptIn shows what AllowPrivateNetworks relaxes at dial time:
// loopback and private answers are dialled, the metadata range is not.
func TestDialTimeOptIn(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	res := mapResolver{
		"api.cachekit.io":      addrs("127.0.0.1"),
		"meta.api.cachekit.io": addrs("169.254.169.254"),
	}
	d := &guardedDialer{resolver: res, allowPrivate: true}
	conn, err := d.DialContext(context.Background(), "tcp", net.JoinHostPort("api.cachekit.io", port))
	if err != nil {
		t.Fatalf("opt-in dial to loopback: %v", err)
	}
	conn.Close()
	if _, err := d.DialContext(context.Background(), "tcp", net.JoinHostPort("meta.api.cachekit.io", port)); !errors.Is(err, ErrBlockedAddress) {
		t.Fatalf("metadata address dialled under the opt-in: %v", err)
	}
	d.allowPrivate = false
	if _, err := d.DialContext(context.Background(), "tcp", net.JoinHostPort("api.cachekit.io", port)); !errors.Is(err, ErrBlockedAddress) {
		t.Fatalf("loopback dialled without the opt-in: %v", err)
	}
}

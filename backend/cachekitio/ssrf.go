package cachekitio

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
)

// ErrUnsafeURL is wrapped by every error New returns for an API URL that the
// SSRF rules refuse (not https, credentials, a host outside the allowlist, an
// internal address, an ambiguous numeric host, ...).
var ErrUnsafeURL = errors.New("cachekitio: unsafe API URL")

// ErrBlockedAddress is wrapped by the error of an operation whose host
// resolved to an address the SSRF rules refuse (for example a public name
// that resolves to 10.0.0.1). It is a permanent failure: no retry.
var ErrBlockedAddress = errors.New("cachekitio: API host resolves to a blocked address")

// allowedHosts are the CacheKit API hosts; their subdomains are allowed too.
var allowedHosts = []string{"api.cachekit.io", "api.staging.cachekit.io"}

// addrClass says why an address is special. classPublic is the only class
// dialled by default; classPrivate is dialled only with AllowPrivateNetworks;
// everything else is never dialled.
type addrClass uint8

const (
	classPublic addrClass = iota
	classPrivate
	classBlocked
)

type prefixRule struct {
	prefix netip.Prefix
	class  addrClass
	what   string
}

// addrRules lists the special-purpose ranges (IANA IPv4/IPv6 special-purpose
// registries), most specific first where they nest. IPv4-mapped IPv6
// addresses are unmapped before the check; NAT64 and 6to4 addresses are
// checked on the IPv4 address they embed.
var addrRules = func() []prefixRule {
	rules := []struct {
		cidr  string
		class addrClass
		what  string
	}{
		{"0.0.0.0/8", classBlocked, "unspecified or this-network"},
		{"10.0.0.0/8", classPrivate, "private"},
		{"100.64.0.0/10", classPrivate, "shared (CGNAT)"},
		{"127.0.0.0/8", classPrivate, "loopback"},
		{"169.254.0.0/16", classBlocked, "link-local (cloud metadata)"},
		{"172.16.0.0/12", classPrivate, "private"},
		{"192.0.0.0/24", classBlocked, "IETF protocol assignment"},
		{"192.0.2.0/24", classBlocked, "documentation"},
		{"192.88.99.0/24", classBlocked, "6to4 relay anycast"},
		{"192.168.0.0/16", classPrivate, "private"},
		{"198.18.0.0/15", classBlocked, "benchmarking"},
		{"198.51.100.0/24", classBlocked, "documentation"},
		{"203.0.113.0/24", classBlocked, "documentation"},
		{"224.0.0.0/4", classBlocked, "multicast"},
		{"240.0.0.0/4", classBlocked, "reserved or broadcast"},
		{"::/128", classBlocked, "unspecified"},
		{"::1/128", classPrivate, "loopback"},
		{"::/96", classBlocked, "IPv4-compatible (deprecated)"},
		{"64:ff9b:1::/48", classBlocked, "local-use NAT64"},
		{"100::/64", classBlocked, "discard-only"},
		{"2001::/32", classBlocked, "Teredo"},
		{"2001:db8::/32", classBlocked, "documentation"},
		{"3fff::/20", classBlocked, "documentation"},
		{"fc00::/7", classPrivate, "unique local (ULA)"},
		{"fe80::/10", classBlocked, "link-local"},
		{"fec0::/10", classBlocked, "site-local (deprecated)"},
		{"ff00::/8", classBlocked, "multicast"},
	}
	out := make([]prefixRule, len(rules))
	for i, r := range rules {
		out[i] = prefixRule{netip.MustParsePrefix(r.cidr), r.class, r.what}
	}
	return out
}()

var (
	nat64Prefix = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour   = netip.MustParsePrefix("2002::/16")
)

// classifyAddr returns the class of a and a short reason for non-public ones.
func classifyAddr(a netip.Addr) (addrClass, string) {
	if !a.IsValid() {
		return classBlocked, "invalid"
	}
	if a.Zone() != "" {
		return classBlocked, "zoned IPv6"
	}
	a = a.Unmap()
	// Addresses that carry an IPv4 address inside: judge the inner one.
	if a.Is6() {
		b := a.As16()
		switch {
		case nat64Prefix.Contains(a):
			return classifyEmbedded(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}), "NAT64")
		case sixToFour.Contains(a):
			return classifyEmbedded(netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}), "6to4")
		}
	}
	for _, r := range addrRules {
		if r.prefix.Contains(a) {
			return r.class, r.what
		}
	}
	// Belt and braces for anything the table misses.
	switch {
	case a.IsUnspecified():
		return classBlocked, "unspecified"
	case a.IsLinkLocalUnicast(), a.IsLinkLocalMulticast():
		return classBlocked, "link-local"
	case a.IsMulticast(), a.IsInterfaceLocalMulticast():
		return classBlocked, "multicast"
	case a.IsLoopback():
		return classPrivate, "loopback"
	case a.IsPrivate():
		return classPrivate, "private"
	}
	return classPublic, ""
}

func classifyEmbedded(inner netip.Addr, via string) (addrClass, string) {
	c, why := classifyAddr(inner)
	if c == classPublic {
		return c, why
	}
	// An internal IPv4 address reached through a translation prefix is never
	// a legitimate way to reach a self-hosted server.
	return classBlocked, via + " of " + why
}

// addrAllowed reports whether a may be dialled, and why not.
func addrAllowed(a netip.Addr, allowPrivate bool) (bool, string) {
	switch c, why := classifyAddr(a); c {
	case classPublic:
		return true, ""
	case classPrivate:
		if allowPrivate {
			return true, ""
		}
		return false, why + " address (set AllowPrivateNetworks / " + EnvAllowPrivateNetworks + " for a server on an internal network)"
	default:
		return false, why + " address"
	}
}

// checkedURL is a validated API base URL.
type checkedURL struct {
	base *url.URL // scheme, host[:port], path prefix without trailing slash
	host string   // lowercased host name or canonical IP, no port, no brackets
}

// checkURL applies the SSRF rules to raw. Its errors never echo raw, which
// might hold a credential; they name the offending part.
func checkURL(raw string, allowCustomHost, allowPrivate bool) (checkedURL, error) {
	fail := func(format string, args ...any) (checkedURL, error) {
		return checkedURL{}, fmt.Errorf("%w: "+format, append([]any{ErrUnsafeURL}, args...)...)
	}
	if strings.ContainsAny(raw, " \t\r\n\\") {
		return fail("URL contains whitespace or a backslash")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fail("URL does not parse")
	}
	if !strings.EqualFold(u.Scheme, "https") {
		return fail("scheme must be https")
	}
	if u.Opaque != "" {
		return fail("URL must be absolute (https://host/...)")
	}
	if u.User != nil {
		return fail("URL must not carry credentials")
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.ContainsAny(raw, "?#") {
		return fail("URL must not carry a query or fragment")
	}
	hostname := u.Hostname()
	if hostname == "" {
		return fail("URL has no host")
	}
	if p := u.Port(); p != "" {
		if n, err := parsePort(p); err != nil || n == 0 {
			return fail("port is not a number from 1 to 65535")
		}
	}
	if u.Path != "" && (strings.Contains(u.Path, "/..") || strings.Contains(u.Path, "/./") || strings.HasSuffix(u.Path, "/.")) {
		return fail("path must not contain dot segments")
	}

	host := strings.ToLower(strings.TrimSuffix(hostname, "."))
	if strings.Contains(host, "%") {
		return fail("zoned or percent-encoded host")
	}
	if addr, err := netip.ParseAddr(host); err == nil {
		if ok, why := addrAllowed(addr, allowPrivate); !ok {
			return fail("host is a %s", why)
		}
		if !allowCustomHost {
			return fail("IP address hosts need AllowCustomHost / %s", EnvAllowCustomHost)
		}
		host = addr.String()
	} else {
		if looksNumeric(host) {
			// 127.1, 0x7f.0.0.1, 2130706433, 017700000001: forms that some
			// resolvers (inet_aton) read as IPv4 and others as names.
			return fail("host is an ambiguous numeric address")
		}
		if !validHostname(host) {
			return fail("host is not a valid DNS name")
		}
		if isLocalName(host) && !allowPrivate {
			return fail("host %q names the local machine", host)
		}
		if !allowCustomHost && !hostAllowlisted(host) {
			return fail("host %q is not api.cachekit.io, api.staging.cachekit.io or a subdomain; set AllowCustomHost / %s for a self-hosted server", host, EnvAllowCustomHost)
		}
	}
	// Requests, TLS server name and dial all use the normalised host:
	// lowercase, no trailing dot.
	hostPort := host
	if p := u.Port(); p != "" {
		hostPort = net.JoinHostPort(host, p)
	} else if strings.Contains(host, ":") {
		hostPort = "[" + host + "]"
	}
	base := &url.URL{Scheme: "https", Host: hostPort, Path: strings.TrimRight(u.Path, "/")}
	return checkedURL{base: base, host: host}, nil
}

func parsePort(p string) (int, error) {
	if len(p) > 5 {
		return 0, errors.New("too long")
	}
	n := 0
	for _, c := range p {
		if c < '0' || c > '9' {
			return 0, errors.New("not a number")
		}
		n = n*10 + int(c-'0')
	}
	if n > 65535 {
		return 0, errors.New("out of range")
	}
	return n, nil
}

func hostAllowlisted(host string) bool {
	for _, h := range allowedHosts {
		if host == h || strings.HasSuffix(host, "."+h) {
			return true
		}
	}
	return false
}

func isLocalName(host string) bool {
	return host == "localhost" || strings.HasSuffix(host, ".localhost") ||
		host == "localhost.localdomain" || host == "ip6-localhost" || host == "ip6-loopback"
}

// looksNumeric reports whether the last label is numeric (decimal, octal or
// 0x-hex), which the WHATWG URL standard treats as an IPv4 address.
func looksNumeric(host string) bool {
	last := host
	if i := strings.LastIndexByte(host, '.'); i >= 0 {
		last = host[i+1:]
	}
	if last == "" {
		return false
	}
	if strings.HasPrefix(last, "0x") {
		for _, c := range last[2:] {
			if !strings.ContainsRune("0123456789abcdef", c) {
				return false
			}
		}
		return true
	}
	for _, c := range last {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// validHostname accepts LDH labels (and underscores, which some internal
// DNS uses) of 1..63 bytes, 253 bytes in total.
func validHostname(host string) bool {
	if len(host) == 0 || len(host) > 253 {
		return false
	}
	for _, label := range strings.Split(host, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// guardedDialer dials only addresses that pass the address rules. It resolves
// the name itself and dials the checked IP, so there is no window between the
// check and the connection for DNS to answer differently (rebinding).
type guardedDialer struct {
	resolver     Resolver
	allowPrivate bool
	dialer       net.Dialer
}

func (d *guardedDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else {
		addrs, err = d.resolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return nil, err
		}
		if len(addrs) == 0 {
			return nil, &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}
		}
	}
	// All answers must pass: a name that mixes public and internal addresses
	// is refused as a whole rather than dialled on its good half.
	for _, a := range addrs {
		if ok, why := addrAllowed(a, d.allowPrivate); !ok {
			return nil, fmt.Errorf("%w: %s resolves to a %s", ErrBlockedAddress, host, why)
		}
	}
	var firstErr error
	for _, a := range addrs {
		conn, err := d.dialer.DialContext(ctx, network, net.JoinHostPort(a.Unmap().String(), port))
		if err == nil {
			return conn, nil
		}
		if firstErr == nil {
			firstErr = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, firstErr
}

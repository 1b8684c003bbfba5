package memcached

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestMurmur3KnownAnswers(t *testing.T) {
	t.Parallel()
	// Values from pymemcache's murmur3_32 (and the reference C code) with seed 0.
	tests := []struct {
		in   string
		want uint32
	}{
		{"", 0},
		{"a", 0x3c2569b2},
		{"ab", 0x9bbfd75f},
		{"abc", 0xb3dd93fa},
		{"abcd", 0x43ed676a},
		{"hello", 0x248bfa47},
		{"Hello, world!", 0xc0363e43},
		{"127.0.0.1:11211-user:42", 0x16d8bf69},
		{"The quick brown fox jumps over the lazy dog", 0x2e4ff723},
	}
	for _, tt := range tests {
		if got := murmur3([]byte(tt.in), 0); got != tt.want {
			t.Errorf("murmur3(%q) = %#x, want %#x", tt.in, got, tt.want)
		}
	}
}

func TestPickServerMatchesPymemcache(t *testing.T) {
	t.Parallel()
	// Placement computed with pymemcache's RendezvousHash for these nodes.
	nodes := []string{"10.0.0.1:11211", "10.0.0.2:11211", "10.0.0.3:11211"}
	want := map[string]string{
		"user:1": "10.0.0.2:11211", "user:2": "10.0.0.1:11211", "user:3": "10.0.0.2:11211",
		"user:4": "10.0.0.1:11211", "user:5": "10.0.0.2:11211", "user:6": "10.0.0.2:11211",
		"ns:app:func:x:args:abc:1s": "10.0.0.1:11211",
		"foo":                       "10.0.0.3:11211", "bar": "10.0.0.2:11211", "baz": "10.0.0.2:11211",
	}
	for key, server := range want {
		if got := nodes[pickServer(nodes, key)]; got != server {
			t.Errorf("pickServer(%q) = %s, want %s", key, got, server)
		}
		// The order of the list does not matter.
		rev := []string{nodes[2], nodes[1], nodes[0]}
		if got := rev[pickServer(rev, key)]; got != server {
			t.Errorf("reversed list: pickServer(%q) = %s, want %s", key, got, server)
		}
	}
}

func TestPickServerMovesOnlyRemovedServersKeys(t *testing.T) {
	t.Parallel()
	four := []string{"a:1", "b:1", "c:1", "d:1"}
	three := four[:3]
	moved := 0
	for i := range 1000 {
		k := "key:" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + time.Duration(i).String()
		before := four[pickServer(four, k)]
		after := three[pickServer(three, k)]
		if before != "d:1" && before != after {
			t.Fatalf("key %q moved from %s to %s though its server stayed", k, before, after)
		}
		if before == "d:1" {
			moved++
		}
	}
	if moved == 0 || moved == 1000 {
		t.Fatalf("%d of 1000 keys were on the removed server", moved)
	}
}

func TestWireKey(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("k", 251)
	tests := []struct {
		key    string
		plain  bool
		reason string
	}{
		{"user:42", true, "plain"},
		{strings.Repeat("k", 250), true, "exactly 250 bytes"},
		{"ns:app:func:main.get_user:args:abc:1s", true, "auto-mode key"},
		{long, false, "251 bytes"},
		{"a b", false, "space"},
		{"a\nb", false, "newline"},
		{"a\x00b", false, "NUL"},
		{"a\x7fb", false, "DEL"},
		{"käse", false, "non-ASCII"},
		{"", false, "empty"},
		{"ck#h:" + strings.Repeat("0", 64), false, "looks like a hashed key"},
		{"ck#l:x", false, "looks like a lock key"},
		{"ck#", false, "reserved prefix alone"},
		{"ck", true, "prefix of the reserved prefix"},
	}
	seen := map[string]string{}
	for _, tt := range tests {
		got := wireKey(tt.key)
		if tt.plain && got != tt.key {
			t.Errorf("%s: wireKey changed a plain key to %q", tt.reason, got)
		}
		if !tt.plain {
			if !strings.HasPrefix(got, hashedPrefix) || len(got) != len(hashedPrefix)+64 {
				t.Errorf("%s: wireKey = %q, want %s + 64 hex", tt.reason, got, hashedPrefix)
			}
		}
		if len(got) > MaxKeyLength || !printable(got) {
			t.Errorf("%s: wire key %q is not a valid memcached key", tt.reason, got)
		}
		if prev, dup := seen[got]; dup {
			t.Errorf("keys %q and %q share wire key %q", prev, tt.key, got)
		}
		seen[got] = tt.key
		lk := lockKey(tt.key)
		if len(lk) > MaxKeyLength || !printable(lk) {
			t.Errorf("%s: lock key %q is not a valid memcached key", tt.reason, lk)
		}
		if prev, dup := seen[lk]; dup {
			t.Errorf("lock of %q shares wire key %q with %q", tt.key, lk, prev)
		}
		seen[lk] = "lock:" + tt.key
	}
	// A user key equal to another key's hashed form is itself hashed again.
	h := wireKey("a b")
	if wireKey(h) == h {
		t.Errorf("a user key equal to a hashed wire key was sent unchanged")
	}
	// Data and lock hashes of the same key differ.
	if hashedKey(domainData, long) == hashedKey(domainLock, long) {
		t.Errorf("data and lock domains hash alike")
	}
}

func TestExpiration(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	tests := []struct {
		ttl     time.Duration
		want    int64
		wantErr bool
	}{
		{0, 0, false},
		{time.Nanosecond, 1, false},
		{time.Second, 1, false},
		{1500 * time.Millisecond, 2, false},
		{time.Hour, 3600, false},
		{30 * 24 * time.Hour, maxRelativeExpiry, false},
		{30*24*time.Hour + time.Second, now.Unix() + maxRelativeExpiry + 1, false},
		{31 * 24 * time.Hour, now.Unix() + 31*24*3600, false},
		{100 * 365 * 24 * time.Hour, math.MaxInt32, false},
		{time.Duration(math.MaxInt64), math.MaxInt32, false},
		{-time.Second, 0, true},
	}
	for _, tt := range tests {
		got, err := expiration(tt.ttl, now)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("expiration(%v) = %d, %v; want %d, err %v", tt.ttl, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestParseServers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{"127.0.0.1:11211", []string{"127.0.0.1:11211"}, false},
		{" a:1 , b:2 ,", []string{"a:1", "b:2"}, false},
		{"mc1", []string{"mc1:11211"}, false},
		{"[::1]:5000,::1", []string{"[::1]:5000", "[::1]:11211"}, false},
		{`["mc1:11211", "mc2:11212"]`, []string{"mc1:11211", "mc2:11212"}, false},
		{"", nil, true},
		{" , ", nil, true},
		{"a:0", nil, true},
		{"a:99999", nil, true},
		{"a:port", nil, true},
		{":11211", nil, true},
		{`["a:1",`, nil, true},
	}
	for _, tt := range tests {
		got, err := ParseServers(tt.in)
		if (err != nil) != tt.wantErr || strings.Join(got, ",") != strings.Join(tt.want, ",") {
			t.Errorf("ParseServers(%q) = %q, %v; want %q, err %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	if _, err := New(Options{}); err != ErrNoServers {
		t.Errorf("New without servers: %v, want ErrNoServers", err)
	}
	if _, err := New(Options{Servers: []string{"a:1", "a:1"}}); err == nil {
		t.Errorf("New accepted a server listed twice")
	}
	if _, err := New(Options{Servers: []string{"a:x"}}); err == nil {
		t.Errorf("New accepted a bad port")
	}
}

package cachekitio

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"7", 7 * time.Second},
		{" 12 ", 12 * time.Second},
		{"3600", time.Hour},
		{"3601", maxRetryAfter},
		{"99999999999999999999999", maxRetryAfter},
		{"-5", 0},
		{"1.5", 0},
		{"soon", 0},
		{now.Add(30 * time.Second).Format(http.TimeFormat), 30 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{now.Add(48 * time.Hour).Format(http.TimeFormat), maxRetryAfter},
		{"Fri, 02 Jan 2026 03:04:35 GMT", 30 * time.Second},
		{"Friday, 02-Jan-26 03:04:15 GMT", 10 * time.Second}, // RFC 850
		{"Fri Jan  2 03:04:25 2026", 20 * time.Second},       // asctime
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestBackoffWindow(t *testing.T) {
	t.Parallel()
	for n := 0; n < 40; n++ {
		window := RetryMaxDelay
		if n < 16 && RetryBaseDelay<<n < window {
			window = RetryBaseDelay << n
		}
		var sawLow, sawHigh bool
		for i := 0; i < 500; i++ {
			d := backoff(n)
			if d < 0 || d > window {
				t.Fatalf("backoff(%d) = %v outside [0, %v]", n, d, window)
			}
			sawLow = sawLow || d < window/2
			sawHigh = sawHigh || d >= window/2
		}
		if !sawLow || !sawHigh {
			t.Fatalf("backoff(%d) is not spread over its window (full jitter)", n)
		}
	}
}

func TestEscapeKey(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"a", "a"},
		{"ns:x", "ns%3Ax"},
		{"a b/c?d#e%f", "a%20b%2Fc%3Fd%23e%25f"},
		{"!*'()", "%21%2A%27%28%29"},
		{"\x00\xff", "%00%FF"},
		{"...", "..."},
		{"Health", "Health"},
	}
	for _, tt := range tests {
		got, err := escapeKey(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("escapeKey(%q) = %q, %v, want %q", tt.in, got, err, tt.want)
		}
	}
}

// FuzzEscapeKey: every key either is refused or encodes to one segment of
// unreserved characters and escapes that decodes back to the key.
func FuzzEscapeKey(f *testing.F) {
	for _, s := range []string{"ns:users:42", "a/b", "..", "%2e%2e", "ünï", "\x00", "health"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		esc, err := escapeKey(key)
		if err != nil {
			return
		}
		if strings.ContainsAny(esc, "/?#: ") || esc == "." || esc == ".." {
			t.Fatalf("escapeKey(%q) = %q is not a single safe segment", key, esc)
		}
		back, err := url.PathUnescape(esc)
		if err != nil || back != key {
			t.Fatalf("escapeKey(%q) = %q decodes to %q, %v", key, esc, back, err)
		}
	})
}

func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{"https://api.cachekit.io", "https://[::ffff:127.0.0.1]", "https://127.1", "https://a.b:1/x", "http://x", "https://[fe80::1%25en0]"} {
		f.Add(s, true, true)
	}
	f.Fuzz(func(t *testing.T, raw string, custom, private bool) {
		cu, err := checkURL(raw, custom, private)
		if err != nil {
			return
		}
		if cu.base.Scheme != "https" || cu.base.User != nil || cu.base.RawQuery != "" || cu.base.Fragment != "" {
			t.Fatalf("checkURL(%q) accepted %v", raw, cu.base)
		}
		if !custom && !hostAllowlisted(cu.host) {
			t.Fatalf("checkURL(%q) accepted host %q outside the allowlist", raw, cu.host)
		}
	})
}

func FuzzDecodeLockID(f *testing.F) {
	for _, s := range []string{`{"lock_id":"x"}`, `{"lock_id":null}`, `{}`, `[]`, `{"lock_id":"\u0000"}`, ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		id, err := decodeLockID(b)
		if err == nil && id != "" && !validLockID(id) {
			t.Fatalf("decodeLockID accepted %q", id)
		}
	})
}

func FuzzDecodeTTL(f *testing.F) {
	for _, s := range []string{`{"ttl":1}`, `{"ttl":null}`, `{"ttl":-1}`, `{"ttl":1e400}`, `{"ttl":"5"}`, `nul`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := decodeTTL(b)
		if err == nil && (d < 0 || d > 100*MaxTTL+time.Second) {
			t.Fatalf("decodeTTL(%q) = %v", b, d)
		}
	})
}

func FuzzParseFreshFor(f *testing.F) {
	for _, s := range []string{"0", "42", "2592000", "2592001", "4297559296", "+1", " 1", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		d, ok := parseFreshFor(v, true)
		if !ok || d < 0 || d > MaxTTL {
			t.Fatalf("parseFreshFor(%q) = %v, %v", v, d, ok)
		}
	})
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"1", "Fri, 02 Jan 2026 03:04:35 GMT", "-1", "1e9"} {
		f.Add(s)
	}
	now := time.Now()
	f.Fuzz(func(t *testing.T, v string) {
		if d := parseRetryAfter(v, now); d < 0 || d > maxRetryAfter {
			t.Fatalf("parseRetryAfter(%q) = %v", v, d)
		}
	})
}

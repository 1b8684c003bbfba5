package cachekitio

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// MaxTTL is the longest lifetime the API accepts for an entry or a lock
// (30 days, 2,592,000 seconds).
const MaxTTL = 30 * 24 * time.Hour

const maxTTLSeconds = int64(MaxTTL / time.Second)

// escapeKey percent-encodes every byte of key outside the RFC 3986
// unreserved set (A-Z a-z 0-9 - . _ ~), uppercase hex, so the key is exactly
// one path segment: "/" "?" "#" "%" ":" and every non-ASCII byte are encoded.
// It rejects the keys that would address another route.
func escapeKey(key string) (string, error) {
	switch key {
	case "", ".", "..", "health", "ttl", "lock":
		return "", ErrInvalidKey
	}
	const hex = "0123456789ABCDEF"
	n := 0
	for i := 0; i < len(key); i++ {
		if !unreserved(key[i]) {
			n++
		}
	}
	if n == 0 {
		return key, nil
	}
	buf := make([]byte, 0, len(key)+2*n)
	for i := 0; i < len(key); i++ {
		c := key[i]
		if unreserved(c) {
			buf = append(buf, c)
			continue
		}
		buf = append(buf, '%', hex[c>>4], hex[c&15])
	}
	return string(buf), nil
}

func unreserved(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// ttlSeconds converts a positive lifetime to the API's whole seconds:
// sub-second and fractional lifetimes round up (never down to 0, which the
// API reads as an error), and anything above MaxTTL or not positive is
// ErrInvalidTTL.
func ttlSeconds(d time.Duration) (int64, error) {
	if d <= 0 {
		return 0, fmt.Errorf("%w: %s is not positive", ErrInvalidTTL, d)
	}
	if d > MaxTTL {
		return 0, fmt.Errorf("%w: %s exceeds the 30-day maximum", ErrInvalidTTL, d)
	}
	s := int64(d / time.Second)
	if d%time.Second != 0 {
		s++
	}
	if s > maxTTLSeconds {
		return 0, fmt.Errorf("%w: %s exceeds the 30-day maximum", ErrInvalidTTL, d)
	}
	return s, nil
}

// holdMillis converts a lock hold to the API's timeout_ms, rounding up.
func holdMillis(d time.Duration) (int64, error) {
	if d <= 0 {
		return 0, fmt.Errorf("%w: lock hold %s is not positive", ErrInvalidTTL, d)
	}
	if d > MaxTTL {
		return 0, fmt.Errorf("%w: lock hold %s exceeds the 30-day maximum", ErrInvalidTTL, d)
	}
	ms := int64(d / time.Millisecond)
	if d%time.Millisecond != 0 {
		ms++
	}
	return ms, nil
}

// parseFreshFor reads X-CacheKit-Fresh-For: 1..7 ASCII digits, at most
// 2,592,000. Anything else counts as 0 (do not extend local service), as the
// API specification requires. ok is false when the header is absent.
func parseFreshFor(v string, present bool) (d time.Duration, ok bool) {
	if !present {
		return 0, false
	}
	if len(v) < 1 || len(v) > 7 {
		return 0, true
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, true
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n > maxTTLSeconds {
		return 0, true
	}
	return time.Duration(n) * time.Second, true
}

// hitRate formats l1/(l1+l2+misses) with three decimals.
func hitRate(s Stats) string {
	total := float64(s.L1Hits) + float64(s.L2Hits) + float64(s.Misses)
	if total == 0 {
		return "0.000"
	}
	r := float64(s.L1Hits) / total
	if math.IsNaN(r) || r < 0 {
		r = 0
	}
	return strconv.FormatFloat(r, 'f', 3, 64)
}

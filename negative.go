package cachekit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cachekit-go/cachekit/protocol/codec"
)

// Negative caching: a function that answers "not found" for an id that does
// not exist would otherwise run on every call for that id (each call a miss,
// a stampede on a hot missing key). CacheError stores such an error result
// for its own, usually shorter, TTL, in both tiers, so every replica answers
// it without running the function.
//
// What is stored is a marker document {"__cachekit_error__": "<message of
// the sentinel>"}; a hit returns the sentinel error value itself, so
// errors.Is(err, ErrNotFound) holds on every replica that configured the
// same sentinel. A marker whose message no configured sentinel has (another
// version of the program) is treated as a miss.

// CacheError caches results whose error matches sentinel (errors.Is) for
// ttl, instead of never caching errors: later calls with the same arguments
// return sentinel itself without running the function, until ttl ends or
// the entry is invalidated. It may be given several times for several
// sentinels. sentinel must be a comparable, package-level error value (its
// message identifies it in the backend); ttl must be positive, and is
// usually much shorter than the function's TTL. Other errors are never
// cached. The direct API (Get) reports such an entry as ErrTypeMismatch.
func CacheError(sentinel error, ttl time.Duration) FuncOption {
	return func(f *funcConfig) {
		switch {
		case sentinel == nil:
			f.fail("CacheError needs a non-nil error")
		case ttl <= 0:
			f.fail("CacheError TTL must be positive, got %v", ttl)
		default:
			f.negative = append(f.negative, negRule{sentinel: sentinel, ttl: backendTTL(ttl)})
		}
	}
}

type negRule struct {
	sentinel error
	ttl      time.Duration
}

// negMarker is the stored form of a cached error.
type negMarker struct {
	Err string `cachekit:"__cachekit_error__"`
}

// negPrefix starts every encoded negMarker: a one-entry map whose key is
// "__cachekit_error__".
var negPrefix = append([]byte{0x81, 0xa0 | byte(len("__cachekit_error__"))}, "__cachekit_error__"...)

// negRuleFor returns the rule that caches err, or nil.
func (p *policy) negRuleFor(err error) *negRule {
	for i := range p.negative {
		if errors.Is(err, p.negative[i].sentinel) {
			return &p.negative[i]
		}
	}
	return nil
}

// negError returns the sentinel a marker stands for, or nil when this
// policy caches no error with that message.
func (p *policy) negError(m negMarker) error {
	for _, r := range p.negative {
		if r.sentinel.Error() == m.Err {
			return r.sentinel
		}
	}
	return nil
}

// negFromDoc recognizes a marker document (an L2 read or an L1 byte-mode
// entry) and returns it.
func negFromDoc(doc []byte) (negMarker, bool) {
	var m negMarker
	if !bytes.HasPrefix(doc, negPrefix) || codec.Unmarshal(doc, &m) != nil {
		return m, false
	}
	return m, true
}

// storeNegative stores the marker of a cached error for the rule's TTL.
func (c *Cache) storeNegative(ctx context.Context, p *policy, s slot, r *negRule, gen generation) {
	np := *p
	np.ttl, np.swr = r.ttl, 0
	_ = c.store(ctx, &np, s, negMarker{Err: r.sentinel.Error()}, gen, false, "")
}

// negHit turns a value read from either tier into the cached error it
// stands for: ok reports a marker, err is its sentinel (nil: unknown, a miss).
func negHit(p *policy, v any, doc []byte) (err error, ok bool) {
	if len(p.negative) == 0 {
		return nil, false
	}
	m, isMarker := v.(negMarker)
	if !isMarker && doc != nil {
		m, isMarker = negFromDoc(doc)
	}
	if !isMarker {
		return nil, false
	}
	return p.negError(m), true
}

// checkNegative refuses sentinels whose messages collide: their markers
// would be indistinguishable.
func checkNegative(rules []negRule) error {
	seen := map[string]bool{}
	for _, r := range rules {
		msg := r.sentinel.Error()
		if seen[msg] {
			return fmt.Errorf("%w: two CacheError sentinels share the message %q", ErrInvalidOption, msg)
		}
		seen[msg] = true
	}
	return nil
}

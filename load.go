package cachekit

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"
)

// skip reports whether a call must bypass the cache (and counts it).
func (c *Cache) skip(ctx context.Context, p *policy) bool {
	if p.bypass || c.closed.Load() || isBypassed(ctx) {
		p.stats.add(bypassed)
		c.observeCall(ctx, p, CallBypass, time.Time{})
		return true
	}
	return false
}

// Load returns the value cached under key, or runs loader, caches its result
// and returns it: read-through for code that has no function to wrap. key is
// used exactly as given (no namespace or prefix is added). Concurrent Loads of
// one key run loader once (see the package documentation for the stampede,
// fail-open and stale-while-revalidate rules, which are those of the
// wrappers). opts may set TTL, StaleWhileRevalidate, L1, BypassAlways and
// Interop (which selects the interop value format; its names are ignored);
// Name, Namespace and KeyFunc do not apply. With a multi-tenant encryption
// the entry is the calling tenant's (see Encryption).
func Load[R any](ctx context.Context, c *Cache, key string, loader func(context.Context) (R, error), opts ...FuncOption) (R, error) {
	var zero R
	p := c.def
	if len(opts) > 0 {
		var err error
		if p, err = c.loadPolicy(opts); err != nil {
			return zero, err
		}
	}
	if err := p.checkResult(reflect.TypeFor[R]()); err != nil {
		return zero, err
	}
	if c.skip(ctx, p) {
		return loader(ctx)
	}
	s, err := c.slot(ctx, key)
	if err != nil {
		return zero, err
	}
	return get(ctx, c, p, s, loader)
}

func (c *Cache) loadPolicy(opts []FuncOption) (*policy, error) {
	var fc funcConfig
	for _, o := range opts {
		if o != nil {
			o(&fc)
		}
	}
	return c.newPolicy(&fc, 0, "", &c.warnLoad, stats{cache: &c.counters})
}

// Get returns the value stored under key, decoded into R. Unlike Load and
// the wrappers, Get reports backend and decoding errors instead of treating
// them as misses. found is false for a missing key. An entry that fails
// decryption follows the encryption's failure policy: by default it is
// deleted and reported as missing; a fail-closed cache returns the error
// (matching ErrDecrypt) and keeps the entry.
func Get[R any](ctx context.Context, c *Cache, key string) (v R, found bool, err error) {
	var zero R
	if c.closed.Load() {
		return zero, false, ErrClosed
	}
	p := c.def
	if err := p.checkResult(reflect.TypeFor[R]()); err != nil {
		return zero, false, err
	}
	s, err := c.slot(ctx, key)
	if err != nil {
		return zero, false, err
	}
	key = s.key
	switch r, h := lookupTyped[R](c, p, key); h {
	case fresh, stale:
		return r, true, nil
	case wrongType:
		return zero, false, typeMismatch[R](key, nil)
	}
	if c.be == nil {
		p.stats.add(misses)
		return zero, false, nil
	}
	x, _, found, err := c.readL2(ctx, p, s, c.generation(key), decoderFor[R](c, p), readBudget{timeout: c.guard.opTimeout})
	if err != nil || !found {
		if err == nil {
			p.stats.add(misses)
		}
		if errors.Is(err, errUndecodable) && isTypeMismatch(err) {
			return zero, false, typeMismatch[R](key, err)
		}
		return zero, false, err
	}
	v, _ = asR[R](x)
	p.stats.l2Hit()
	return v, true, nil
}

// Set stores value under key (used as given) in both tiers, in the auto-mode
// format (encrypted when encryption is on). ttl 0 means the cache's default
// TTL, NoExpiry no expiry. It returns serialization errors, ErrValueTooLarge,
// tenant errors and backend errors.
func (c *Cache) Set(ctx context.Context, key string, value any, ttl time.Duration) error {
	if c.closed.Load() {
		return ErrClosed
	}
	s, err := c.slot(ctx, key)
	if err != nil {
		return err
	}
	p := c.def
	if err := p.checkValue(value); err != nil {
		return err
	}
	switch {
	case ttl < 0 && ttl != NoExpiry:
		return fmt.Errorf("%w: negative TTL %v", ErrInvalidOption, ttl)
	case ttl != 0:
		cp := *p
		cp.ttl = backendTTL(ttl)
		p = &cp
	}
	return c.store(ctx, p, s, value, c.generation(s.key), true, "")
}

// Delete removes key (used as given) from both tiers and reports whether it
// was present in either. A load of key that is running when Delete is called
// does not write its result afterwards.
func (c *Cache) Delete(ctx context.Context, key string) (bool, error) {
	if c.closed.Load() {
		return false, ErrClosed
	}
	s, err := c.slot(ctx, key)
	if err != nil {
		return false, err
	}
	return c.invalidate(ctx, c.def, s.key)
}

// Exists reports whether key (used as given) is cached in either tier.
func (c *Cache) Exists(ctx context.Context, key string) (bool, error) {
	if c.closed.Load() {
		return false, ErrClosed
	}
	s, err := c.slot(ctx, key)
	if err != nil {
		return false, err
	}
	key = s.key
	if _, ok := c.lookupL1(c.def, key); ok {
		return true, nil
	}
	if c.be == nil {
		return false, nil
	}
	var ok bool
	err = c.do(ctx, c.def, "exists", key, c.guard.opTimeout, false, func(ctx context.Context) error {
		var err error
		ok, err = c.be.Exists(ctx, key)
		return err
	})
	return ok, err
}

package cachekit

import (
	"context"
	"fmt"
	"reflect"
	"time"
)

// hitKind is the outcome of an L1 lookup.
type hitKind uint8

const (
	miss hitKind = iota
	fresh
	stale
	wrongType // an entry of another type that does not decode into R
)

// lookup answers from L1 when it can: fresh, stale or miss (an entry of
// another type is a miss here; the generated Call methods use it). It does
// not allocate for the default (decoded-value) L1.
func lookup[R any](c *Cache, p *policy, key string) (R, hitKind) {
	r, h := lookupTyped[R](c, p, key)
	if h == wrongType {
		return r, miss
	}
	return r, h
}

// lookupTyped is lookup that also reports wrongType: an entry of another
// type that does not decode into R (Get and Load report it).
func lookupTyped[R any](c *Cache, p *policy, key string) (R, hitKind) {
	var zero R
	e, ok := c.lookupL1(p, key)
	if !ok {
		return zero, miss
	}
	var r R
	if c.cfg.l1Bytes {
		r, ok = decodeDoc[R](p, e.doc)
	} else if r, ok = asR[R](e.val); !ok {
		r, ok = convertL1[R](p, e.val)
	}
	if !ok {
		return zero, wrongType
	}
	p.stats.l1Hit()
	if e.refreshAt != 0 && c.nowNano() >= e.refreshAt {
		return r, stale
	}
	return r, fresh
}

// decodeDoc decodes an L1 byte-mode entry (kept out of lookup so that the
// decoded-value path does not heap-allocate its result).
func decodeDoc[R any](p *policy, doc []byte) (R, bool) {
	var r R
	if err := p.pipe.Unmarshal(doc, &r); err != nil {
		var zero R
		return zero, false
	}
	return r, true
}

func asR[R any](x any) (R, bool) {
	if x == nil {
		// A stored nil is a value only of types that can be nil.
		var zero R
		switch reflect.TypeFor[R]().Kind() {
		case reflect.Pointer, reflect.Interface, reflect.Slice, reflect.Map:
			return zero, true
		}
		return zero, false
	}
	r, ok := x.(R)
	return r, ok
}

func anyLoader[R any](fn func(context.Context) (R, error)) func(context.Context) (any, error) {
	return func(ctx context.Context) (any, error) {
		r, err := fn(ctx)
		return r, err
	}
}

// fetch is the path after an L1 miss: one shared, detached load per key
// (backend read, else the function), whose result every waiter receives.
func fetch[R any](ctx context.Context, c *Cache, p *policy, s slot, fn func(context.Context) (R, error)) (R, error) {
	var zero R
	key := s.key
	load := anyLoader(fn)
	decode := func(doc []byte) (any, error) {
		var r R
		err := p.pipe.Unmarshal(doc, &r)
		return r, err
	}
	hitL1 := func(e l1Entry) (any, bool) {
		if nerr, neg := negHit(p, e.val, e.doc); neg && nerr != nil {
			return negMarker{Err: nerr.Error()}, true
		}
		if c.cfg.l1Bytes {
			return decodeDoc[R](p, e.doc)
		}
		if r, ok := asR[R](e.val); ok {
			return r, true
		}
		return convertL1[R](p, e.val)
	}
	res, shared, err := c.flights.Do(ctx, key, c.cfg.loaderTimeout, func(ctx context.Context) (loaded, error) {
		if !c.track() { // closed meanwhile: run uncached
			v, err := load(ctx)
			return loaded{val: v}, err
		}
		defer c.wg.Done()
		return c.fill(ctx, p, s, hitL1, load, decode)
	})
	// A caller that joined another caller's run of the function is counted
	// as coalesced, not as a miss: one run is one miss.
	missed := misses
	if shared {
		missed = coalesced
	}
	if err != nil {
		p.stats.add(missed)
		return zero, err
	}
	if m, neg := res.val.(negMarker); neg && len(p.negative) > 0 {
		if res.fromL1 {
			p.stats.l1Hit()
		} else {
			p.stats.l2Hit()
		}
		return zero, p.negError(m)
	}
	r, ok := asR[R](res.val)
	if !ok {
		p.stats.add(missed)
		return zero, fmt.Errorf("%w: key %q holds %T, want %T", ErrTypeMismatch, key, res.val, zero)
	}
	switch {
	case res.fromL1:
		p.stats.l1Hit()
	case res.fromL2:
		p.stats.l2Hit()
	default:
		p.stats.add(missed)
	}
	if res.stale {
		c.refresh(ctx, p, s, load)
	}
	return r, nil
}

// get is the whole read-through path for one entry.
func get[R any](ctx context.Context, c *Cache, p *policy, s slot, fn func(context.Context) (R, error)) (R, error) {
	if len(p.negative) > 0 {
		if e, ok := c.lookupL1(p, s.key); ok {
			if nerr, neg := negHit(p, e.val, e.doc); neg && nerr != nil {
				p.stats.l1Hit()
				var zero R
				return zero, nerr
			}
		}
	}
	r, h := lookupTyped[R](c, p, s.key)
	if h == wrongType && p.strictTypes() {
		return r, typeMismatch[R](s.key, nil)
	}
	if h == fresh || h == stale {
		if h == stale {
			c.refresh(ctx, p, s, anyLoader(fn))
		}
		return r, nil
	}
	return fetch(ctx, c, p, s, fn)
}

// skip reports whether a call must bypass the cache (and counts it).
func (c *Cache) skip(ctx context.Context, p *policy) bool {
	if p.bypass || c.closed.Load() || isBypassed(ctx) {
		p.stats.add(bypassed)
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
	gen := c.generation(key)
	start := time.Now()
	data, found, err := c.be.Get(ctx, key)
	p.stats.backendOp(time.Since(start))
	if err != nil {
		p.stats.add(backendErrors)
		return zero, false, err
	}
	if !found {
		p.stats.add(misses)
		return zero, false, nil
	}
	doc, err := p.pipeFor(s).Open(s.logical, data)
	decoded := err == nil
	if decoded {
		err = p.pipe.Unmarshal(doc, &v)
	}
	if err != nil {
		p.stats.add(decodeErrors)
		if rej := c.rejected(err, decoded); rej != nil {
			if err := c.reject(ctx, p, key, rej); err != nil {
				return zero, false, err
			}
			p.stats.add(misses)
			return zero, false, nil
		}
		if decoded && isTypeMismatch(err) {
			return zero, false, typeMismatch[R](key, err)
		}
		return zero, false, err
	}
	if exp, refreshAt, ok := c.l2Expiry(ctx, p, key); ok && p.useL1 {
		c.putL1(p, key, v, doc, exp, refreshAt, gen)
	}
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
	return c.store(ctx, p, s, value, c.generation(s.key))
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
	start := time.Now()
	ok, err := c.be.Exists(ctx, key)
	c.def.stats.backendOp(time.Since(start))
	if err != nil {
		c.def.stats.add(backendErrors)
	}
	return ok, err
}

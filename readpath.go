package cachekit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"time"

	"github.com/cachekit-go/cachekit/internal/secure"
)

// hitKind is the outcome of an L1 lookup.
type hitKind uint8

const (
	miss hitKind = iota
	fresh
	stale
	wrongType // an entry of another type that does not decode into R
)

// lookup answers a cached call from L1 when it can (an entry of another type
// is a miss here; the generated Call methods use it), and reports a hit to
// the Observer. It does not allocate for the default (decoded-value) L1.
func lookup[R any](ctx context.Context, c *Cache, p *policy, s slot) (R, hitKind) {
	start := c.callStart()
	r, h := lookupSlot[R](c, p, s)
	switch h {
	case fresh:
		c.observeCall(ctx, p, CallL1Hit, start)
	case stale:
		c.observeCall(ctx, p, CallStaleHit, start)
	case wrongType:
		return r, miss
	}
	return r, h
}

// lookupTyped is lookup that also reports wrongType: an entry of another
// type that does not decode into R (Get and Load report it).
func lookupTyped[R any](c *Cache, p *policy, key string) (R, hitKind) {
	return lookupSlot[R](c, p, slot{key: key})
}

// lookupSlot is lookupTyped for a slot, which may carry the key's L1 hash.
func lookupSlot[R any](c *Cache, p *policy, s slot) (R, hitKind) {
	var zero R
	e := c.lookupL1Ref(p, s)
	if e == nil {
		return zero, miss
	}
	var (
		r  R
		ok bool
	)
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

// docDecoder decodes a MessagePack document into the caller's type, boxed.
type docDecoder interface {
	decode(doc []byte) (any, error)
}

// decodeAs is the docDecoder of R (a single pointer: passing it as an
// interface does not allocate).
type decodeAs[R any] struct{ p *policy }

func (d decodeAs[R]) decode(doc []byte) (any, error) {
	var r R
	err := d.p.pipe.Unmarshal(doc, &r)
	return r, err
}

// decodeShared is decodeAs for a document that nothing else keeps (no L1
// in byte mode): []byte values in the result share the document's memory
// instead of copying it.
type decodeShared[R any] struct{ p *policy }

func (d decodeShared[R]) decode(doc []byte) (any, error) {
	var r R
	err := d.p.pipe.UnmarshalShared(doc, &r)
	return r, err
}

// decoderFor is the docDecoder of R for c: shared unless L1 keeps
// documents.
func decoderFor[R any](c *Cache, p *policy) docDecoder {
	if c.cfg.l1Bytes {
		return decodeAs[R]{p}
	}
	return decodeShared[R]{p}
}

// loader is what the path after an L1 miss needs from its caller: the
// function, and the conversions of what it finds into the caller's type.
type loader interface {
	docDecoder
	// load runs the function.
	load(ctx context.Context) (any, error)
	// fromL1 converts an L1 entry into the caller's type (false: unusable).
	fromL1(e l1Entry) (any, bool)
}

// caller is the function of a miss with its arguments bound: a FuncN and
// its arguments as a struct (the generated boundN), which travels inside
// missLoad where a closure would cost an allocation of its own, or a plain
// function (plainFunc).
type caller[R any] interface {
	call(ctx context.Context) (R, error)
}

// plainFunc is a function as a caller.
type plainFunc[R any] func(context.Context) (R, error)

func (f plainFunc[R]) call(ctx context.Context) (R, error) { return f(ctx) }

// missLoad is one miss of a call returning R: the loader, and the shared
// load itself (flight.Loader), in one allocation (closures for each would
// cost one each).
type missLoad[R any, F caller[R]] struct {
	c    *Cache
	p    *policy
	s    slot
	fn   F
	rb   readBudget
	slot bool // holds a slot of the bound on detached loads, released by Load
}

func (m *missLoad[R, F]) load(ctx context.Context) (any, error) {
	r, err := m.fn.call(ctx)
	return r, err
}

func (m *missLoad[R, F]) decode(doc []byte) (any, error) {
	return decoderFor[R](m.c, m.p).decode(doc)
}

func (m *missLoad[R, F]) fromL1(e l1Entry) (any, bool) {
	p := m.p
	if nerr, neg := negHit(p, e.val, e.doc); neg && nerr != nil {
		return negMarker{Err: nerr.Error()}, true
	}
	if m.c.cfg.l1Bytes {
		return decodeDoc[R](p, e.doc)
	}
	if r, ok := asR[R](e.val); ok {
		return r, true
	}
	return convertL1[R](p, e.val)
}

// Load is the shared load (flight.Loader): fill, registered with Close.
func (m *missLoad[R, F]) Load(ctx context.Context) (loaded, error) {
	c := m.c
	if m.slot {
		defer c.guard.loads.Release()
	}
	if !c.track() { // closed meanwhile: run uncached
		v, err := m.load(ctx)
		return loaded{val: v}, err
	}
	defer c.wg.Done()
	return c.fill(ctx, m.p, m.s, m, m.rb)
}

// fetch is the path after an L1 miss: one shared, detached load per key
// (backend read, else the function), whose result every waiter receives.
// Over MaxDetachedLoads the caller runs the load itself, on its own
// context, so that loads whose callers gave up cannot pile up.
func fetch[R any, F caller[R]](ctx context.Context, c *Cache, p *policy, s slot, fn F) (R, error) {
	var zero R
	start := c.callStart()
	key := s.key
	m := &missLoad[R, F]{c: c, p: p, s: s, fn: fn, rb: c.missBudget(ctx)}
	var (
		res    loaded
		err    error
		shared bool
	)
	if slot, ok := c.detachedSlot(key); !ok {
		res, err = c.fill(ctx, p, s, m, m.rb)
	} else {
		m.slot = slot
		res, shared, err = c.flights.DoLoader(ctx, key, c.cfg.loaderTimeout, m)
		if slot && shared { // joined another caller's load: ours never ran
			c.guard.loads.Release()
		}
	}
	// A caller that joined another caller's run of the function is counted
	// as coalesced, not as a miss: one run is one miss.
	missed := misses
	if shared {
		missed = coalesced
	}
	if err != nil {
		p.stats.add(missed)
		c.observeCall(ctx, p, CallError, start)
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
		c.observeCall(ctx, p, CallError, start)
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
	if c.obs != nil {
		c.observeCall(ctx, p, fetchResult(res, shared), start)
	}
	if res.stale {
		c.refresh(ctx, p, s, m.load)
	}
	return r, nil
}

// fetchResult is the CallResult of a successful fetch.
func fetchResult(res loaded, shared bool) CallResult {
	switch {
	case shared:
		return CallCoalesced
	case res.stale:
		return CallStaleHit
	case res.fromL1:
		return CallL1Hit
	case res.fromL2:
		return CallL2Hit
	}
	return CallMiss
}

// detachedSlot decides whether a miss of key may run as a shared detached
// load: ok is false when it must run in the caller (MaxDetachedLoads are
// running and none for key is); slot reports that a slot of the bound was
// taken (the load that runs releases it).
func (c *Cache) detachedSlot(key string) (slot, ok bool) {
	if c.guard == nil || c.flights.InFlight(key) {
		return false, true
	}
	if !c.guard.loads.TryAcquire() {
		return false, false
	}
	return true, true
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
	start := c.callStart()
	r, h := lookupTyped[R](c, p, s.key)
	if h == wrongType && p.strictTypes() {
		return r, typeMismatch[R](s.key, nil)
	}
	if h == fresh || h == stale {
		if h == fresh {
			c.observeCall(ctx, p, CallL1Hit, start)
		} else {
			c.observeCall(ctx, p, CallStaleHit, start)
		}
		if h == stale {
			c.refresh(ctx, p, s, anyLoader(fn))
		}
		return r, nil
	}
	return fetch[R](ctx, c, p, s, plainFunc[R](fn))
}

// lookupL1 returns the L1 entry for key if the policy uses L1.
func (c *Cache) lookupL1(p *policy, key string) (l1Entry, bool) {
	if !p.useL1 {
		return l1Entry{}, false
	}
	return c.l1.Get(key)
}

// lookupL1Ref is lookupL1 that uses the slot's L1 hash when it has one and
// does not copy the entry (nil: none). The entry is L1's: read-only.
func (c *Cache) lookupL1Ref(p *policy, s slot) *l1Entry {
	if !p.useL1 {
		return nil
	}
	h := s.l1hash
	if !s.hashed {
		h = c.l1.Hash(s.key)
	}
	if it := c.l1.Ref(h, s.key); it != nil {
		return &it.Val
	}
	return nil
}

// fill is the body of a shared load: read the backend, else run the function
// and store its result. It runs detached from the callers (flight.Group), or
// in the caller over MaxDetachedLoads.
func (c *Cache) fill(ctx context.Context, p *policy, s slot, l loader, rb readBudget) (loaded, error) {
	key := s.key
	gen := c.generation(key)
	// A caller that missed L1 just before the previous shared load of key
	// stored its result and left the flight group starts a new shared load:
	// answer it from L1 rather than read the backend or run the function a
	// second time.
	if e, ok := c.lookupL1(p, key); ok {
		if v, ok := l.fromL1(e); ok {
			return loaded{val: v, fromL1: true, stale: e.refreshAt != 0 && c.nowNano() >= e.refreshAt}, nil
		}
	}
	if c.be == nil {
		return c.compute(ctx, p, s, gen, l, "")
	}
	res, found, bad, err := c.fromL2(ctx, p, s, gen, l, rb)
	if found || err != nil {
		return res, err
	}
	if c.guard.locker == nil || res.failed || !p.worthLocking() {
		// No lock; or the backend just failed us (or was skipped), and
		// asking it for a lock would only add another budget to the call;
		// or the function is cheaper than the lock's round trips.
		return c.compute(ctx, p, s, gen, l, "")
	}
	// An undecodable entry is not read again under the lock: it is
	// about to be overwritten, and counting it twice would mislead.
	return c.fillLocked(ctx, p, s, gen, l, rb, !bad)
}

// fromL2 is readL2 for the miss path: backend errors (res.failed) and
// undecodable entries (bad) are misses (the function runs); only a
// fail-closed rejection is an error.
func (c *Cache) fromL2(ctx context.Context, p *policy, s slot, gen generation, d docDecoder, rb readBudget) (res loaded, found, bad bool, err error) {
	v, stale, found, err := c.readL2(ctx, p, s, gen, d, rb)
	switch {
	case found:
		return loaded{val: v, fromL2: true, stale: stale}, true, false, nil
	case errors.Is(err, errFailClosed):
		return loaded{}, false, false, err
	case errors.Is(err, errUndecodable) && p.strictTypes() && isTypeMismatch(err):
		// Load's key is the caller's: an entry of another type is reported,
		// never overwritten.
		return loaded{}, false, false, fmt.Errorf("%w: key %q: %w", ErrTypeMismatch, s.key, err)
	case errors.Is(err, errUndecodable):
		c.logUndecodable.warn(c, "cachekit: stored entry cannot be decoded; recomputing it", "key", s.key, "err", err)
		return loaded{}, false, true, nil
	case err != nil:
		return loaded{failed: true}, false, false, nil
	}
	return loaded{}, false, false, nil
}

// compute runs the function and stores its result: L1 at once, the backend
// through the write-behind queue, after which the stampede lock lockID (if
// any) is released. The caller gets the result without waiting for the
// backend.
func (c *Cache) compute(ctx context.Context, p *policy, s slot, gen generation, l loader, lockID string) (loaded, error) {
	stored := false
	if lockID != "" {
		defer func() {
			if !stored { // the function failed or panicked: let others try
				c.unlockLater(ctx, p, s.key, lockID)
			}
		}()
	}
	// The function's run time is wanted only to decide on the stampede
	// lock (worthLocking); without a lock it would cost two clock reads.
	timed := c.guard != nil && c.guard.locker != nil
	var start time.Time
	if timed {
		start = time.Now()
	}
	v, err := l.load(ctx)
	if err != nil {
		if r := p.negRuleFor(err); r != nil {
			c.storeNegative(ctx, p, s, r, gen)
		}
		return loaded{}, err
	}
	if timed {
		p.observeLoad(time.Since(start))
	}
	stored = true
	_ = c.store(ctx, p, s, v, gen, false, lockID)
	return loaded{val: v}, nil
}

// errFailClosed marks an entry that failed decryption under a fail-closed
// policy; errUndecodable an entry that cannot be decoded (corrupt, foreign
// serializer, wrong type). readL2 wraps its errors with them.
var (
	errFailClosed  = errors.New("fail closed")
	errUndecodable = errors.New("undecodable")
)

// readError is an error of readL2 with its kind (errFailClosed or
// errUndecodable); it reads as the underlying error.
type readError struct{ err, kind error }

func (e *readError) Error() string   { return e.err.Error() }
func (e *readError) Unwrap() []error { return []error{e.err, e.kind} }

// readL2 is the one backend read of the read path (the shared load and Get):
// read key, open and decode the entry, and fill L1 with it unless the
// generation moved since gen. found is false for a missing entry, and for an
// entry that failed decryption and was evicted. err is a backend error
// (already counted and logged), an undecodable entry (errUndecodable, not
// logged) or a rejection under a fail-closed policy (errFailClosed).
func (c *Cache) readL2(ctx context.Context, p *policy, s slot, gen generation, d docDecoder, rb readBudget) (v any, stale, found bool, err error) {
	key := s.key
	data, rem, known, found, err := c.read(ctx, p, key, rb.timeout, rb.capped)
	if err != nil || !found {
		return nil, false, false, err
	}
	// The backend's result is ours (backend.Backend.Get): it is decrypted
	// in place, and the document is only ever used through the decoded
	// value or L1.
	doc, err := p.pipeFor(s).OpenOwned(s.logical, data)
	decoded := err == nil
	if nerr, neg := negHit(p, nil, doc); decoded && neg && nerr != nil {
		v = negMarker{Err: nerr.Error()} // a cached error (CacheError)
	} else if decoded {
		v, err = d.decode(doc)
	}
	if err != nil {
		p.stats.add(decodeErrors)
		if rej := c.rejected(err, decoded); rej != nil {
			if err := c.reject(ctx, p, key, rej); err != nil {
				return nil, false, false, &readError{err, errFailClosed}
			}
			return nil, false, false, nil
		}
		return nil, false, false, &readError{err, errUndecodable}
	}
	exp, refreshAt := c.l2Expiry(p, rem, known)
	if p.useL1 {
		c.putL1(p, key, v, doc, exp, refreshAt, gen)
	}
	return v, refreshAt != 0 && c.nowNano() >= refreshAt, true, nil
}

// reject applies the failure policy to an entry that failed decryption: fail
// closed returns the error and leaves the entry as evidence; the default
// evicts it (the caller then recomputes) and returns nil.
func (c *Cache) reject(ctx context.Context, p *policy, key string, rej error) error {
	reason, _ := secure.ReasonOf(rej)
	if c.enc.FailClosed() {
		c.logDecrypt.warn(c, "cachekit: stored entry failed decryption; failing closed and keeping the entry", "key", key, "reason", reason.String())
		return fmt.Errorf("cachekit: entry %q: %w", key, rej)
	}
	c.logDecrypt.warn(c, "cachekit: stored entry failed decryption; evicting and recomputing it", "key", key, "reason", reason.String())
	_ = c.do(ctx, p, "delete", key, c.guard.opTimeout, false, func(ctx context.Context) error {
		_, err := c.be.Delete(ctx, key)
		return err
	})
	return nil
}

// l2Expiry decides how long an entry just read from the backend may live in
// L1 and when it becomes stale. When the backend told its remaining
// lifetime rem (known), the L1 copy expires with the backend entry and the
// refresh point follows the entry's age; otherwise the copy lives min(ttl,
// L1 max TTL) and the entry is taken as fresh.
func (c *Cache) l2Expiry(p *policy, rem time.Duration, known bool) (exp, refreshAt int64) {
	now := c.nowNano()
	switch {
	case !known:
		life := c.cfg.l1MaxTTL
		if p.ttl > 0 {
			life = min(life, p.ttl)
		}
		return after(now, life), c.refreshPoint(p, now)
	case rem <= 0:
		// The backend entry never expires (someone wrote it without a TTL):
		// keep the L1 copy for the function's TTL, as if this process had
		// written it, so that a delete by another process is seen within
		// one TTL (never, for NoExpiry functions).
		if p.ttl > 0 {
			exp = after(now, p.ttl)
		}
		return exp, c.refreshPoint(p, now)
	}
	exp = after(now, rem)
	if p.swr > 0 && p.ttl > 0 {
		age := max(p.ttl-rem, 0)
		if d := c.jittered(p) - age; d > 0 {
			refreshAt = after(now, d)
		} else {
			refreshAt = now - 1 // already due
		}
	}
	return exp, refreshAt
}

// after returns now + d in Unix nanoseconds for d > 0, or 0 ("never", for
// expiries and refresh points) when the sum does not fit in an int64
// (beyond the year 2262: a TTL of centuries means no expiry).
func after(now int64, d time.Duration) int64 {
	if int64(d) > math.MaxInt64-now {
		return 0
	}
	return now + int64(d)
}

// jittered returns the age at which an entry of p becomes stale: ttl*ratio
// +/- the refresh jitter, at least 1ns, and never more than halfway from the
// unjittered point to the expiry, so that jitter cannot push the refresh
// point past the TTL (with a ratio near 1 it otherwise would, and such an
// entry would expire instead of being refreshed).
func (c *Cache) jittered(p *policy) time.Duration {
	base := float64(p.ttl) * p.swr
	d := base
	if j := c.cfg.jitter; j > 0 {
		d *= 1 + j*(2*rand.Float64()-1)
	}
	d = min(d, base+(float64(p.ttl)-base)/2)
	if d >= math.MaxInt64 { // float64(MaxInt64) is 2^63, which does not convert
		return math.MaxInt64
	}
	return time.Duration(max(d, 1))
}

func (c *Cache) refreshPoint(p *policy, now int64) int64 {
	if p.swr <= 0 || p.ttl <= 0 {
		return 0
	}
	return after(now, c.jittered(p))
}

func (c *Cache) l1Value(p *policy, v any, doc []byte, refreshAt int64) l1Entry {
	if c.cfg.l1Bytes {
		return l1Entry{doc: doc, refreshAt: refreshAt, owner: p.owner}
	}
	return l1Entry{val: v, refreshAt: refreshAt, owner: p.owner}
}

func (c *Cache) putL1(p *policy, key string, v any, doc []byte, exp, refreshAt int64, gen generation) {
	s := c.stripeOf(key)
	s.mu.RLock()
	defer s.mu.RUnlock()
	if !c.current(s, gen) {
		p.stats.add(discarded)
		return
	}
	c.setL1(p, s, key, c.l1Value(p, v, doc, refreshAt), c.l1Cost(v, doc), exp, c.nowNano(), gen)
}

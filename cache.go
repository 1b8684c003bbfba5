package cachekit

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cachekit-go/cachekit/backend"
	"github.com/cachekit-go/cachekit/internal/clock"
	"github.com/cachekit-go/cachekit/internal/entry"
	"github.com/cachekit-go/cachekit/internal/flight"
	"github.com/cachekit-go/cachekit/internal/l1"
	"github.com/cachekit-go/cachekit/internal/secure"
)

// numStripes is the number of invalidation stripes (generation counters and
// locks) keys are hashed onto; see Cache.invalidate.
const numStripes = 256

// Cache is a two-tier cache: an in-process tier (L1) in front of an optional
// shared backend (L2). Create it with New or FromEnv, wrap functions with
// Wrap0..Wrap4, or use Load and the direct API. It is safe for concurrent use.
type Cache struct {
	cfg       config
	be        backend.Backend // nil: in-process only
	rawBE     backend.Backend // as configured (before WithTimeout), closed by Close when owned
	inspector backend.TTLInspector
	l1        *l1.Cache[l1Entry] // nil: disabled
	ttl       time.Duration      // resolved default TTL (NoExpiry possible)
	pipe      entry.Pipeline
	enc       *secure.Policy // nil: encryption off
	log       *slog.Logger
	clk       clock.Clock
	unixNano  func() int64 // clk in Unix nanoseconds (clock.UnixNanoFunc: cheap for the real clock)
	flights   flight.Group[loaded]
	sem       chan struct{}
	closeMu   sync.RWMutex
	closed    atomic.Bool
	wg        sync.WaitGroup
	seed      maphash.Seed
	stripes   [numStripes]stripe
	epoch     atomic.Uint64
	counters  counters
	def       *policy
	nextID    atomic.Uint64
	warnLoad  warnings
}

type stripe struct {
	mu  sync.RWMutex
	gen atomic.Uint64
}

type generation struct{ stripe, epoch uint64 }

// l1Entry is what the in-process tier holds for a key: the decoded value (the
// default) or the MessagePack document (WithL1Bytes), the stale-while-
// revalidate refresh point and the wrapper that owns it (for Clear).
type l1Entry struct {
	val       any
	doc       []byte
	refreshAt int64 // Unix nanoseconds; 0 = never
	owner     uint64
}

// l1BoxOverhead is what a decoded L1 value holds besides its encoded size,
// which is what an entry is charged: the copy of the value that storing it
// in an interface allocates (a slice or string header, a small struct). A
// byte-mode entry holds only its document.
func l1BoxOverhead(bytesMode bool) int64 {
	if bytesMode {
		return 0
	}
	return 32
}

// loaded is the result of a shared load.
type loaded struct {
	val    any
	fromL1 bool // found in L1 by the shared load (another load just stored it)
	fromL2 bool
	stale  bool
}

// warnings holds the warn-once latches of one wrapper (or of Load).
type warnings struct{ args, value, size sync.Once }

// policy is the resolved per-function behaviour.
type policy struct {
	ttl    time.Duration // backend TTL; 0 = no expiry
	swr    float64
	useL1  bool
	pipe   entry.Pipeline
	bypass bool
	stats  stats
	owner  uint64
	name   string
	warn   *warnings
}

// New returns a Cache configured by opts. With no options it caches in
// process only: no backend, no network, nothing read from the environment.
func New(opts ...Option) (*Cache, error) {
	cfg := defaultConfig()
	Options(opts...)(&cfg)
	return newCache(cfg)
}

func newCache(cfg config) (*Cache, error) {
	if len(cfg.errs) > 0 {
		return nil, errors.Join(cfg.errs...)
	}
	log := cfg.logger
	if log == nil {
		log = slog.Default()
	}
	enc, encFromEnv, err := newEncryption(&cfg, log)
	if err != nil {
		return nil, err
	}
	if cfg.backendFactory != nil {
		b, err := cfg.backendFactory()
		if err != nil {
			return nil, &ConfigError{Reason: "cannot create the backend", Err: err}
		}
		cfg.backend = b
	}
	c := &Cache{
		cfg:      cfg,
		rawBE:    cfg.backend,
		be:       cfg.backend,
		ttl:      cfg.ttl,
		enc:      enc,
		log:      log,
		clk:      cfg.clock,
		unixNano: clock.UnixNanoFunc(cfg.clock),
		sem:      make(chan struct{}, MaxConcurrentRefreshes),
		seed:     maphash.MakeSeed(),
	}
	if c.ttl == 0 {
		c.ttl = cfg.envTTL
	}
	if c.ttl == 0 {
		c.ttl = DefaultTTL
	}
	if encFromEnv {
		logEncryption(c.log, enc)
	}
	if c.be != nil && cfg.backendTimeout > 0 {
		if ts, ok := c.be.(backend.TimeoutSetter); ok {
			c.be = ts.WithTimeout(cfg.backendTimeout)
		}
	}
	if c.be != nil {
		c.inspector, _ = c.be.(backend.TTLInspector)
	}
	if cfg.l1 {
		c.l1 = l1.New[l1Entry](l1.Options{MaxBytes: cfg.l1Size, Now: c.unixNano,
			EntryOverhead: l1BoxOverhead(cfg.l1Bytes)})
	}
	c.attachStats()
	// The pipeline's Sealer is set per call (policy.pipeFor): it is the
	// call's tenant scope.
	c.pipe = entry.Pipeline{Mode: entry.Framed, MaxSize: cfg.maxValueSize}
	if !cfg.integrity {
		c.pipe.Mode = entry.FramedRaw
	}
	c.flights.OnPanic = func(key string, v any, stack []byte) {
		c.log.Error("cachekit: cached function panicked; the panic was turned into an error for every waiter",
			"key", key, "panic", fmt.Sprint(v), "stack", string(stack))
	}
	c.def = &policy{
		ttl:   backendTTL(c.ttl),
		swr:   cfg.swr,
		useL1: c.l1 != nil,
		pipe:  c.pipe,
		stats: stats{cache: &c.counters},
		warn:  &c.warnLoad,
	}
	return c, nil
}

// attachStats hands the cache's counters to a backend that reports them (the
// CacheKit API's metrics headers). A request reaches the backend only after
// an L1 miss, hence L1Status "miss" (or "disabled").
func (c *Cache) attachStats() {
	sa, ok := c.rawBE.(backend.StatsReporter)
	if !ok {
		return
	}
	status := "miss"
	if c.l1 == nil {
		status = "disabled"
	}
	sa.AttachStats(func() backend.Stats {
		return backend.Stats{
			L1Hits:   c.counters.l1HitCount(),
			L2Hits:   c.counters.l2Hits.Load(),
			Misses:   c.counters.misses.Load(),
			L1Status: status,
		}
	})
}

func backendTTL(d time.Duration) time.Duration {
	if d == NoExpiry {
		return 0
	}
	return d
}

// Close stops background refreshes and waits for running refreshes and
// shared loads, so no work of the cache touches the backend after Close
// returns (it stops waiting after the loader timeout, for functions that
// ignore their context); then it closes the backend if the Cache created it
// (FromEnv, IO, Test). A backend passed with
// WithBackend stays open. After Close, wrappers and Load call their function
// uncached and the direct API returns ErrClosed.
func (c *Cache) Close() error {
	c.closeMu.Lock()
	already := c.closed.Swap(true)
	c.closeMu.Unlock()
	if already {
		return nil
	}
	c.waitBackground()
	if !c.cfg.ownsBackend {
		return nil
	}
	return closeBackend(c.rawBE)
}

// waitBackground waits for running refreshes and shared loads, at most for
// the loader timeout: work that outlives its own deadline ignores its
// context, and Close must not hang on it.
func (c *Cache) waitBackground() {
	done := make(chan struct{})
	go func() {
		c.wg.Wait()
		close(done)
	}()
	t := time.NewTimer(c.cfg.loaderTimeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		c.log.Warn("cachekit: Close: background loads or refreshes are still running after the loader timeout (the function ignores its context); closing anyway")
	}
}

// closeBackend closes b if it has a Close method (with or without an error
// result, as the Redis backend's).
func closeBackend(b backend.Backend) error {
	switch b := b.(type) {
	case interface{ Close() error }:
		return b.Close()
	case interface{ Close() }:
		b.Close()
	}
	return nil
}

// track registers background work (a shared load or a refresh) with Close,
// which waits for it. It reports false, registering nothing, once Close has
// begun.
func (c *Cache) track() bool {
	c.closeMu.RLock()
	defer c.closeMu.RUnlock()
	if c.closed.Load() {
		return false
	}
	c.wg.Add(1)
	return true
}

// Backend returns the shared backend, or nil when the cache is in-process
// only.
func (c *Cache) Backend() backend.Backend { return c.be }

// Info returns the counters of the whole cache (every wrapper and Load).
func (c *Cache) Info() Info {
	i := c.counters.snapshot()
	c.sharedInfo(&i)
	return i
}

// sharedInfo adds what belongs to the whole cache: the in-process tier and
// the encryption counters.
func (c *Cache) sharedInfo(i *Info) {
	if c.l1 != nil {
		i.L1Bytes = c.l1.Bytes()
		i.L1Entries = c.l1.Len()
	}
	i.Encryption = c.encryptionInfo()
}

// HealthCheck probes the backend (healthy, with backend_type "none", when
// there is none).
func (c *Cache) HealthCheck(ctx context.Context) (bool, map[string]any) {
	if c.be == nil {
		return true, map[string]any{backend.DetailBackendType: "none", backend.DetailLatencyMS: 0.0}
	}
	return c.be.HealthCheck(ctx)
}

func (c *Cache) nowNano() int64 { return c.unixNano() }

func (c *Cache) stripeOf(key string) *stripe {
	return &c.stripes[maphash.String(c.seed, key)%numStripes]
}

func (c *Cache) generation(key string) generation {
	return generation{c.stripeOf(key).gen.Load(), c.epoch.Load()}
}

// current reports whether g is still the generation of s; callers hold s.mu
// (read).
func (c *Cache) current(s *stripe, g generation) bool {
	return s.gen.Load() == g.stripe && c.epoch.Load() == g.epoch
}

// lookupL1 returns the L1 entry for key if the policy uses L1.
func (c *Cache) lookupL1(p *policy, key string) (l1Entry, bool) {
	if !p.useL1 {
		return l1Entry{}, false
	}
	return c.l1.Get(key)
}

// fill is the body of a shared load: read the backend, else run the function
// and store its result. It runs detached from the callers (flight.Group).
// hitL1 converts an L1 entry into the caller's type (false: unusable).
func (c *Cache) fill(ctx context.Context, p *policy, s slot, hitL1 func(l1Entry) (any, bool),
	load func(context.Context) (any, error), decode func([]byte) (any, error)) (loaded, error) {
	key := s.key
	gen := c.generation(key)
	// A caller that missed L1 just before the previous shared load of key
	// stored its result and left the flight group starts a new shared load:
	// answer it from L1 rather than read the backend or run the function a
	// second time.
	if e, ok := c.lookupL1(p, key); ok {
		if v, ok := hitL1(e); ok {
			return loaded{val: v, fromL1: true, stale: e.refreshAt != 0 && c.nowNano() >= e.refreshAt}, nil
		}
	}
	if c.be != nil {
		if data, found := c.backendGet(ctx, p, key); found {
			doc, err := p.pipeFor(s).Open(s.logical, data)
			var v any
			decoded := err == nil
			if decoded {
				v, err = decode(doc)
			}
			if err == nil {
				exp, refreshAt, ok := c.l2Expiry(ctx, p, key)
				if ok && p.useL1 {
					c.putL1(p, key, v, doc, exp, refreshAt, gen)
				}
				return loaded{val: v, fromL2: true, stale: refreshAt != 0 && c.nowNano() >= refreshAt}, nil
			}
			p.stats.add(decodeErrors)
			if rej := c.rejected(err, decoded); rej != nil {
				if err := c.reject(ctx, p, key, rej); err != nil {
					return loaded{}, err
				}
			} else {
				c.log.Warn("cachekit: stored entry cannot be decoded; recomputing it", "key", key, "err", err)
			}
		}
	}
	v, err := load(ctx)
	if err != nil {
		return loaded{}, err
	}
	_ = c.store(ctx, p, s, v, gen)
	return loaded{val: v}, nil
}

// reject applies the failure policy to an entry that failed decryption: fail
// closed returns the error and leaves the entry as evidence; the default
// evicts it (the caller then recomputes) and returns nil.
func (c *Cache) reject(ctx context.Context, p *policy, key string, rej error) error {
	reason, _ := secure.ReasonOf(rej)
	if c.enc.FailClosed() {
		c.log.Warn("cachekit: stored entry failed decryption; failing closed and keeping the entry", "key", key, "reason", reason.String())
		return fmt.Errorf("cachekit: entry %q: %w", key, rej)
	}
	c.log.Warn("cachekit: stored entry failed decryption; evicting and recomputing it", "key", key, "reason", reason.String())
	start := time.Now()
	_, err := c.be.Delete(ctx, key)
	p.stats.backendOp(time.Since(start))
	if err != nil {
		c.backendError(p, "delete", key, err)
	}
	return nil
}

func (c *Cache) backendGet(ctx context.Context, p *policy, key string) ([]byte, bool) {
	start := time.Now()
	data, found, err := c.be.Get(ctx, key)
	p.stats.backendOp(time.Since(start))
	if err != nil {
		c.backendError(p, "get", key, err)
		return nil, false
	}
	return data, found
}

func (c *Cache) backendError(p *policy, op, key string, err error) {
	p.stats.add(backendErrors)
	c.log.Warn("cachekit: backend operation failed; continuing without the cache", "op", op, "key", key, "err", err)
}

// l2Expiry decides how long an entry just read from the backend may live in
// L1 and when it becomes stale. With TTL inspection the L1 copy expires with
// the backend entry and the refresh point follows the entry's age; without it
// the copy lives min(ttl, L1 max TTL) and the entry is taken as fresh. ok is
// false when the entry vanished in between.
func (c *Cache) l2Expiry(ctx context.Context, p *policy, key string) (exp, refreshAt int64, ok bool) {
	now := c.nowNano()
	if c.inspector != nil {
		start := time.Now()
		rem, found, err := c.inspector.TTL(ctx, key)
		p.stats.backendOp(time.Since(start))
		switch {
		case err != nil:
			c.backendError(p, "ttl", key, err)
		case !found:
			return 0, 0, false
		case rem <= 0:
			// The backend entry never expires (someone wrote it without a
			// TTL): keep the L1 copy for the function's TTL, as if this
			// process had written it, so that a delete by another process
			// is seen within one TTL (never, for NoExpiry functions).
			if p.ttl > 0 {
				exp = after(now, p.ttl)
			}
			return exp, c.refreshPoint(p, now), true
		default:
			exp = after(now, rem)
			if p.swr > 0 && p.ttl > 0 {
				age := max(p.ttl-rem, 0)
				if d := c.jittered(p) - age; d > 0 {
					refreshAt = after(now, d)
				} else {
					refreshAt = now - 1 // already due
				}
			}
			return exp, refreshAt, true
		}
	}
	life := c.cfg.l1MaxTTL
	if p.ttl > 0 {
		life = min(life, p.ttl)
	}
	return after(now, life), c.refreshPoint(p, now), true
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
	c.l1.Set(key, c.l1Value(p, v, doc, refreshAt), int64(len(doc)), exp)
}

// store serializes v and writes it to L1 and the backend, unless the entry's
// generation moved since gen was taken (an invalidation or Clear happened
// while v was computed: storing it would undo that). Failures are counted and
// logged; the error is returned for the direct API.
func (c *Cache) store(ctx context.Context, p *policy, s slot, v any, gen generation) error {
	key := s.key
	doc, err := p.pipe.Marshal(v)
	if err != nil {
		p.stats.add(encodeErrors)
		p.warn.value.Do(func() {
			c.log.Warn("cachekit: result cannot be serialized; it is returned but not cached (logged once per function)",
				"func", p.name, "key", key, "type", fmt.Sprintf("%T", v), "err", err)
		})
		return err
	}
	if err := c.checkSize(p, key, len(doc)); err != nil {
		return err
	}
	var stored []byte
	if c.be != nil {
		if stored, err = p.pipeFor(s).Wrap(s.logical, doc); err != nil {
			p.stats.add(encodeErrors)
			c.log.Warn("cachekit: cannot frame the value; not cached", "key", key, "err", err)
			return err
		}
		// The limit applies to what the backend would store too (frame,
		// envelope and encryption add a few dozen bytes; LZ4 may save
		// more), so a limit set to a backend's maximum keeps every write
		// within it.
		if err := c.checkSize(p, key, len(stored)); err != nil {
			return err
		}
	}
	st := c.stripeOf(key)
	st.mu.RLock()
	defer st.mu.RUnlock()
	if !c.current(st, gen) {
		p.stats.add(discarded)
		return nil
	}
	now := c.nowNano()
	if p.useL1 {
		var exp int64
		if p.ttl > 0 {
			exp = after(now, p.ttl)
		}
		c.l1.Set(key, c.l1Value(p, v, doc, c.refreshPoint(p, now)), int64(len(doc)), exp)
	}
	if c.be == nil {
		return nil
	}
	ttl := p.ttl
	if ttl > 0 && after(now, ttl) == 0 {
		ttl = 0 // ends after 2262: no expiry, as in L1 (backends may refuse such TTLs)
	}
	start := time.Now()
	err = c.be.Set(ctx, key, stored, ttl)
	p.stats.backendOp(time.Since(start))
	if err != nil {
		c.backendError(p, "set", key, err)
		return err
	}
	return nil
}

// checkSize enforces the maximum value size on a serialized value (size
// bytes), counting and warning (once per function) when it is exceeded.
func (c *Cache) checkSize(p *policy, key string, size int) error {
	if int64(size) <= c.cfg.maxValueSize {
		return nil
	}
	p.stats.add(tooLarge)
	p.warn.size.Do(func() {
		c.log.Warn("cachekit: result exceeds the maximum value size; it is returned but not cached (logged once per function)",
			"func", p.name, "key", key, "size", size, "max", c.cfg.maxValueSize)
	})
	return fmt.Errorf("%w: %d bytes, limit %d", ErrValueTooLarge, size, c.cfg.maxValueSize)
}

// refresh starts one background stale-while-revalidate refresh of s unless
// one (or a load) is already running, all MaxConcurrentRefreshes slots are
// busy, or the cache is closed.
func (c *Cache) refresh(ctx context.Context, p *policy, s slot, load func(context.Context) (any, error)) {
	key := s.key
	if c.flights.InFlight(key) {
		return
	}
	select {
	case c.sem <- struct{}{}:
	default:
		return
	}
	if !c.track() {
		<-c.sem
		return
	}
	release := func() { <-c.sem; c.wg.Done() }
	started := c.flights.Start(ctx, key, c.cfg.loaderTimeout, func(ctx context.Context) (loaded, error) {
		failed := true // until the function returned a value; also on a panic
		defer func() {
			if failed {
				p.stats.add(refreshErrors)
				c.backoffRefresh(p, key)
			}
			release()
		}()
		gen := c.generation(key)
		v, err := load(ctx)
		if err != nil {
			c.log.Warn("cachekit: background refresh failed; serving the current value until it expires", "key", key, "err", err)
			return loaded{}, err
		}
		failed = false
		if err := c.store(ctx, p, s, v, gen); err != nil {
			// Not stored (too large, not serializable, backend down): the
			// old entry is still due, so without a backoff every hit would
			// start another refresh.
			c.backoffRefresh(p, key)
		}
		p.stats.add(refreshes)
		return loaded{val: v}, nil
	})
	if !started {
		release()
	}
}

// backoffRefresh postpones the due refresh point of key's L1 entry by a
// fraction of its remaining freshness window (at least MinRefreshRetry). An
// entry whose refresh point is not due (a newer value was stored meanwhile)
// is left alone.
func (c *Cache) backoffRefresh(p *policy, key string) {
	if !p.useL1 {
		return
	}
	wait := max(MinRefreshRetry, time.Duration(float64(p.ttl)*(1-p.swr)/8))
	now := c.nowNano()
	next := after(now, wait)
	c.l1.Update(key, func(e *l1Entry) {
		if e.refreshAt != 0 && e.refreshAt <= now {
			e.refreshAt = next
		}
	})
}

// invalidate removes key from both tiers. It first bumps the key's stripe
// generation under the stripe's write lock: a store that started before holds
// the read lock, so it either finished (and its entry is deleted below) or
// will see the new generation and drop its result. Within one process an
// invalidation is therefore never undone by a load or refresh that was
// running, and callers arriving after it do not join such a load (it is
// forgotten by the flight group): they start a new one. Another process may
// still write an older result after our delete; that residual race needs
// backend-side versioning and is not covered.
func (c *Cache) invalidate(ctx context.Context, p *policy, key string) (bool, error) {
	s := c.stripeOf(key)
	s.mu.Lock()
	s.gen.Add(1)
	s.mu.Unlock()
	c.flights.Forget(key)
	deleted := false
	if c.l1 != nil {
		deleted = c.l1.Delete(key)
	}
	if c.be == nil {
		return deleted, nil
	}
	start := time.Now()
	ok, err := c.be.Delete(ctx, key)
	p.stats.backendOp(time.Since(start))
	if err != nil {
		p.stats.add(backendErrors)
		return deleted, err
	}
	return deleted || ok, nil
}

// bumpEpoch invalidates every in-flight load and refresh of the cache (used by
// Clear), waiting for stores that are already writing; later callers start
// new loads instead of joining those.
func (c *Cache) bumpEpoch() {
	for i := range c.stripes {
		c.stripes[i].mu.Lock()
	}
	c.epoch.Add(1)
	for i := range c.stripes {
		c.stripes[i].mu.Unlock()
	}
	c.flights.ForgetAll()
}

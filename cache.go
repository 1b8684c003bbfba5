package cachekit

import (
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
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
	cfg   config
	be    backend.Backend    // nil: in-process only; closed by Close when owned
	guard *guard             // nil without a backend
	coh   *coherence         // nil: no invalidation channel (coherence.go)
	l1    *l1.Cache[l1Entry] // nil: disabled
	ttl   time.Duration      // resolved default TTL (NoExpiry possible)
	pipe  entry.Pipeline
	enc   *secure.Policy // nil: encryption off
	log   *slog.Logger
	obs   Observer // WithObserver; nil: nothing observed
	// Rate-limited warnings (logging.go).
	logUndecodable, logDecrypt, logRefresh limitedLog
	clk                                    clock.Clock
	unixNano                               func() int64 // clk in Unix nanoseconds (clock.UnixNanoFunc: cheap for the real clock)
	flights                                flight.Group[loaded]
	sem                                    chan struct{}
	closeMu                                sync.RWMutex
	closed                                 atomic.Bool
	wg                                     sync.WaitGroup
	seed                                   maphash.Seed
	stripes                                [numStripes]stripe
	epoch                                  atomic.Uint64
	repoch                                 atomic.Uint64 // remote epoch: coherence.go
	counters                               counters
	def                                    *policy
	nextID                                 atomic.Uint64
	memoLimit                              int          // memoSlotsFor(c)
	memoBudget                             atomic.Int64 // slots the key memos may still grow by
	warnLoad                               warnings
}

type stripe struct {
	mu   sync.RWMutex
	gen  atomic.Uint64
	rgen atomic.Uint64 // moved by invalidations from other caches (coherence.go)
}

// generation is taken before a load; a store checks it to know whether an
// invalidation happened meanwhile. remote covers only the L1 copy (see
// Cache.currentL1).
type generation struct{ stripe, epoch, remote uint64 }

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
	failed bool // the backend read failed or was skipped (fill only)
}

// warnings holds the warn-once latches of one wrapper (or of Load).
type warnings struct{ args, value, size, l1Size sync.Once }

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
	// negative lists the errors cached as results (CacheError).
	negative []negRule
	cost     *atomic.Int64 // moving average of the function's run time (ns); nil: not tracked
}

// observeLoad folds one run time of the function into p.cost (an
// exponentially weighted average, weight 1/8).
func (p *policy) observeLoad(d time.Duration) {
	if p.cost == nil {
		return
	}
	old := p.cost.Load()
	if old == 0 {
		p.cost.Store(int64(max(d, 1)))
		return
	}
	p.cost.Store(max(old+(int64(d)-old)/8, 1))
}

// worthLocking reports whether a miss of p should take the cross-process
// stampede lock: the lock costs three round trips (lock, re-check, release),
// which pay off only for a function slower than LockMinFunctionTime (or
// whose run time is not known yet).
func (p *policy) worthLocking() bool {
	est := p.loadEstimate()
	return est == 0 || est >= LockMinFunctionTime
}

// loadEstimate is the function's usual run time, 0 when unknown.
func (p *policy) loadEstimate() time.Duration {
	if p.cost == nil {
		return 0
	}
	return time.Duration(p.cost.Load())
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
		be:       cfg.backend,
		ttl:      cfg.ttl,
		enc:      enc,
		log:      log,
		obs:      cfg.observer,
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
	if c.be != nil {
		c.guard = newGuard(c, &cfg)
	}
	if cfg.l1 {
		// Hits check expiry on a coarse clock (an atomic load) and read the
		// precise one only for entries within clock.CoarseLag of expiring:
		// the monotonic clock read was about 15 % of an L1 hit.
		c.l1 = l1.New[l1Entry](l1.Options{MaxBytes: cfg.l1Size, Now: c.unixNano,
			Coarse: clock.Coarse(cfg.clock), CoarseLag: clock.CoarseLag,
			EntryOverhead: l1BoxOverhead(cfg.l1Bytes)})
	}
	c.memoLimit = memoSlotsFor(c)
	c.memoBudget.Store(int64(c.memoLimit))
	c.attachStats()
	c.startCoherence()
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
	if testHookNewCache != nil {
		testHookNewCache(c)
	}
	c.def = &policy{
		ttl:   backendTTL(c.ttl),
		swr:   cfg.swr,
		useL1: c.l1 != nil,
		pipe:  c.pipe,
		stats: stats{cache: &c.counters},
		warn:  &c.warnLoad,
		cost:  new(atomic.Int64),
	}
	return c, nil
}

// testHookNewCache, set by the package's tests only, sees every Cache made
// (so that a test reading a backend directly can flush the write-behind
// queues of the caches over it).
var testHookNewCache func(*Cache)

// attachStats hands the cache's counters to a backend that reports them (the
// CacheKit API's metrics headers). A request reaches the backend only after
// an L1 miss, hence L1Status "miss" (or "disabled").
func (c *Cache) attachStats() {
	sa, ok := c.be.(backend.StatsReporter)
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
	if c.guard != nil {
		if !c.guard.queue.Close(c.cfg.drainTimeout) {
			c.log.Warn("cachekit: Close: backend writes still queued after the drain timeout were dropped",
				"timeout", c.cfg.drainTimeout.String())
		}
		c.guard.flog.Flush()
	}
	c.stopCoherence()
	if !c.cfg.ownsBackend {
		return nil
	}
	return closeBackend(c.be)
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
		i.L1Evictions = c.l1.Evictions()
	}
	i.Encryption = c.encryptionInfo()
	if c.guard != nil {
		i.Resilience = c.guard.info()
	}
	i.Coherence = c.coherenceInfo()
}

// DetailCircuitBreaker is the HealthCheck detail that carries the state of
// the backend's circuit breaker ("closed", "open" or "half-open").
const DetailCircuitBreaker = "circuit_breaker"

func (c *Cache) nowNano() int64 { return c.unixNano() }

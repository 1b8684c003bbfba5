package cachekit

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/cachekit-go/cachekit/backend"
	"github.com/cachekit-go/cachekit/internal/flight"
	"github.com/cachekit-go/cachekit/internal/resilience"
)

// guard is what stands between the cache and its backend: the circuit
// breaker, the bounds on concurrent operations and detached loads, the
// write-behind queue, the rate-limited failure log and the counters Info
// shows. A Cache without a backend has none.
type guard struct {
	breaker      *resilience.Breaker
	ops          *resilience.Bound
	loads        *resilience.Bound
	queue        *resilience.Queue
	flog         *resilience.FailureLog
	readBudget   time.Duration
	opTimeout    time.Duration // WithBackendTimeout; 0 = the backend's own
	writeTimeout time.Duration
	ttlGetter    backend.TTLGetter
	multi        backend.MultiSetter // nil: queued writes are made one by one
	fanout       int                 // goroutines per batch of one-by-one writes (setEach)
	inspector    backend.TTLInspector
	locker       backend.Locker // nil: no cross-process stampede lock
	kind         string         // BackendEvent.Backend
	// inline: the backend's reads honour their context
	// (backend.ContextHonourer), so that the miss path calls them in its
	// own goroutine (see within). inlineHealthy: they do while the backend
	// is healthy (backend.HealthyContextHonourer; see readInline), judged
	// by healthySince: the time of the first success after the last
	// failure, or 0 while there is none.
	inline, inlineHealthy bool
	healthySince          atomic.Int64

	skipped, budgetTimeouts, writesQueued  atomic.Uint64
	lockAcquired, lockWaits, lockFallbacks atomic.Uint64
}

// ErrBackendUnavailable is returned by the direct API (Get, Set, Delete,
// Exists, Invalidate, Clear) when the backend was not asked at all: its
// circuit breaker is open, or too many backend operations are in flight.
// Wrappers and Load never return it; they serve from L1 or run the
// function.
var ErrBackendUnavailable = errors.New("cachekit: backend skipped (circuit breaker open or too many operations in flight)")

func newGuard(c *Cache, cfg *config) *guard {
	g := &guard{
		ops:          resilience.NewBound(cfg.maxOps),
		loads:        resilience.NewBound(cfg.maxLoads),
		queue:        resilience.NewBatchQueue(cfg.queueSize, cfg.queueWorkers, maxWriteBatch, c.runWrites),
		flog:         resilience.NewFailureLog(c.log, FailureLogInterval, c.clk.Now),
		readBudget:   cfg.readBudget,
		opTimeout:    cfg.backendTimeout,
		writeTimeout: DefaultWriteTimeout,
	}
	if g.readBudget == 0 {
		g.readBudget = defaultReadBudget(c.be)
	}
	if g.opTimeout > 0 {
		g.writeTimeout = min(g.writeTimeout, g.opTimeout)
	}
	g.kind = backendLabel(c.be)
	g.ttlGetter, _ = c.be.(backend.TTLGetter)
	g.multi, _ = c.be.(backend.MultiSetter)
	g.fanout = writeFanout
	if cfg.maxOps > 0 {
		g.fanout = max(1, min(writeFanout, cfg.maxOps/(2*max(cfg.queueWorkers, 1))))
	}
	g.inspector, _ = c.be.(backend.TTLInspector)
	if h, ok := c.be.(backend.ContextHonourer); ok {
		g.inline = h.HonoursContext()
	}
	if h, ok := c.be.(backend.HealthyContextHonourer); ok && !g.inline {
		g.inlineHealthy = h.HonoursContextWhileHealthy()
	}
	if l, ok := c.be.(backend.Locker); ok && !cfg.noLock {
		g.locker = l
	}
	g.breaker = resilience.NewBreaker(resilience.BreakerConfig{
		Threshold: cfg.breakerThreshold,
		OpenFor:   cfg.recovery,
		Probes:    DefaultBreakerProbes,
		// A run of timeouts opens the breaker once it has lasted a read
		// budget: a hung backend does that within about two budgets, a
		// process starved of CPU (every read in flight expiring at once
		// when it runs again, their answers already waiting) does not.
		TimeoutSpan: g.readBudget,
		Now:         c.clk.Now,
		OnTransition: func(from, to resilience.State, failures int) {
			switch to {
			case resilience.Open:
				if failures == 0 { // tripped: not connected yet
					c.log.Warn("cachekit: backend circuit breaker open until the backend is connected; serving from L1 and the function",
						"retry_after", cfg.recovery.String())
					return
				}
				if from == resilience.HalfOpen {
					// A failed probe: the outage goes on. Debug, so that
					// an outage costs two lines, not two per probe.
					c.log.Debug("cachekit: backend probe failed; circuit breaker open again", "retry_after", cfg.recovery.String())
					return
				}
				c.log.Warn("cachekit: backend circuit breaker opened; serving from L1 and the function until the backend answers again",
					"from", from.String(), "consecutive_failures", failures, "retry_after", cfg.recovery.String())
			case resilience.HalfOpen:
				c.log.Debug("cachekit: backend circuit breaker half-open; probing the backend")
			case resilience.Closed:
				g.flog.Flush()
				c.log.Info("cachekit: backend circuit breaker closed; the backend is in use again")
			}
		},
	})
	return g
}

// defaultReadBudget is the read budget a backend asks for (backend.ReadBudgeter:
// DefaultLocalReadBudget or DefaultHTTPReadBudget for this module's backends),
// else DefaultReadBudget.
func defaultReadBudget(b backend.Backend) time.Duration {
	if rb, ok := b.(backend.ReadBudgeter); ok {
		if d := rb.ReadBudget(); d > 0 {
			return d
		}
	}
	return DefaultReadBudget
}

// budget returns the time the backend read of a miss may take for a caller
// with ctx: the read budget, or ReadBudgetDeadlineShare of the remaining
// deadline when that is less. capped reports a budget cut below half the
// read budget: a read that runs out of so short a budget says nothing about
// the backend, while one that had at least half of it had a fair chance
// (otherwise callers with deadlines would keep a hung backend's breaker
// closed forever).
func (g *guard) budget(ctx context.Context) (d time.Duration, capped bool) {
	d = g.readBudget
	if dl, ok := ctx.Deadline(); ok {
		if share := time.Duration(float64(time.Until(dl)) * ReadBudgetDeadlineShare); share < d {
			return share, share < g.readBudget/2
		}
	}
	return d, false
}

// readBudget bounds the backend reads (and lock operations) of one miss.
type readBudget struct {
	timeout  time.Duration // per operation; 0 = none added
	capped   bool          // shortened for the caller's deadline
	deadline time.Time     // the caller's deadline; zero = none
}

// missBudget returns the budget of a miss by a caller with ctx.
func (c *Cache) missBudget(ctx context.Context) readBudget {
	if c.guard == nil {
		return readBudget{}
	}
	d, capped := c.guard.budget(ctx)
	dl, _ := ctx.Deadline()
	return readBudget{timeout: max(d, 1), capped: capped, deadline: dl}
}

// errSkipped is what do returns when it did not ask the backend.
var errSkipped = ErrBackendUnavailable

// op is one backend operation in progress (opBegin .. opEnd).
type op struct {
	t      resilience.Ticket
	ctx    context.Context // the operation's: the caller's, tagged, with the timeout
	cancel context.CancelFunc
	start  time.Time
}

// opBegin admits one backend operation (begin) and makes its context: ctx
// tagged for writes (tagWrite) and bounded by timeout (0: none added).
// The caller defers o.release() and ends it with opEnd.
func (c *Cache) opBegin(ctx context.Context, name string, timeout time.Duration) (o op, err error) {
	if o.t, err = c.begin(ctx, name); err != nil {
		return o, err
	}
	o.ctx = c.tagWrite(ctx, name)
	if timeout > 0 {
		o.ctx, o.cancel = opContext(o.ctx, timeout)
	}
	o.start = time.Now()
	return o, nil
}

// release frees the operation's slot of the bound and its timer.
func (o *op) release(c *Cache) {
	c.guard.ops.Release()
	if o.cancel != nil {
		o.cancel()
	}
}

// opEnd records an operation that returned err (see do).
func (c *Cache) opEnd(ctx context.Context, p *policy, o *op, name, key string, capped bool, err error) error {
	took := time.Since(o.start)
	p.stats.backendOp(took)
	c.observeOp(ctx, o.ctx, name, o.start, took, err)
	return c.finish(o.t, p, name, key, ctx, o.ctx, capped, err)
}

// opContext returns ctx bounded by timeout. The context of a shared load
// (flight.Detached) is not a parent: the operation's context hangs on the
// load's detached parent with the earlier of the two deadlines, which
// spares the load the timer of its own deadline.
func opContext(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	if parent, dl, ok := flight.Detached(ctx); ok {
		if d := time.Now().Add(timeout); d.Before(dl) {
			dl = d
		}
		return context.WithDeadline(parent, dl)
	}
	return context.WithTimeout(ctx, timeout)
}

// do runs one backend operation under the breaker, the bound on concurrent
// operations and a timeout (0: none added). It records the latency, counts
// and logs (rate-limited) failures, and reports errSkipped without asking
// the backend when the breaker is open or the bound is reached. capped
// says the timeout was shortened for the caller's deadline: running out of
// it is not held against the backend.
func (c *Cache) do(ctx context.Context, p *policy, name, key string, timeout time.Duration, capped bool, fn func(context.Context) error) error {
	o, err := c.opBegin(ctx, name, timeout)
	if err != nil {
		return err
	}
	defer o.release(c)
	return c.opEnd(ctx, p, &o, name, key, capped, fn(o.ctx))
}

// within is do for the miss path: the caller stops waiting once the
// timeout has passed even if the backend has not returned. A backend that
// honours its context (backend.ContextHonourer) is called in the caller's
// goroutine with the timeout as its deadline. Any other runs in a goroutine
// of its own (a backend must honour its context, but a stuck connection may
// not): when it does not return in time it goes on in the background,
// holding its slot of the bound on concurrent operations until it returns,
// and its late answer is dropped; the caller sees a timeout, which counts
// against the backend.
func within[T any](c *Cache, ctx context.Context, p *policy, name, key string, timeout time.Duration, capped bool, fn func(context.Context) (T, error)) (T, error) {
	var zero T
	if c.readInline() {
		o, err := c.opBegin(ctx, name, timeout)
		if err != nil {
			return zero, err
		}
		defer o.release(c)
		v, err := fn(o.ctx)
		return v, c.opEnd(ctx, p, &o, name, key, capped, err)
	}
	t, err := c.begin(ctx, name)
	if err != nil {
		return zero, err
	}
	opCtx, cancel := opContext(ctx, timeout)
	type result struct {
		v   T
		err error
		d   time.Duration
	}
	ch := make(chan result, 1)
	start := time.Now()
	go func() {
		defer c.guard.ops.Release()
		defer cancel()
		v, err := fn(opCtx)
		ch <- result{v, err, time.Since(start)}
	}()
	var r result
	select {
	case r = <-ch:
	case <-opCtx.Done():
		// A little grace, so that a backend honouring its context answers
		// with its own timeout error first (a timer only on this slow
		// path).
		grace := time.NewTimer(timeout/8 + time.Millisecond)
		defer grace.Stop()
		select {
		case r = <-ch:
		case <-grace.C:
			p.stats.backendOp(timeout)
			late := backend.NewError(backend.Timeout, "cachekit", name, key, errLate)
			c.observeOp(ctx, opCtx, name, start, timeout, late)
			return zero, c.finish(t, p, name, key, ctx, opCtx, capped, late)
		}
	}
	p.stats.backendOp(r.d)
	c.observeOp(ctx, opCtx, name, start, r.d, r.err)
	return r.v, c.finish(t, p, name, key, ctx, opCtx, capped, r.err)
}

// errLate is the cause of the timeout within reports when the backend did
// not return at all.
var errLate = errors.New("the backend did not return within the read budget; its answer will be dropped")

// begin admits one backend operation: a breaker ticket and a slot of the
// bound on concurrent operations (the caller releases the slot), or
// errSkipped.
func (c *Cache) begin(ctx context.Context, op string) (resilience.Ticket, error) {
	g := c.guard
	t, ok := g.breaker.Allow()
	if !ok {
		g.skipped.Add(1)
		c.observeBackend(ctx, op, BackendSkipped, time.Time{}, 0)
		return t, errSkipped
	}
	if !g.ops.TryAcquire() {
		g.breaker.Release(t)
		c.observeBackend(ctx, op, BackendSkipped, time.Time{}, 0)
		return t, errSkipped
	}
	return t, nil
}

// finish tells the breaker what an operation's outcome says about the
// backend, and counts and logs a failure. parent is the caller's context,
// opCtx the operation's (with its timeout).
func (c *Cache) finish(t resilience.Ticket, p *policy, op, key string, parent, opCtx context.Context, capped bool, err error) error {
	c.settle(t, parent, opCtx, capped, err)
	if err == nil {
		return nil
	}
	p.stats.add(backendErrors)
	c.guard.flog.Failed(op, key, err)
	return err
}

// healthyQuiet is how long a HealthyContextHonourer must have answered
// without a failure before its reads run inline again: longer than the
// Redis backend's dial timeout and its connection liveness check, so that
// a reconnect started by a failure is over by then.
const healthyQuiet = 3 * time.Second

// readInline reports whether a read may run in the caller's goroutine
// with the budget as its deadline (see within): always for a
// ContextHonourer; for a HealthyContextHonourer once it has answered
// without a failure for healthyQuiet and while the breaker is closed.
func (c *Cache) readInline() bool {
	g := c.guard
	if g.inline {
		return true
	}
	if !g.inlineHealthy {
		return false
	}
	since := g.healthySince.Load()
	return since != 0 && c.nowNano()-since >= int64(healthyQuiet) && g.breaker.State() == resilience.Closed
}

// sawHealth records an operation's outcome for readInline: a failure
// restarts the quiet period, the first success after it starts it.
func (g *guard) sawHealth(c *Cache, ok bool) {
	if !g.inlineHealthy {
		return
	}
	if !ok {
		g.healthySince.Store(0)
		return
	}
	if g.healthySince.Load() == 0 {
		g.healthySince.CompareAndSwap(0, c.nowNano())
	}
}

// settle tells the breaker what an operation's outcome err says about the
// backend (see finish).
func (c *Cache) settle(t resilience.Ticket, parent, opCtx context.Context, capped bool, err error) {
	g := c.guard
	// Only the operation's deadline says it ran out of time: within
	// cancels opCtx once the operation has returned, before it gets here.
	timedOut := errors.Is(opCtx.Err(), context.DeadlineExceeded)
	g.sawHealth(c, err == nil || errors.Is(err, backend.ErrPermanent))
	switch {
	case err == nil:
		g.breaker.Success(t)
	case parent.Err() != nil:
		// The caller gave up (or its own deadline passed): nothing learnt
		// about the backend.
		g.breaker.Release(t)
	case timedOut && capped:
		g.budgetTimeouts.Add(1)
		g.breaker.Release(t)
	case errors.Is(err, backend.ErrPermanent):
		// The backend answered (value too large, wrong type): it is up.
		g.breaker.Success(t)
	default:
		if timedOut {
			g.budgetTimeouts.Add(1)
			g.breaker.Timeout(t)
		} else {
			g.breaker.Failure(t)
		}
	}
}

// answer is what read returns.
type answer struct {
	data         []byte
	rem          time.Duration
	known, found bool
}

// read is the backend read of the read path: the value, and its remaining
// lifetime when L1 needs it (known false when it was not asked or cannot be
// told), in one round trip when the backend implements backend.TTLGetter.
// The whole read gets at most timeout (none: 0).
func (c *Cache) read(ctx context.Context, p *policy, key string, timeout time.Duration, capped bool) (data []byte, rem time.Duration, known, found bool, err error) {
	// The lifetime is needed to fill L1 and to see when an entry is stale;
	// otherwise a plain Get is one command.
	needTTL := p.useL1 || (p.swr > 0 && p.ttl > 0)
	var a answer
	if timeout > 0 && !c.readInline() {
		a, err = within(c, ctx, p, "get", key, timeout, capped, func(ctx context.Context) (answer, error) {
			return c.get(ctx, p, key, needTTL)
		})
		return a.data, a.rem, a.known, a.found, err
	}
	// within, without its closure
	o, err := c.opBegin(ctx, "get", timeout)
	if err != nil {
		return nil, 0, false, false, err
	}
	defer o.release(c)
	a, err = c.get(o.ctx, p, key, needTTL)
	err = c.opEnd(ctx, p, &o, "get", key, capped, err)
	return a.data, a.rem, a.known, a.found, err
}

// get is the body of read.
func (c *Cache) get(ctx context.Context, p *policy, key string, needTTL bool) (a answer, err error) {
	g := c.guard
	switch {
	case !needTTL:
		a.data, a.found, err = c.be.Get(ctx, key)
	case g.ttlGetter != nil:
		a.data, a.rem, a.found, err = g.ttlGetter.GetWithTTL(ctx, key)
		a.known = true
	default:
		a.data, a.found, err = c.be.Get(ctx, key)
		if err != nil || !a.found || g.inspector == nil {
			return a, err
		}
		var ttlFound bool
		a.rem, ttlFound, err = g.inspector.TTL(ctx, key)
		if err == nil && !ttlFound {
			a.found = false // vanished in between: a miss
		}
		a.known = err == nil
		if err != nil {
			// The value is good; only its lifetime is unknown.
			g.flog.Failed("ttl", key, err)
			p.stats.add(backendErrors)
			err = nil
		}
	}
	return a, err
}

// Flush waits until every backend write queued so far has been made (or
// dropped), or ctx ends. Writes of wrappers and Load go to the backend in
// the background (see docs/reliability.md); Flush is for code that must
// know they landed, such as a test or a job about to exit (Close drains the
// queue too).
func (c *Cache) Flush(ctx context.Context) error {
	if c.guard == nil {
		return nil
	}
	return c.guard.queue.Wait(ctx)
}

// ResilienceInfo describes how the cache has been protecting its callers
// from the backend (whole cache; also in a wrapper's Info).
type ResilienceInfo struct {
	// Breaker is the circuit breaker's state: "closed", "open",
	// "half-open", or "" without a backend.
	Breaker string
	// BreakerTransitions counts state changes, BreakerOpens the openings.
	BreakerTransitions, BreakerOpens uint64
	// BreakerSkips counts backend operations skipped because the breaker
	// was open.
	BreakerSkips uint64
	// BudgetTimeouts counts backend reads that ran out of their read budget
	// (the function ran instead) and operations that ran out of their
	// timeout.
	BudgetTimeouts uint64
	// WritesQueued counts backend writes handed to the write-behind queue;
	// WritesDropped those dropped (queue full, breaker open, Close's
	// deadline).
	WritesQueued, WritesDropped uint64
	// BackpressureSkips counts backend operations skipped because
	// MaxBackendOps were in flight, and loads run by their caller because
	// MaxDetachedLoads were running.
	BackpressureSkips uint64
	// LockAcquired counts misses that took the cross-process stampede lock;
	// LockWaits those answered by another process's result after waiting;
	// LockFallbacks those that ran the function without the lock (lock
	// error, or the wait ran out).
	LockAcquired, LockWaits, LockFallbacks uint64
}

func (g *guard) info() ResilienceInfo {
	return ResilienceInfo{
		Breaker:            g.breaker.State().String(),
		BreakerTransitions: g.breaker.Transitions(),
		BreakerOpens:       g.breaker.Opens(),
		BreakerSkips:       g.skipped.Load(),
		BudgetTimeouts:     g.budgetTimeouts.Load(),
		WritesQueued:       g.writesQueued.Load(),
		WritesDropped:      g.queue.Dropped(),
		BackpressureSkips:  g.ops.Refused() + g.loads.Refused(),
		LockAcquired:       g.lockAcquired.Load(),
		LockWaits:          g.lockWaits.Load(),
		LockFallbacks:      g.lockFallbacks.Load(),
	}
}

package cachekit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/backend"
	"github.com/cachekit-go/cachekit/backend/memory"
)

// counting wraps a backend and counts the operations that reach it.
type counting struct {
	backend.Backend
	gets, sets atomic.Int32
}

func (c *counting) Get(ctx context.Context, key string) ([]byte, bool, error) {
	c.gets.Add(1)
	return c.Backend.Get(ctx, key)
}

func (c *counting) Set(ctx context.Context, key string, v []byte, ttl time.Duration) error {
	c.sets.Add(1)
	return c.Backend.Set(ctx, key, v, ttl)
}

func TestBreakerOpensOnBackendFailuresAndSkipsTheBackend(t *testing.T) {
	t.Parallel()
	fb := &faulty{Backend: memory.New(memory.Options{})}
	fb.failGet.Store(true)
	fb.failSet.Store(true)
	cb := &counting{Backend: fb}
	rec := &logRecorder{}
	c := newTestCache(t, cb, WithL1(false), WithLogger(slogNew(rec)), WithCircuitBreaker(3, time.Hour))
	var cnt counter
	f := wrapCounter(t, c, &cnt, Name(uniq(t)))
	for i := range 10 {
		if v, err := f.Call(context.Background(), i); err != nil || v != fmt.Sprintf("v0:%d", i) {
			t.Fatalf("Call(%d) = %q, %v", i, v, err)
		}
	}
	r := c.Info().Resilience
	if r.Breaker != "open" || r.BreakerOpens != 1 || r.BreakerTransitions != 1 {
		t.Fatalf("resilience %+v", r)
	}
	// Reads are made by the calls, one after the other: none after the
	// third failure. A write or two queued before the breaker opened may
	// still have run.
	if gets, sets := cb.gets.Load(), cb.sets.Load(); gets > 3 || gets+sets > 5 {
		t.Fatalf("%d reads and %d writes reached the backend; the breaker should have stopped them after 3 failures", gets, sets)
	}
	if r.BreakerSkips < 5 {
		t.Fatalf("skips %d", r.BreakerSkips)
	}
	// Writes are dropped while the breaker is open, not queued.
	if err := c.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r := c.Info().Resilience; r.WritesDropped == 0 {
		t.Fatalf("no write dropped while open: %+v", r)
	}
	if n := rec.count("circuit breaker opened"); n != 1 {
		t.Fatalf("%d breaker lines:\n%s", n, rec.all())
	}
	if n := rec.count("backend operation"); n != 1 {
		t.Fatalf("%d failure lines for 3 failures:\n%s", n, rec.all())
	}
	// The direct API says the backend was skipped.
	if _, _, err := Get[string](context.Background(), c, "k"); !errors.Is(err, ErrBackendUnavailable) {
		t.Fatalf("Get with the breaker open: %v", err)
	}
	if ok, details := c.HealthCheck(context.Background()); !ok || details[DetailCircuitBreaker] != "open" {
		t.Fatalf("health %v %v", ok, details)
	}
}

func TestBreakerIgnoresMissesAndFunctionErrors(t *testing.T) {
	t.Parallel()
	c := newTestCache(t, memory.New(memory.Options{}), WithL1(false), WithCircuitBreaker(2, time.Hour))
	boom := errors.New("the function failed")
	f := MustWrap1(c, func(_ context.Context, n int) (int, error) { return 0, boom }, Name(uniq(t)))
	for i := range 10 {
		if _, err := f.Call(context.Background(), i); !errors.Is(err, boom) {
			t.Fatalf("Call = %v", err)
		}
	}
	if r := c.Info().Resilience; r.Breaker != "closed" || r.BreakerTransitions != 0 {
		t.Fatalf("misses or function errors moved the breaker: %+v", r)
	}
}

func TestBreakerRecoversThroughAProbe(t *testing.T) {
	t.Parallel()
	clk := fakeClock()
	fb := &faulty{Backend: memory.New(memory.Options{})}
	c := newTestCache(t, fb, WithL1(false), withClock(clk), WithCircuitBreaker(1, time.Second))
	var cnt counter
	f := wrapCounter(t, c, &cnt, Name(uniq(t)))
	ctx := context.Background()
	call := func(n int) {
		t.Helper()
		if _, err := f.Call(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	call(1) // stored
	flushBackend(t, fb)
	fb.failGet.Store(true)
	call(1)
	if c.Info().Resilience.Breaker != "open" {
		t.Fatal("not open after one failure with threshold 1")
	}
	fb.failGet.Store(false)
	call(1) // still open: skipped, the function runs
	if f.Info().L2Hits != 0 {
		t.Fatal("an open breaker read the backend")
	}
	clk.Advance(time.Second)
	call(1) // the probe: an L2 hit closes the breaker
	if r := c.Info().Resilience; r.Breaker != "closed" || f.Info().L2Hits != 1 {
		t.Fatalf("after the probe: %+v, info %+v", r, f.Info())
	}
}

func TestCloseDrainsWrites(t *testing.T) {
	t.Parallel()
	mem := memory.New(memory.Options{})
	c, err := New(WithBackend(mem), quiet())
	if err != nil {
		t.Fatal(err)
	}
	f := MustWrap1(c, func(_ context.Context, n int) (int, error) { return n * 2, nil }, Name(uniq(t)))
	for i := range 50 {
		if _, err := f.Call(context.Background(), i); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		k, _ := f.Key(i)
		if ok, _ := mem.Exists(context.Background(), k); !ok {
			t.Fatalf("entry %d not written before Close returned", i)
		}
	}
	if r := c.Info().Resilience; r.WritesQueued != 50 || r.WritesDropped != 0 {
		t.Fatalf("%+v", r)
	}
}

// blocking is a backend whose reads and writes wait until released or
// until their context ends (an injected hang).
type blocking struct {
	backend.Backend
	release chan struct{}
	reads   atomic.Int32
}

func (b *blocking) Set(ctx context.Context, key string, v []byte, ttl time.Duration) error {
	select {
	case <-b.release:
		return b.Backend.Set(ctx, key, v, ttl)
	case <-ctx.Done():
		return backend.NewError(backend.Timeout, "blocking", "set", key, ctx.Err())
	}
}

func (b *blocking) Get(ctx context.Context, key string) ([]byte, bool, error) {
	b.reads.Add(1)
	select {
	case <-b.release:
		return b.Backend.Get(ctx, key)
	case <-ctx.Done():
		return nil, false, backend.NewError(backend.Timeout, "blocking", "get", key, ctx.Err())
	}
}

func TestHungReadRunsTheFunctionAfterTheBudget(t *testing.T) {
	t.Parallel()
	b := &blocking{Backend: memory.New(memory.Options{}), release: make(chan struct{})}
	c := newTestCache(t, b, WithL1(false), WithReadBudget(time.Millisecond), WithBackendTimeout(time.Millisecond),
		WithCircuitBreaker(2, time.Hour))
	var cnt counter
	f := wrapCounter(t, c, &cnt, Name(uniq(t)))
	for i := range 5 {
		if v, err := f.Call(context.Background(), i); err != nil || v != fmt.Sprintf("v0:%d", i) {
			t.Fatalf("Call = %q, %v", v, err)
		}
	}
	r := c.Info().Resilience
	if r.BudgetTimeouts < 1 || r.Breaker != "open" || b.reads.Load() > 2 {
		t.Fatalf("%+v, %d reads", r, b.reads.Load())
	}
}

func TestDetachedLoadsAreBounded(t *testing.T) {
	t.Parallel()
	c := newTestCache(t, memory.New(memory.Options{}), WithBackpressure(DefaultMaxBackendOps, 1), WithStampedeLock(false, 0, 0))
	gate := make(chan struct{})
	started := make(chan struct{}, 1)
	f := MustWrap1(c, func(_ context.Context, n int) (int, error) {
		if n == 0 {
			started <- struct{}{}
			<-gate
		}
		return n, nil
	}, Name(uniq(t)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := f.Call(ctx, 0); done <- err }()
	<-started
	cancel() // the caller gives up; its load stays detached, holding the only slot
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("abandoned call: %v", err)
	}
	// The next miss runs in its caller instead of piling up another load.
	if v, err := f.Call(context.Background(), 1); err != nil || v != 1 {
		t.Fatalf("Call = %v, %v", v, err)
	}
	if r := c.Info().Resilience; r.BackpressureSkips != 1 {
		t.Fatalf("%+v", r)
	}
	close(gate)
}

// lockFailing is a memory backend whose locks fail.
type lockFailing struct{ *memory.Backend }

func (lockFailing) AcquireLock(context.Context, string, time.Duration) (string, bool, error) {
	return "", false, errInjected
}

func TestStampedeLockAcrossCaches(t *testing.T) {
	t.Parallel()
	mem := memory.New(memory.Options{})
	name := Name(uniq(t))
	var runs atomic.Int32
	gate := make(chan struct{})
	fn := func(_ context.Context, n int) (int, error) {
		runs.Add(1)
		<-gate
		return n, nil
	}
	// Four caches over one backend stand for four processes: their flight
	// groups are separate, so only the backend's lock can keep the
	// function to one run.
	var fs []*Func1[int, int]
	for range 4 {
		fs = append(fs, MustWrap1(newTestCache(t, mem), fn, name))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for _, f := range fs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if v, err := f.Call(context.Background(), 7); err != nil || v != 7 {
				errs <- fmt.Errorf("Call = %v, %v", v, err)
			}
		}()
	}
	eventually(t, "the lock holder runs", func() bool { return runs.Load() == 1 })
	close(gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if runs.Load() != 1 {
		t.Fatalf("function ran %d times across 4 caches", runs.Load())
	}
	// One cache took the lock and ran the function; the others read its
	// result (after waiting for it, at once if they came late, or after
	// taking the lock it released and checking the backend again).
	var acquired, hits uint64
	for _, f := range fs {
		acquired += f.Cache().Info().Resilience.LockAcquired
		hits += f.Info().L2Hits
	}
	if acquired < 1 || hits != 3 {
		t.Fatalf("acquired %d, L2 hits %d", acquired, hits)
	}
}

func TestStampedeLockFailureFallsBack(t *testing.T) {
	t.Parallel()
	c := newTestCache(t, lockFailing{memory.New(memory.Options{})})
	var cnt counter
	f := wrapCounter(t, c, &cnt, Name(uniq(t)))
	if v, err := f.Call(context.Background(), 1); err != nil || v != "v0:1" {
		t.Fatalf("Call = %q, %v", v, err)
	}
	if r := c.Info().Resilience; r.LockFallbacks != 1 || r.LockAcquired != 0 {
		t.Fatalf("%+v", r)
	}
	// Without the lock option the lock is never asked for.
	c2 := newTestCache(t, lockFailing{memory.New(memory.Options{})}, WithStampedeLock(false, 0, 0))
	f2 := wrapCounter(t, c2, &cnt, Name(uniq(t)))
	if _, err := f2.Call(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	if r := c2.Info().Resilience; r.LockFallbacks != 0 {
		t.Fatalf("%+v", r)
	}
}

func TestResilienceOptionsValidate(t *testing.T) {
	t.Parallel()
	for i, o := range []Option{WithReadBudget(0), WithCircuitBreaker(0, time.Second), WithCircuitBreaker(1, 0),
		WithWriteQueue(0, 1), WithWriteQueue(1, 0), WithDrainTimeout(0), WithBackpressure(0, 1), WithBackpressure(1, 0),
		WithStampedeLock(true, -1, 0)} {
		if _, err := New(o); !errors.Is(err, ErrInvalidOption) {
			t.Errorf("option %d: %v", i, err)
		}
	}
}

// ttlCounting counts the reads of a backend by kind.
type ttlCounting struct {
	*memory.Backend
	gets, getWithTTLs, ttls atomic.Int32
}

func (b *ttlCounting) Get(ctx context.Context, key string) ([]byte, bool, error) {
	b.gets.Add(1)
	return b.Backend.Get(ctx, key)
}

func (b *ttlCounting) GetWithTTL(ctx context.Context, key string) ([]byte, time.Duration, bool, error) {
	b.getWithTTLs.Add(1)
	return b.Backend.GetWithTTL(ctx, key)
}

func (b *ttlCounting) TTL(ctx context.Context, key string) (time.Duration, bool, error) {
	b.ttls.Add(1)
	return b.Backend.TTL(ctx, key)
}

// An L2 hit asks for the remaining lifetime only when L1 (or
// stale-while-revalidate) needs it, and then in the same read.
func TestL2HitReadsTheLifetimeOnlyWhenNeeded(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name                string
		opts                []FuncOption
		gets, withTTL, ttls int32
	}{
		{"L1 off", []FuncOption{L1(false)}, 1, 0, 0},
		{"L1 on", nil, 0, 1, 0},
		{"L1 off, stale-while-revalidate", []FuncOption{L1(false), StaleWhileRevalidate(0.5)}, 0, 1, 0},
	} {
		b := &ttlCounting{Backend: memory.New(memory.Options{})}
		name := Name(uniq(t))
		var cnt counter
		writer := wrapCounter(t, newTestCache(t, b), &cnt, append([]FuncOption{name}, tc.opts...)...)
		if _, err := writer.Call(context.Background(), 1); err != nil {
			t.Fatal(err)
		}
		flushBackend(t, b)
		b.gets.Store(0)
		b.getWithTTLs.Store(0)
		b.ttls.Store(0)
		reader := wrapCounter(t, newTestCache(t, b, WithStampedeLock(false, 0, 0)), &cnt, append([]FuncOption{name}, tc.opts...)...)
		if _, err := reader.Call(context.Background(), 1); err != nil || reader.Info().L2Hits != 1 {
			t.Fatalf("%s: %v %+v", tc.name, err, reader.Info())
		}
		if b.gets.Load() != tc.gets || b.getWithTTLs.Load() != tc.withTTL || b.ttls.Load() != tc.ttls {
			t.Fatalf("%s: Get %d, GetWithTTL %d, TTL %d; want %d, %d, %d", tc.name,
				b.gets.Load(), b.getWithTTLs.Load(), b.ttls.Load(), tc.gets, tc.withTTL, tc.ttls)
		}
	}
}

// gatedSets is a memory backend whose writes wait for a gate.
type gatedSets struct {
	*memory.Backend
	gate chan struct{}
}

func (b *gatedSets) Set(ctx context.Context, key string, v []byte, ttl time.Duration) error {
	<-b.gate
	return b.Backend.Set(ctx, key, v, ttl)
}

// An invalidation is never undone by a write queued before it, and does not
// cost other keys their queued writes.
func TestInvalidateAfterQueuedWrite(t *testing.T) {
	t.Parallel()
	b := &gatedSets{Backend: memory.New(memory.Options{}), gate: make(chan struct{})}
	c := newTestCache(t, b, WithStampedeLock(false, 0, 0))
	var cnt counter
	f := wrapCounter(t, c, &cnt, Name(uniq(t)))
	ctx := context.Background()
	for n := range 3 {
		if _, err := f.Call(ctx, n); err != nil { // writes queued, held by the gate
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- f.Invalidate(ctx, 1) }()
	close(b.gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	flushBackend(t, b)
	for n, want := range map[int]bool{0: true, 1: false, 2: true} {
		k, _ := f.Key(n)
		if ok, _ := b.Exists(ctx, k); ok != want {
			t.Fatalf("key %d in the backend: %v, want %v", n, ok, want)
		}
	}
}

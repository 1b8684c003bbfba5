package cachekit

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/backend"
	"github.com/cachekit-go/cachekit/backend/memcached"
	"github.com/cachekit-go/cachekit/backend/memory"
	"github.com/cachekit-go/cachekit/backend/redis"
	"github.com/cachekit-go/cachekit/internal/testenv"
)

// A caller that missed L1 just before the previous shared load stored its
// result and left the flight group starts a new shared load; that load must
// answer from L1, not run the function (or read the backend) again. The
// window is replayed deterministically: the late caller's L1 lookup happens
// before the first call, its shared load after.
func TestLateMissAfterSharedLoad(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, k := range []backendKind{l1OnlyKind(), memoryKind()} {
		for _, bytesMode := range []bool{false, true} {
			c := newTestCache(t, k.make(t), WithL1Bytes(bytesMode))
			var cnt counter
			f := wrapCounter(t, c, &cnt, Name(uniq(t)))
			s, ok, err := f.callKey(ctx, 1)
			if err != nil || !ok {
				t.Fatal(ok, err)
			}
			if _, h := lookupTyped[string](c, &f.p, s.key); h != miss {
				t.Fatal("entry cached before the first call")
			}
			if v, err := f.Call(ctx, 1); err != nil || v != "v0:1" {
				t.Fatal(v, err)
			}
			v, err := fetch[string](ctx, c, &f.p, s, plainFunc[string](func(ctx context.Context) (string, error) { return cnt.fn(ctx, 1) }))
			if err != nil || v != "v0:1" {
				t.Fatalf("%s bytes=%v: late caller got %q %v", k.name, bytesMode, v, err)
			}
			if i := f.Info(); cnt.calls.Load() != 1 || i.L1Hits != 1 || i.Misses != 1 || i.L2Hits != 0 {
				t.Fatalf("%s bytes=%v: function ran %d times, info %+v", k.name, bytesMode, cnt.calls.Load(), i)
			}
		}
	}
}

// TTLs so long that now+TTL does not fit in Unix nanoseconds mean "no
// expiry" everywhere (they once overflowed into the past: L1 refused every
// entry, the memory backend failed every write and Redis refused the TTL).
func TestHugeTTL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, k := range []backendKind{l1OnlyKind(), memoryKind(), fileKind(), redisKind(), memcachedKind()} {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			b := k.make(t)
			for _, swr := range []float64{0, 0.99} {
				c := newTestCache(t, b)
				var cnt counter
				f := wrapCounter(t, c, &cnt, Name(uniq(t)), TTL(math.MaxInt64), StaleWhileRevalidate(swr))
				for range 3 {
					if v, err := f.Call(ctx, 1); err != nil || v != "v0:1" {
						t.Fatal(v, err)
					}
				}
				if i := f.Info(); cnt.calls.Load() != 1 || i.L1Hits != 2 || i.BackendErrors != 0 || i.Refreshes != 0 {
					t.Fatalf("swr=%v: function ran %d times, info %+v", swr, cnt.calls.Load(), i)
				}
				if _, exp, ok := c.l1.GetWithExpiry(mustKey(t, f, 1)); !ok || exp != 0 {
					t.Fatalf("L1 expiry %d, want 0 (never)", exp)
				}
			}
		})
	}
	if got := after(math.MaxInt64-5, 10); got != 0 {
		t.Fatalf("after overflowed to %d", got)
	}
}

// A backend entry without expiry (TTL inspection reports 0, true) fills L1
// for the function's TTL, not forever; for a NoExpiry function, forever.
func TestL1FillFromEntryWithoutExpiry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := fakeClock()
	b := memory.New(memory.Options{Now: clk.Now})
	writer := newTimed(t, clk, b)
	if err := writer.Set(ctx, "forever", "v", NoExpiry); err != nil {
		t.Fatal(err)
	}
	if rem, ok, _ := b.TTL(ctx, "forever"); !ok || rem != 0 {
		t.Fatalf("backend TTL %v %v, want no expiry", rem, ok)
	}
	for _, tt := range []struct {
		ttl  time.Duration
		want int64
	}{
		{time.Minute, clk.Now().Add(time.Minute).UnixNano()},
		{NoExpiry, 0},
	} {
		reader := newTimed(t, clk, b, WithTTL(tt.ttl))
		if v, err := Load(ctx, reader, "forever", func(context.Context) (string, error) { return "recomputed", nil }); err != nil || v != "v" {
			t.Fatalf("Load = %q %v", v, err)
		}
		if _, exp, ok := reader.l1.GetWithExpiry("forever"); !ok || exp != tt.want {
			t.Fatalf("TTL %v: L1 expiry %d, want %d", tt.ttl, exp, tt.want)
		}
	}
	// With stale-while-revalidate the copy becomes stale like a fresh write.
	reader := newTimed(t, clk, b, WithTTL(100*time.Second), WithStaleWhileRevalidate(0.5))
	if _, err := Load(ctx, reader, "forever", func(context.Context) (string, error) { return "recomputed", nil }); err != nil {
		t.Fatal(err)
	}
	e, _ := reader.l1.Get("forever")
	if want := clk.Now().Add(50 * time.Second).UnixNano(); e.refreshAt != want {
		t.Fatalf("refresh point %d, want %d", e.refreshAt, want)
	}
}

// Under FromEnv, WithTTL(0) restores CACHEKIT_DEFAULT_TTL (as documented),
// not DefaultTTL.
func TestWithTTLZeroRestoresEnvTTL(t *testing.T) {
	t.Parallel()
	env := mapEnv(map[string]string{EnvDefaultTTL: "10"})
	for _, tt := range []struct {
		opts []Option
		want time.Duration
	}{
		{nil, 10 * time.Second},
		{[]Option{WithTTL(time.Hour)}, time.Hour},
		{[]Option{WithTTL(time.Hour), WithTTL(0)}, 10 * time.Second},
		{[]Option{Dev(), WithTTL(0)}, 10 * time.Second},
		{[]Option{WithTTL(NoExpiry)}, NoExpiry},
	} {
		c, err := fromEnv(env, append([]Option{quiet()}, tt.opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		if c.ttl != tt.want {
			t.Errorf("%d options: TTL %v, want %v", len(tt.opts), c.ttl, tt.want)
		}
		_ = c.Close()
	}
	c, _ := New(quiet(), WithTTL(time.Hour), WithTTL(0))
	if c.ttl != DefaultTTL {
		t.Errorf("New: WithTTL(0) gave %v, want DefaultTTL", c.ttl)
	}
}

// The maximum value size applies to the bytes the backend would store as
// well as to the serialized value: incompressible data whose MessagePack
// fits but whose frame does not is not written (it would have been refused
// by a backend with that limit, failing on every call).
func TestMaxValueSizeCountsStoredBytes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	noise := make([]byte, 150)
	_, _ = rand.Read(noise)
	for _, k := range []backendKind{l1OnlyKind(), memoryKind()} {
		c := newTestCache(t, k.make(t), WithMaxValueSize(200))
		var calls atomic.Int32
		f, _ := Wrap0(c, func(context.Context) ([]byte, error) { calls.Add(1); return noise, nil }, Name(uniq(t)))
		for range 2 {
			if v, err := f.Call(ctx); err != nil || len(v) != len(noise) {
				t.Fatal(len(v), err)
			}
		}
		stored := calls.Load() == 1
		if wantStored := k.name == "l1-only"; stored != wantStored {
			t.Fatalf("%s: stored=%v (function ran %d times), want %v; info %+v", k.name, stored, calls.Load(), wantStored, f.Info())
		}
		if !stored && f.Info().TooLarge != 2 {
			t.Fatalf("%s: info %+v", k.name, f.Info())
		}
		if err := c.Set(ctx, uniq(t), noise, 0); stored != (err == nil) || (!stored && !errors.Is(err, ErrValueTooLarge)) {
			t.Fatalf("%s: Set = %v", k.name, err)
		}
	}
}

// A refresh whose result cannot be stored (here: too large) backs off like
// a failed one; without that, every hit on the still-stale entry started
// another refresh.
func TestUnstorableRefreshBacksOff(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := fakeClock()
	c := newTimed(t, clk, nil, WithMaxValueSize(64))
	var calls atomic.Int32
	f, _ := Wrap0(c, func(context.Context) ([]byte, error) {
		n := int(calls.Add(1))
		return make([]byte, 8*n*n), nil // 8, 32, 72 ... bytes
	}, Name(uniq(t)), TTL(100*time.Second), StaleWhileRevalidate(0.5))
	_, _ = f.Call(ctx)
	clk.Advance(60 * time.Second)
	_, _ = f.Call(ctx) // stale: one refresh, which computes 32 bytes: stored
	eventually(t, "first refresh", func() bool { return f.Info().Refreshes == 1 && !c.flights.InFlight(mustKey0(t, f)) })
	clk.Advance(60 * time.Second)
	_, _ = f.Call(ctx) // stale again: the refresh computes 72 bytes: too large
	eventually(t, "second refresh", func() bool { return f.Info().Refreshes == 2 && !c.flights.InFlight(mustKey0(t, f)) })
	for range 5 {
		if v, err := f.Call(ctx); err != nil || len(v) != 32 {
			t.Fatalf("stale value not served: %d bytes, %v", len(v), err)
		}
		eventually(t, "no refresh running", func() bool { return !c.flights.InFlight(mustKey0(t, f)) })
	}
	if n := calls.Load(); n != 3 {
		t.Fatalf("function ran %d times; an unstorable refresh must back off", n)
	}
	if i := f.Info(); i.TooLarge != 1 {
		t.Fatalf("info %+v", i)
	}
}

// The jittered refresh point stays within (0, TTL) whatever the ratio and
// the TTL, so an entry is refreshed before it expires.
func TestJitteredRefreshPointWithinTTL(t *testing.T) {
	t.Parallel()
	c := newTestCache(t, nil, WithStaleWhileRevalidate(0.5))
	for _, tt := range []struct {
		ttl time.Duration
		swr float64
	}{
		{100 * time.Second, 0.95},
		{100 * time.Second, 0.999},
		{time.Second, 0.5},
		{10 * time.Nanosecond, 0.5},
		{time.Nanosecond, 0.01},
		{math.MaxInt64, 0.999},
	} {
		p := &policy{ttl: tt.ttl, swr: tt.swr}
		lo := float64(tt.ttl) * tt.swr * (1 - RefreshJitter)
		for range 2_000 {
			d := c.jittered(p)
			if d <= 0 || (tt.ttl > 1 && d >= tt.ttl) || float64(d) < lo-1 {
				t.Fatalf("ttl %v ratio %v: refresh at %v", tt.ttl, tt.swr, d)
			}
		}
	}
}

// recordingBackend is a backend the cache owns (it has Close); it records
// writes that arrive after it was closed.
type recordingBackend struct {
	backend.Backend
	closed     atomic.Bool
	lateWrites atomic.Int32
}

func (r *recordingBackend) Set(ctx context.Context, key string, v []byte, ttl time.Duration) error {
	if r.closed.Load() {
		r.lateWrites.Add(1)
	}
	return r.Backend.Set(ctx, key, v, ttl)
}

func (r *recordingBackend) Close() error { r.closed.Store(true); return nil }

// Close waits for shared loads whose callers have gone and for background
// refreshes, so nothing the cache started touches the backend after Close
// closed it, and none of its goroutines outlive it. Not parallel: it counts
// goroutines.
func TestCloseWaitsForBackgroundWork(t *testing.T) {
	for _, work := range []string{"refresh", "abandoned load"} {
		t.Run(work, func(t *testing.T) {
			ctx := context.Background()
			base := runtime.NumGoroutine()
			rec := &recordingBackend{Backend: memory.New(memory.Options{})}
			clk := fakeClock()
			c, err := New(quiet(), withClock(clk), withJitter(0), withBackendFactory(func() (backend.Backend, error) { return rec, nil }))
			if err != nil {
				t.Fatal(err)
			}
			// Once gated, the function returns after Close has begun and
			// either Close closed the backend (it did not wait) or a
			// generous grace period passed.
			var gated atomic.Bool
			var entered atomic.Int32
			fn := func(_ context.Context, n int) (int, error) {
				if gated.Load() {
					entered.Add(1)
					for !c.closed.Load() {
						time.Sleep(time.Millisecond)
					}
					for deadline := time.Now().Add(200 * time.Millisecond); !rec.closed.Load() && time.Now().Before(deadline); {
						time.Sleep(time.Millisecond)
					}
				}
				return n, nil
			}
			f, _ := Wrap1(c, fn, Name(uniq(t)), TTL(100*time.Second), StaleWhileRevalidate(0.5))
			_, _ = f.Call(ctx, 1)
			gated.Store(true)
			key := mustKey(t, f, 1)
			if work == "refresh" {
				clk.Advance(60 * time.Second)
				_, _ = f.Call(ctx, 1) // stale: starts the refresh
			} else {
				_ = f.Invalidate(ctx, 1)
				gone, cancel := context.WithCancel(ctx)
				cancel()
				if _, err := f.Call(gone, 1); !errors.Is(err, context.Canceled) {
					t.Fatal(err)
				}
			}
			if !c.flights.InFlight(key) {
				t.Fatal("background work not running")
			}
			eventually(t, "the function to run", func() bool { return entered.Load() == 1 })
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			if !rec.closed.Load() {
				t.Fatal("Close did not close the backend it owns")
			}
			eventually(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= base })
			if n := rec.lateWrites.Load(); n != 0 {
				t.Fatalf("%d writes reached the backend after Close closed it", n)
			}
		})
	}
}

// closer is a backend whose Close has no result, like the Redis backend's.
type closer struct {
	backend.Backend
	closed bool
}

func (c *closer) Close() { c.closed = true }

// closeBackend (used by Close and by FromEnv when it fails after building a
// backend) closes backends with either Close signature; FromEnv once closed
// only those returning an error, leaking a Redis client.
func TestCloseBackendEitherSignature(t *testing.T) {
	t.Parallel()
	plain := &closer{Backend: memory.New(memory.Options{})}
	rec := &recordingBackend{Backend: memory.New(memory.Options{})}
	if err := closeBackend(plain); err != nil || !plain.closed {
		t.Fatalf("Close() not called: %v", err)
	}
	if err := closeBackend(rec); err != nil || !rec.closed.Load() {
		t.Fatalf("Close() error not called: %v", err)
	}
	if err := closeBackend(nil); err != nil {
		t.Fatal(err)
	}
	// The cache owns a factory-built backend and closes it; a WithBackend
	// one stays open.
	owned := &closer{Backend: memory.New(memory.Options{})}
	c, _ := New(quiet(), withBackendFactory(func() (backend.Backend, error) { return owned, nil }))
	_ = c.Close()
	given := &closer{Backend: memory.New(memory.Options{})}
	c, _ = New(quiet(), WithBackend(given))
	_ = c.Close()
	if !owned.closed || given.closed {
		t.Fatalf("owned closed %v, given closed %v", owned.closed, given.closed)
	}
}

// A caller arriving after Invalidate (or Clear) does not join a load that
// started before it: that load computed from the old source and its result
// is discarded, so handing it to the new caller would serve data the caller
// just invalidated.
func TestCallAfterInvalidateDoesNotJoinOlderLoad(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, how := range []string{"invalidate", "clear"} {
		c := newTestCache(t, memory.New(memory.Options{}))
		var version, calls atomic.Int32
		gate := make(chan struct{})
		f, _ := Wrap1(c, func(_ context.Context, n int) (int, error) {
			v := version.Load()
			if calls.Add(1) == 1 {
				<-gate // the first load read the old source and is slow
			}
			return int(v), nil
		}, Name(uniq(t)))
		first := make(chan int, 1)
		go func() { v, _ := f.Call(ctx, 1); first <- v }()
		eventually(t, "first load", func() bool { return calls.Load() == 1 })
		version.Store(1) // the source changes, then the entry is invalidated
		if how == "invalidate" {
			if err := f.Invalidate(ctx, 1); err != nil {
				t.Fatal(err)
			}
		} else if err := f.Clear(ctx); err != nil {
			t.Fatal(err)
		}
		// Bounded: joining the older load would wait for the gate.
		wait, cancel := context.WithTimeout(ctx, 5*time.Second)
		v, err := f.Call(wait, 1)
		cancel()
		close(gate)
		if err != nil || v != 1 {
			t.Fatalf("%s: call after it got %d %v, want the new version 1", how, v, err)
		}
		if v := <-first; v != 0 {
			t.Fatalf("%s: first caller got %d", how, v)
		}
		if v, _ := f.Call(ctx, 1); v != 1 {
			t.Fatalf("%s: the older load overwrote the entry: %d", how, v)
		}
	}
}

// New with no options: in process only, and silent (nothing logged through
// the default logger by creating it, using it and closing it). Not
// parallel: it swaps the default logger.
func TestNewIsSilentAndInProcess(t *testing.T) {
	rec := &logRecorder{}
	prev := slog.Default()
	slog.SetDefault(slog.New(rec))
	defer slog.SetDefault(prev)
	c, err := New()
	if err != nil {
		t.Fatal(err)
	}
	if c.Backend() != nil || c.be != nil {
		t.Fatalf("New() has a backend: %T", c.Backend())
	}
	var cnt counter
	f := wrapCounter(t, c, &cnt, Name(uniq(t)))
	for range 2 {
		if _, err := f.Call(context.Background(), 1); err != nil {
			t.Fatal(err)
		}
	}
	if ok, details := c.HealthCheck(context.Background()); !ok || details[backend.DetailBackendType] != "none" {
		t.Fatalf("health %v %v", ok, details)
	}
	_ = c.Close()
	if msgs := rec.all(); msgs != "" || cnt.calls.Load() != 1 {
		t.Fatalf("calls %d, logged:\n%s", cnt.calls.Load(), msgs)
	}
}

// CACHEKIT_REDIS_URL and REDIS_URL name one backend: both set is no
// conflict, and CACHEKIT_REDIS_URL wins (here REDIS_URL points nowhere).
func TestFromEnvRedisURLPrecedence(t *testing.T) {
	addr := testenv.Require(t, "CACHEKIT_TEST_REDIS_ADDR")
	t.Parallel()
	c, err := fromEnv(mapEnv(map[string]string{EnvRedisURL: "redis://" + addr, EnvRedisURLFallback: "redis://127.0.0.1:1"}), quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Set writes through and reports the backend's error (REDIS_URL's port
	// refuses connections); the entry must then be in the Redis at addr.
	// (Backend error counters are no proof: on a loaded machine a first read
	// can run out of its read budget.)
	ctx, key := context.Background(), uniq(t)
	if err := c.Set(ctx, key, 7, time.Minute); err != nil {
		t.Fatalf("Set: %v (REDIS_URL used?)", err)
	}
	raw, err := redis.New(redis.Options{Addrs: []string{addr}})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, found, err := raw.Get(ctx, key); err != nil || !found {
		t.Fatalf("the entry is not in CACHEKIT_REDIS_URL's Redis: found=%v err=%v", found, err)
	}
}

// CACHEKIT_MEMCACHED_SERVERS alone selects memcached, which the cache owns.
func TestFromEnvMemcached(t *testing.T) {
	servers := testenv.Require(t, "CACHEKIT_TEST_MEMCACHED_SERVERS")
	t.Parallel()
	c, err := fromEnv(mapEnv(map[string]string{EnvMemcachedServers: servers}), quiet())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Backend().(*memcached.Backend); !ok {
		t.Fatalf("backend %T", c.Backend())
	}
	key := uniq(t)
	if err := c.Set(context.Background(), key, "v", time.Minute); err != nil {
		t.Fatal(err)
	}
	if ok, err := c.Backend().Exists(context.Background(), key); !ok || err != nil {
		t.Fatalf("entry not in memcached: %v %v", ok, err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

// Interop functions use L1 like the others, in both L1 modes: the second
// call is an L1 hit with the same value (decoded through the interop codec
// in byte mode).
func TestInteropWithL1(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	type user struct {
		Name string `msgpack:"name"`
		Age  int    `msgpack:"age"`
	}
	for _, bytesMode := range []bool{false, true} {
		for _, k := range []backendKind{l1OnlyKind(), memoryKind()} {
			c := newTestCache(t, k.make(t), WithL1Bytes(bytesMode))
			var calls atomic.Int32
			f, err := Wrap1(c, func(_ context.Context, id int) (user, error) {
				calls.Add(1)
				return user{"alice", id}, nil
			}, Interop(fmt.Sprintf("edge%d", uniqSeq.Add(1)), "get_user"))
			if err != nil {
				t.Fatal(err)
			}
			for range 2 {
				if u, err := f.Call(ctx, 30); err != nil || u != (user{"alice", 30}) {
					t.Fatalf("%s bytes=%v: %+v %v", k.name, bytesMode, u, err)
				}
			}
			if i := f.Info(); calls.Load() != 1 || i.L1Hits != 1 || i.L1Bytes <= 0 {
				t.Fatalf("%s bytes=%v: calls %d info %+v", k.name, bytesMode, calls.Load(), i)
			}
		}
	}
}

// Info's average backend latency is the total over the count of backend
// operations, per wrapper and for the cache.
func TestAverageBackendLatency(t *testing.T) {
	t.Parallel()
	var cache, fn counters
	st := stats{cache: &cache, fn: &fn}
	st.backendOp(10 * time.Millisecond)
	st.backendOp(20 * time.Millisecond)
	stats{cache: &cache}.backendOp(60 * time.Millisecond)
	st.backendOp(-time.Millisecond) // a clock step backwards counts as 0
	if got := fn.snapshot().AvgBackendLatency; got != 10*time.Millisecond {
		t.Fatalf("wrapper average %v, want 10ms", got)
	}
	if got := cache.snapshot().AvgBackendLatency; got != 22500*time.Microsecond {
		t.Fatalf("cache average %v, want 22.5ms", got)
	}
	var none counters
	if got := none.snapshot().AvgBackendLatency; got != 0 {
		t.Fatalf("average without operations %v", got)
	}
}

// Close does not hang on a function that ignores its context: it waits for
// background work at most for the loader timeout, then says so and closes.
func TestCloseGivesUpOnRunawayLoad(t *testing.T) {
	t.Parallel()
	rec := &logRecorder{}
	c, err := New(WithLogger(slog.New(rec)), WithLoaderTimeout(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	gate := make(chan struct{})
	defer close(gate)
	var started atomic.Bool
	f, _ := Wrap0(c, func(context.Context) (int, error) { started.Store(true); <-gate; return 1, nil }, Name(uniq(t)))
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	_, _ = f.Call(gone)
	eventually(t, "the load to run", started.Load)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if rec.count("still running after the loader timeout") != 1 {
		t.Fatalf("log:\n%s", rec.all())
	}
}

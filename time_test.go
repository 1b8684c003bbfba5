package cachekit

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/backend"
	"github.com/cachekit-go/cachekit/backend/memory"
	"github.com/cachekit-go/cachekit/internal/clock"
)

// Time-dependent behaviour runs on a fake clock shared by the cache and (when
// there is one) the memory backend, in-process only and with the memory
// backend.
func timeKinds(clk *clock.Fake) []backendKind {
	return []backendKind{
		{"l1-only", func(*testing.T) backend.Backend { return nil }},
		{"memory", func(*testing.T) backend.Backend { return memory.New(memory.Options{Now: clk.Now}) }},
	}
}

func newTimed(t *testing.T, clk *clock.Fake, b backend.Backend, opts ...Option) *Cache {
	t.Helper()
	c, err := New(append([]Option{WithBackend(b), quiet(), withClock(clk), withJitter(0)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestExpiry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, name := range []string{"l1-only", "memory"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			clk := fakeClock()
			var b backend.Backend
			if name == "memory" {
				b = memory.New(memory.Options{Now: clk.Now})
			}
			c := newTimed(t, clk, b, WithTTL(time.Minute))
			var cnt counter
			f, _ := Wrap1(c, cnt.fn, Name(uniq(t)))
			g, _ := Wrap1(c, cnt.fn, Name(uniq(t)), TTL(10*time.Second))
			_, _ = f.Call(ctx, 1)
			_, _ = g.Call(ctx, 1)
			// The backend writes go through the write-behind queue: let them
			// land before the fake clock jumps (a queued write that read the
			// clock before the jump and wrote after it would live 11 s
			// longer than it should, which a real clock cannot do).
			if err := c.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			clk.Advance(11 * time.Second)
			_, _ = f.Call(ctx, 1)
			_, _ = g.Call(ctx, 1)
			if cnt.calls.Load() != 3 {
				t.Fatalf("after 11s: %d calls, want 3 (function TTL expired, cache TTL not)", cnt.calls.Load())
			}
			clk.Advance(50 * time.Second)
			_, _ = f.Call(ctx, 1)
			if cnt.calls.Load() != 4 {
				t.Fatalf("after 61s: %d calls, want 4", cnt.calls.Load())
			}
		})
	}
}

// A backend hit fills L1 with the backend's remaining TTL.
func TestL1FilledWithRemainingTTL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := fakeClock()
	b := memory.New(memory.Options{Now: clk.Now})
	writer := newTimed(t, clk, b)
	if err := writer.Set(ctx, "k", "v", 100*time.Second); err != nil {
		t.Fatal(err)
	}
	clk.Advance(70 * time.Second)
	reader := newTimed(t, clk, b, WithTTL(time.Hour))
	if v, found, err := Get[string](ctx, reader, "k"); err != nil || !found || v != "v" {
		t.Fatalf("Get = %q %v %v", v, found, err)
	}
	_, exp, ok := reader.l1.GetWithExpiry("k")
	if want := clk.Now().Add(30 * time.Second).UnixNano(); !ok || exp != want {
		t.Fatalf("L1 expiry %v, want the backend's %v", time.Unix(0, exp), time.Unix(0, want))
	}
	// A backend without TTL inspection: min(TTL, L1 max TTL).
	plain := struct{ backend.Backend }{b}
	r2 := newTimed(t, clk, plain, WithTTL(time.Hour), WithL1MaxTTL(5*time.Second))
	if _, found, _ := Get[string](ctx, r2, "k"); !found {
		t.Fatal("miss")
	}
	_, exp, _ = r2.l1.GetWithExpiry("k")
	if want := clk.Now().Add(5 * time.Second).UnixNano(); exp != want {
		t.Fatalf("uninspected L1 expiry %v, want %v", time.Unix(0, exp), time.Unix(0, want))
	}
}

func TestStaleWhileRevalidate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, k := range timeKinds(fakeClock()) {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			clk := fakeClock()
			var b backend.Backend
			if k.name == "memory" {
				b = memory.New(memory.Options{Now: clk.Now})
			}
			c := newTimed(t, clk, b)
			var cnt counter
			f, _ := Wrap1(c, cnt.fn, Name(uniq(t)), TTL(100*time.Second), StaleWhileRevalidate(0.5))
			if v, _ := f.Call(ctx, 1); v != "v0:1" {
				t.Fatal(v)
			}
			cnt.version.Store(1)
			clk.Advance(40 * time.Second)
			if v, _ := f.Call(ctx, 1); v != "v0:1" || f.Info().Refreshes != 0 {
				t.Fatalf("fresh entry: %q %+v", v, f.Info())
			}
			clk.Advance(20 * time.Second)
			if v, _ := f.Call(ctx, 1); v != "v0:1" {
				t.Fatalf("stale hit must return the current value, got %q", v)
			}
			eventually(t, "refresh", func() bool { return f.Info().Refreshes == 1 })
			if v, _ := f.Call(ctx, 1); v != "v1:1" {
				t.Fatalf("after refresh got %q", v)
			}
			if cnt.calls.Load() != 2 {
				t.Fatalf("function ran %d times", cnt.calls.Load())
			}
			// The refreshed entry has a full TTL again.
			clk.Advance(99 * time.Second)
			if _, exp, ok := c.l1.GetWithExpiry(mustKey(t, f, 1)); !ok || time.Unix(0, exp).Before(clk.Now()) {
				t.Fatal("refreshed entry did not get a new TTL")
			}
		})
	}
}

// Many stale hits start one refresh; an invalidation during the refresh is
// not undone by it.
func TestRefreshDedupAndInvalidation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := fakeClock()
	b := memory.New(memory.Options{Now: clk.Now})
	c := newTimed(t, clk, b)
	var calls atomic.Int32
	gate := make(chan struct{})
	var blocking atomic.Bool
	f, _ := Wrap1(c, func(_ context.Context, n int) (int, error) {
		v := calls.Add(1)
		if blocking.Load() {
			<-gate
		}
		return int(v), nil
	}, Name(uniq(t)), TTL(100*time.Second), StaleWhileRevalidate(0.5))
	if v, _ := f.Call(ctx, 1); v != 1 {
		t.Fatal(v)
	}
	blocking.Store(true)
	clk.Advance(60 * time.Second)
	for range 20 {
		if v, _ := f.Call(ctx, 1); v != 1 {
			t.Fatalf("stale hit returned %d", v)
		}
	}
	key := mustKey(t, f, 1)
	eventually(t, "refresh start", func() bool { return calls.Load() == 2 })
	if !c.flights.InFlight(key) {
		t.Fatal("no refresh in flight")
	}
	if err := f.Invalidate(ctx, 1); err != nil {
		t.Fatal(err)
	}
	close(gate)
	// Invalidate made the flight group forget the refresh: wait for its
	// discarded result instead.
	eventually(t, "refresh end", func() bool { return f.Info().Discarded == 1 })
	if calls.Load() != 2 {
		t.Fatalf("%d refreshes ran for 20 stale hits", calls.Load()-1)
	}
	if f.Info().Discarded != 1 {
		t.Fatalf("refresh result not discarded: %+v", f.Info())
	}
	if ok, _ := b.Exists(ctx, key); ok {
		t.Fatal("refresh re-created the invalidated backend entry")
	}
	if _, ok := c.l1.Get(key); ok {
		t.Fatal("refresh re-created the invalidated L1 entry")
	}
	blocking.Store(false)
	if v, _ := f.Call(ctx, 1); v != 3 {
		t.Fatalf("after invalidation got %d, want a fresh computation (3)", v)
	}
}

// A failed refresh (an error, or a panic, which is recovered) keeps the old
// value serving until it expires, and backs off instead of retrying on every
// hit.
func TestFailedRefreshServesOldValue(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	boom := errors.New("source down")
	for _, how := range []string{"error", "panic"} {
		clk := fakeClock()
		c := newTimed(t, clk, nil)
		var fail atomic.Bool
		f, _ := Wrap0(c, func(context.Context) (string, error) {
			switch {
			case !fail.Load():
				return "good", nil
			case how == "panic":
				panic("refresh blew up")
			}
			return "", boom
		}, Name(uniq(t)), TTL(100*time.Second), StaleWhileRevalidate(0.5))
		_, _ = f.Call(ctx)
		fail.Store(true)
		clk.Advance(60 * time.Second)
		if v, err := f.Call(ctx); v != "good" || err != nil {
			t.Fatalf("%s: stale hit: %q %v", how, v, err)
		}
		eventually(t, "failed refresh", func() bool { return f.Info().RefreshErrors == 1 })
		eventually(t, "refresh end", func() bool { return !c.flights.InFlight(mustKey0(t, f)) })
		// Backoff: the next hits do not retry immediately.
		for range 5 {
			if v, _ := f.Call(ctx); v != "good" {
				t.Fatalf("%s: old value not served: %q", how, v)
			}
			eventually(t, "refresh end", func() bool { return !c.flights.InFlight(mustKey0(t, f)) })
		}
		if f.Info().RefreshErrors != 1 {
			t.Fatalf("%s: refresh retried without backoff: %+v", how, f.Info())
		}
		clk.Advance(41 * time.Second)
		var pe *PanicError
		if _, err := f.Call(ctx); !errors.Is(err, boom) && !errors.As(err, &pe) {
			t.Fatalf("%s: after expiry: %v", how, err)
		}
	}
}

func TestDefaultTTLFromEnv(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := fakeClock()
	c, err := fromEnv(mapEnv(map[string]string{EnvDefaultTTL: "10"}), quiet(), withClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var cnt counter
	f, _ := Wrap1(c, cnt.fn, Name(uniq(t)))
	g, _ := Wrap1(c, cnt.fn, Name(uniq(t)), TTL(time.Minute))
	_, _ = f.Call(ctx, 1)
	_, _ = g.Call(ctx, 1)
	clk.Advance(11 * time.Second)
	_, _ = f.Call(ctx, 1)
	_, _ = g.Call(ctx, 1)
	if cnt.calls.Load() != 3 {
		t.Fatalf("CACHEKIT_DEFAULT_TTL not applied (or overrode TTL): %d calls", cnt.calls.Load())
	}
}

func mustKey0[R any](t *testing.T, f *Func0[R]) string {
	t.Helper()
	k, err := f.Key()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mapEnv(m map[string]string) lookupFunc {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// At most MaxConcurrentRefreshes background refreshes run at once; stale hits
// beyond that are served without starting one.
func TestRefreshesAreBounded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := fakeClock()
	c := newTimed(t, clk, nil)
	var running atomic.Int32
	gate := make(chan struct{})
	var blocking atomic.Bool
	f, _ := Wrap1(c, func(_ context.Context, n int) (int, error) {
		if blocking.Load() {
			running.Add(1)
			<-gate
		}
		return n, nil
	}, Name(uniq(t)), TTL(100*time.Second), StaleWhileRevalidate(0.5))
	const keys = MaxConcurrentRefreshes + 10
	for i := range keys {
		_, _ = f.Call(ctx, i)
	}
	blocking.Store(true)
	clk.Advance(60 * time.Second)
	for i := range keys {
		if v, _ := f.Call(ctx, i); v != i {
			t.Fatalf("stale hit %d returned %d", i, v)
		}
	}
	eventually(t, "refreshes", func() bool { return running.Load() == MaxConcurrentRefreshes })
	close(gate)
	eventually(t, "refreshes end", func() bool { return f.Info().Refreshes == MaxConcurrentRefreshes })
	if n := running.Load(); n != MaxConcurrentRefreshes {
		t.Fatalf("%d refreshes ran, bound is %d", n, MaxConcurrentRefreshes)
	}
}

// The shared call has its own deadline (WithLoaderTimeout), whatever the
// callers' contexts say.
func TestLoaderTimeout(t *testing.T) {
	t.Parallel()
	c, _ := New(quiet(), WithLoaderTimeout(20*time.Millisecond))
	f, _ := Wrap0(c, func(ctx context.Context) (int, error) {
		<-ctx.Done()
		return 0, ctx.Err()
	}, Name(uniq(t)))
	if _, err := f.Call(context.Background()); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v", err)
	}
}

// L1(false) for one function: every hit comes from the backend.
func TestPerFunctionL1Off(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, _ := New(quiet(), WithBackend(memory.New(memory.Options{})))
	var cnt counter
	f, _ := Wrap1(c, cnt.fn, Name(uniq(t)), L1(false))
	for range 3 {
		_, _ = f.Call(ctx, 1)
		_ = c.Flush(ctx) // the backend write is made in the background
	}
	if i := f.Info(); i.L2Hits != 2 || i.L1Hits != 0 || cnt.calls.Load() != 1 {
		t.Fatalf("info %+v calls %d", i, cnt.calls.Load())
	}
}

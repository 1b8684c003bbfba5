package cachekit

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/backend"
	"github.com/cachekit-go/cachekit/protocol/codec"
	"github.com/cachekit-go/cachekit/protocol/envelope"
	"github.com/cachekit-go/cachekit/protocol/frame"
)

// TestCacheSuite runs the behaviour suite of the cache against every
// backend: in-process only, the memory backend and a real Redis (which
// fails under CI=true when the test command did not start one).
func TestCacheSuite(t *testing.T) {
	t.Parallel()
	for _, k := range allKinds() {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			runCacheSuite(t, k.make)
		})
	}
}

func runCacheSuite(t *testing.T, newBackend func(t *testing.T) backend.Backend) {
	ctx := context.Background()
	// A cache whose invalidation channel is confirmed after New stopped
	// waiting for it (a loaded machine) flushes L1 when it comes up, as it
	// must: the suite's counts of function runs start once it is settled.
	newCache := func(t *testing.T, b backend.Backend, opts ...Option) *Cache {
		t.Helper()
		c := newTestCache(t, b, opts...)
		for end := time.Now().Add(5 * time.Second); c.Info().Coherence.State == "down" && time.Now().Before(end); {
			time.Sleep(10 * time.Millisecond)
		}
		return c
	}
	wrap := func(t *testing.T, c *Cache, cnt *counter, opts ...FuncOption) *Func1[int, string] {
		t.Helper()
		return wrapCounter(t, c, cnt, append([]FuncOption{Name(uniq(t))}, opts...)...)
	}
	call := func(t *testing.T, f *Func1[int, string], n int) string {
		t.Helper()
		v, err := f.Call(ctx, n)
		if err != nil {
			t.Fatalf("Call(%d): %v", n, err)
		}
		return v
	}

	t.Run("miss then hit", func(t *testing.T) {
		t.Parallel()
		c := newCache(t, newBackend(t))
		var cnt counter
		f := wrap(t, c, &cnt)
		if a, b := call(t, f, 1), call(t, f, 1); a != b || a != "v0:1" {
			t.Fatalf("results %q %q", a, b)
		}
		if cnt.calls.Load() != 1 {
			t.Fatalf("function ran %d times", cnt.calls.Load())
		}
		i := f.Info()
		if i.Misses != 1 || i.Hits != 1 || i.L1Hits != 1 || i.L1Entries < 1 || i.L1Bytes <= 0 {
			t.Fatalf("info %+v", i)
		}
		if ci := c.Info(); ci.Hits < 1 || ci.Misses < 1 {
			t.Fatalf("cache info %+v", ci)
		}
	})

	t.Run("L2 hit from another process", func(t *testing.T) {
		t.Parallel()
		b := newBackend(t)
		if b == nil {
			t.Skip("no backend")
		}
		name := Name(uniq(t))
		var cnt counter
		f1 := wrap(t, newCache(t, b), &cnt, name)
		f2 := wrap(t, newCache(t, b), &cnt, name)
		call(t, f1, 7)
		if v := call(t, f2, 7); v != "v0:7" {
			t.Fatalf("got %q", v)
		}
		if cnt.calls.Load() != 1 {
			t.Fatalf("function ran %d times", cnt.calls.Load())
		}
		if i := f2.Info(); i.L2Hits != 1 || i.Hits != 1 || i.AvgBackendLatency <= 0 {
			t.Fatalf("info %+v", i)
		}
		// Over a backend with an invalidation channel, f1's announcement of
		// its store may reach f2 just after f2 read the entry: f2 then
		// drops (or never keeps) that copy and reads the backend once more.
		for range 3 {
			if call(t, f2, 7); f2.Info().L1Hits >= 1 {
				break
			}
		}
		if i := f2.Info(); i.L1Hits != 1 {
			t.Fatalf("later reads not from L1: %+v", i)
		}
	})

	t.Run("errors are not cached, nil and zero are", func(t *testing.T) {
		t.Parallel()
		c := newCache(t, newBackend(t))
		var calls atomic.Int32
		boom := errors.New("boom")
		f, err := Wrap1(c, func(_ context.Context, n int) (*int, error) {
			if calls.Add(1) == 1 {
				return nil, boom
			}
			return nil, nil
		}, Name(uniq(t)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Call(ctx, 1); !errors.Is(err, boom) {
			t.Fatalf("first call: %v", err)
		}
		for range 2 {
			if v, err := f.Call(ctx, 1); err != nil || v != nil {
				t.Fatalf("got %v, %v", v, err)
			}
		}
		if calls.Load() != 2 {
			t.Fatalf("function ran %d times, want 2 (error not cached, nil cached)", calls.Load())
		}
		z, _ := Wrap0(c, func(context.Context) (int, error) { calls.Add(1); return 0, nil }, Name(uniq(t)))
		_, _ = z.Call(ctx)
		_, _ = z.Call(ctx)
		if calls.Load() != 3 {
			t.Fatal("zero result not cached")
		}
	})

	t.Run("stampede runs the function once", func(t *testing.T) {
		t.Parallel()
		c := newCache(t, newBackend(t))
		var calls, started atomic.Int32
		release := make(chan struct{})
		f, _ := Wrap1(c, func(_ context.Context, n int) (int, error) {
			calls.Add(1)
			<-release
			return n * 2, nil
		}, Name(uniq(t)))
		const n = 16
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				started.Add(1)
				v, err := f.Call(ctx, 21)
				if err == nil && v != 42 {
					err = errors.New("wrong value")
				}
				errs <- err
			}()
		}
		eventually(t, "callers", func() bool { return started.Load() == n && c.flights.InFlight(mustKey(t, f, 21)) })
		close(release)
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if calls.Load() != 1 {
			t.Fatalf("function ran %d times for %d concurrent callers", calls.Load(), n)
		}
		// One run is one miss; the callers that waited for it are coalesced
		// (or, if they looked after it finished, hits).
		if i := f.Info(); i.Misses != 1 || i.Coalesced+i.Hits != n-1 || i.Coalesced == 0 {
			t.Fatalf("one run for %d callers counted as %+v", n, i)
		}
	})

	t.Run("waiter cancellation and panics", func(t *testing.T) {
		t.Parallel()
		c := newCache(t, newBackend(t))
		release := make(chan struct{})
		var sawCancel atomic.Bool
		f, _ := Wrap1(c, func(ctx context.Context, n int) (int, error) {
			<-release
			sawCancel.Store(ctx.Err() != nil)
			if n < 0 {
				panic("negative")
			}
			return n, nil
		}, Name(uniq(t)))
		cctx, cancel := context.WithCancel(ctx)
		first := make(chan error, 1)
		go func() { _, err := f.Call(cctx, 5); first <- err }()
		eventually(t, "load", func() bool { return c.flights.InFlight(mustKey(t, f, 5)) })
		second := make(chan int, 1)
		go func() { v, _ := f.Call(ctx, 5); second <- v }()
		cancel()
		if err := <-first; !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled waiter got %v", err)
		}
		close(release)
		if v := <-second; v != 5 {
			t.Fatalf("other waiter got %d", v)
		}
		if sawCancel.Load() {
			t.Fatal("shared call saw a waiter's cancellation")
		}
		var pe *PanicError
		if _, err := f.Call(ctx, -1); !errors.As(err, &pe) || pe.Value != "negative" {
			t.Fatalf("panic: %v", err)
		}
	})

	t.Run("invalidate honours namespace and custom keys", func(t *testing.T) {
		t.Parallel()
		c := newCache(t, newBackend(t), WithNamespace("suite"))
		custom := "custom:" + uniq(t) // no '/': the HTTP API allows [A-Za-z0-9_.:-] only
		variants := map[string][]FuncOption{
			"auto":      nil,
			"namespace": {Namespace("other")},
			"keyfunc": {KeyFunc(func(args []any) (string, error) {
				return custom + ":" + string(rune('a'+args[0].(int))), nil
			})},
			"interop": {Interop("suite", "get_thing")},
		}
		for name, opts := range variants {
			var cnt counter
			f := wrap(t, c, &cnt, opts...)
			call(t, f, 1)
			call(t, f, 2)
			cnt.version.Store(1)
			if err := f.Invalidate(ctx, 1); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if v := call(t, f, 1); v != "v1:1" {
				t.Fatalf("%s: after Invalidate(1) got %q", name, v)
			}
			if v := call(t, f, 2); v != "v0:2" {
				t.Fatalf("%s: Invalidate(1) touched 2: %q", name, v)
			}
			if b := c.Backend(); b != nil {
				k := mustKey(t, f, 1)
				flushBackend(t, b)
				if ok, _ := b.Exists(ctx, k); !ok {
					t.Fatalf("%s: recomputed entry not in backend under %q", name, k)
				}
			}
		}
	})

	t.Run("clear", func(t *testing.T) {
		t.Parallel()
		b := newBackend(t)
		c := newCache(t, b)
		var cnt, other counter
		f := wrap(t, c, &cnt)
		g := wrap(t, c, &other)
		for i := range 3 {
			call(t, f, i)
		}
		call(t, g, 1)
		err := f.Clear(ctx)
		_, canPrefix := b.(backend.PrefixDeleter)
		switch {
		case b == nil || canPrefix:
			if err != nil {
				t.Fatal(err)
			}
		default:
			if !errors.Is(err, ErrClearUnsupported) {
				t.Fatalf("Clear on %T: %v", b, err)
			}
			for i := range 3 {
				_, _ = b.Delete(ctx, mustKey(t, f, i))
			}
		}
		cnt.version.Store(1)
		for i := range 3 {
			if v := call(t, f, i); v != "v1:"+string(rune('0'+i)) {
				t.Fatalf("entry %d survived Clear: %q", i, v)
			}
		}
		call(t, g, 1)
		if other.calls.Load() != 1 {
			t.Fatal("Clear removed another function's entry")
		}
	})

	t.Run("stored bytes are Python's auto-mode format", func(t *testing.T) {
		t.Parallel()
		b := newBackend(t)
		if b == nil {
			t.Skip("no backend")
		}
		c := newCache(t, b)
		type user struct {
			Name string `msgpack:"name"`
			Age  int    `msgpack:"age"`
		}
		f, _ := Wrap1(c, func(_ context.Context, id int) (user, error) { return user{"alice", id}, nil }, Name("__main__.get_user"))
		if _, err := f.Call(ctx, 30); err != nil {
			t.Fatal(err)
		}
		k := mustKey(t, f, 30)
		flushBackend(t, b)
		stored, found, err := b.Get(ctx, k)
		if err != nil || !found {
			t.Fatalf("entry %q not in backend: %v", k, err)
		}
		h, payload, err := frame.Decode(stored)
		if err != nil || h != frame.DefaultHeader(true) {
			t.Fatalf("frame %+v %v", h, err)
		}
		raw, err := envelope.Unpack(payload)
		if err != nil {
			t.Fatal(err)
		}
		v, err := codec.Decode(raw)
		if err != nil {
			t.Fatal(err)
		}
		m, _ := v.(map[string]any)
		if m["name"] != "alice" || m["age"] != int64(30) {
			t.Fatalf("decoded %#v", v)
		}
	})

	t.Run("interop key and value", func(t *testing.T) {
		t.Parallel()
		b := newBackend(t)
		c := newCache(t, b)
		f, err := Wrap1(c, func(_ context.Context, id int) (map[string]any, error) {
			return map[string]any{"name": "alice", "age": 30}, nil
		}, Interop("users", "get_user"))
		if err != nil {
			t.Fatal(err)
		}
		k := mustKey(t, f, 42)
		if want := "users:get_user:61598716255080080f6456eb065c2e51badfaa4320b0efe97469c29cffee8875"; k != want {
			t.Fatalf("key %q, want %q", k, want)
		}
		if b == nil {
			return
		}
		_, _ = b.Delete(ctx, k)
		if _, err := f.Call(ctx, 42); err != nil {
			t.Fatal(err)
		}
		flushBackend(t, b)
		stored, _, _ := b.Get(ctx, k)
		if want := "82a36167651ea46e616d65a5616c696365"; hexOf(stored) != want {
			t.Fatalf("stored %s, want the canonical document %s", hexOf(stored), want)
		}
	})

	t.Run("fail open on backend errors", func(t *testing.T) {
		t.Parallel()
		inner := newBackend(t)
		if inner == nil {
			t.Skip("no backend")
		}
		fb := &faulty{Backend: inner}
		fb.failGet.Store(true)
		fb.failSet.Store(true)
		rec := &logRecorder{}
		c := newCache(t, fb, WithLogger(slogNew(rec)), WithL1(false))
		var cnt counter
		f := wrap(t, c, &cnt)
		for range 2 {
			if v := call(t, f, 3); v != "v0:3" {
				t.Fatalf("got %q", v)
			}
		}
		flushBackend(t, fb)
		i := f.Info()
		if i.BackendErrors != 4 || i.Misses != 2 || cnt.calls.Load() != 2 {
			t.Fatalf("info %+v, calls %d", i, cnt.calls.Load())
		}
		// The first failure is logged; the next ones are summarized later
		// (at most one line per FailureLogInterval), not one line each.
		if rec.count("backend operation failed") != 1 {
			t.Fatalf("log:\n%s", rec.all())
		}
		fb.failGet.Store(false)
		fb.failSet.Store(false)
		call(t, f, 3)
		flushBackend(t, fb)
		call(t, f, 3)
		if cnt.calls.Load() != 3 {
			t.Fatal("cache did not recover after the backend did")
		}
		fb.failDelete.Store(true)
		if err := f.Invalidate(ctx, 3); !errors.Is(err, backend.ErrTransient) {
			t.Fatalf("Invalidate must report the backend error: %v", err)
		}
	})

	t.Run("uncacheable arguments run uncached, warned once", func(t *testing.T) {
		t.Parallel()
		rec := &logRecorder{}
		c := newCache(t, newBackend(t), WithLogger(slogNew(rec)))
		var calls atomic.Int32
		f, _ := Wrap1(c, func(_ context.Context, ch chan int) (int, error) { calls.Add(1); return 1, nil }, Name(uniq(t)))
		ch := make(chan int)
		for range 3 {
			if _, err := f.Call(ctx, ch); err != nil {
				t.Fatal(err)
			}
		}
		if calls.Load() != 3 || f.Info().Bypassed != 3 {
			t.Fatalf("calls %d, info %+v", calls.Load(), f.Info())
		}
		if n := rec.count("cannot be encoded into a cache key"); n != 1 {
			t.Fatalf("warned %d times", n)
		}
		if err := f.Invalidate(ctx, ch); !errors.Is(err, ErrUncacheableArguments) {
			t.Fatalf("Invalidate: %v", err)
		}
	})

	t.Run("values above the size limit are returned, not stored", func(t *testing.T) {
		t.Parallel()
		rec := &logRecorder{}
		// The limit counts the stored bytes too (a frame adds ~160 bytes),
		// so it must leave room for them.
		c := newCache(t, newBackend(t), WithMaxValueSize(512), WithLogger(slogNew(rec)))
		var calls atomic.Int32
		f, _ := Wrap1(c, func(_ context.Context, n int) ([]byte, error) { calls.Add(1); return make([]byte, n), nil }, Name(uniq(t)))
		for range 2 {
			if v, err := f.Call(ctx, 1000); err != nil || len(v) != 1000 {
				t.Fatalf("got %d bytes, %v", len(v), err)
			}
		}
		_, _ = f.Call(ctx, 4)
		_, _ = f.Call(ctx, 4)
		if calls.Load() != 3 || f.Info().TooLarge != 2 {
			t.Fatalf("calls %d, info %+v", calls.Load(), f.Info())
		}
		if rec.count("exceeds the maximum value size") != 1 {
			t.Fatalf("log:\n%s", rec.all())
		}
		if err := c.Set(ctx, uniq(t), make([]byte, 1000), 0); !errors.Is(err, ErrValueTooLarge) {
			t.Fatalf("Set: %v", err)
		}
	})

	t.Run("bypass", func(t *testing.T) {
		t.Parallel()
		c := newCache(t, newBackend(t))
		var cnt counter
		f := wrap(t, c, &cnt)
		call(t, f, 1)
		cnt.version.Store(1)
		if v, _ := f.Call(Bypass(ctx), 1); v != "v1:1" {
			t.Fatalf("bypassed call got %q", v)
		}
		if v := call(t, f, 1); v != "v0:1" {
			t.Fatalf("bypass overwrote the entry: %q", v)
		}
		var cnt2 counter
		g := wrap(t, c, &cnt2, BypassAlways())
		call(t, g, 1)
		call(t, g, 1)
		if cnt2.calls.Load() != 2 || g.Info().Bypassed != 2 {
			t.Fatal("BypassAlways cached")
		}
	})

	t.Run("Load and the direct API", func(t *testing.T) {
		t.Parallel()
		c := newCache(t, newBackend(t))
		key := uniq(t)
		var calls atomic.Int32
		loader := func(context.Context) ([]string, error) { calls.Add(1); return []string{"a", "b"}, nil }
		for range 2 {
			v, err := Load(ctx, c, key, loader)
			if err != nil || len(v) != 2 || v[1] != "b" {
				t.Fatalf("Load = %v, %v", v, err)
			}
		}
		if calls.Load() != 1 {
			t.Fatal("Load ran the loader twice")
		}
		if ok, err := c.Exists(ctx, key); !ok || err != nil {
			t.Fatalf("Exists = %v %v", ok, err)
		}
		k2 := uniq(t)
		if err := c.Set(ctx, k2, map[string]int{"x": 1}, time.Minute); err != nil {
			t.Fatal(err)
		}
		m, found, err := Get[map[string]int](ctx, c, k2)
		if err != nil || !found || m["x"] != 1 {
			t.Fatalf("Get = %v %v %v", m, found, err)
		}
		if _, found, _ := Get[int](ctx, c, uniq(t)); found {
			t.Fatal("Get found a missing key")
		}
		if ok, err := c.Delete(ctx, k2); !ok || err != nil {
			t.Fatalf("Delete = %v %v", ok, err)
		}
		if ok, _ := c.Exists(ctx, k2); ok {
			t.Fatal("key exists after Delete")
		}
		if b := c.Backend(); b != nil {
			flushBackend(t, b)
			c2 := newCache(t, b)
			if v, found, err := Get[[]string](ctx, c2, key); err != nil || !found || len(v) != 2 {
				t.Fatalf("Get from backend = %v %v %v", v, found, err)
			}
		}
	})

	t.Run("L1 bytes mode isolates callers", func(t *testing.T) {
		t.Parallel()
		c := newCache(t, newBackend(t), WithL1Bytes(true))
		f, _ := Wrap0(c, func(context.Context) ([]int, error) { return []int{1, 2, 3}, nil }, Name(uniq(t)))
		v, _ := f.Call(ctx)
		v[0] = 99
		w, _ := f.Call(ctx)
		if w[0] != 1 || f.Info().L1Hits != 1 {
			t.Fatalf("mutation leaked into the cache: %v (%+v)", w, f.Info())
		}
	})

	t.Run("L1 copy never outlives the backend entry", func(t *testing.T) {
		t.Parallel()
		b := newBackend(t)
		if b == nil {
			t.Skip("no backend")
		}
		writer := newCache(t, b)
		key := uniq(t)
		if err := writer.Set(ctx, key, "short-lived", 5*time.Second); err != nil {
			t.Fatal(err)
		}
		reader := newCache(t, b, WithTTL(time.Hour))
		before := time.Now()
		if v, err := Load(ctx, reader, key, func(context.Context) (string, error) { return "recomputed", nil }); err != nil || v != "short-lived" {
			t.Fatalf("Load = %q %v", v, err)
		}
		_, exp, ok := reader.l1.GetWithExpiry(key)
		if !ok {
			t.Fatal("L1 not filled on a backend hit")
		}
		// Backends report remaining lifetimes at their own granularity
		// (memcached: whole seconds), so allow one second above 5 s; the
		// configured TTL is an hour.
		limit := before.Add(6 * time.Second)
		if _, inspects := b.(backend.TTLInspector); !inspects {
			limit = before.Add(DefaultL1MaxTTL + time.Second)
		}
		if time.Unix(0, exp).After(limit) {
			t.Fatalf("L1 expiry %v is after the backend entry's %v", time.Unix(0, exp), limit)
		}
	})

	t.Run("close", func(t *testing.T) {
		t.Parallel()
		c := newCache(t, newBackend(t))
		var cnt counter
		f := wrap(t, c, &cnt)
		call(t, f, 1)
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		call(t, f, 1)
		if cnt.calls.Load() != 2 {
			t.Fatal("closed cache served from the cache")
		}
		if err := c.Set(ctx, "k", 1, 0); !errors.Is(err, ErrClosed) {
			t.Fatalf("Set after Close: %v", err)
		}
	})
}

func mustKey[A, R any](t *testing.T, f *Func1[A, R], a A) string {
	t.Helper()
	k, err := f.Key(a)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

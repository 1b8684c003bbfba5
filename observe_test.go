package cachekit

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/backend/memory"
)

// eventRecorder is an Observer that keeps every event.
type eventRecorder struct {
	mu    sync.Mutex
	calls []CallEvent
	ops   []BackendEvent
}

func (r *eventRecorder) ObserveCall(e CallEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, e)
}

func (r *eventRecorder) ObserveBackend(e BackendEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ops = append(r.ops, e)
}

// results returns the results of the calls of fn seen so far, in order.
func (r *eventRecorder) results(fn string) []CallResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []CallResult
	for _, e := range r.calls {
		if e.Function == fn {
			out = append(out, e.Result)
		}
	}
	return out
}

func equalResults(a, b []CallResult) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A scripted workload through two caches over one backend reports every
// kind of call result, with the wrapper's name, and the backend operations.
func TestObserverCallResults(t *testing.T) {
	ctx := context.Background()
	be := memory.New(memory.Options{})
	rec := &eventRecorder{}
	c1 := newTestCache(t, be, WithObserver(rec))
	c2 := newTestCache(t, be, WithObserver(rec))
	fail := errors.New("boom")
	fn := func(_ context.Context, n int) (int, error) {
		if n < 0 {
			return 0, fail
		}
		return n * 2, nil
	}
	f1 := MustWrap1(c1, fn, Name("double"))
	f2 := MustWrap1(c2, fn, Name("double"))

	mustCall := func(f *Func1[int, int], ctx context.Context, n int) {
		t.Helper()
		if v, err := f.Call(ctx, n); err != nil || v != n*2 {
			t.Fatalf("Call(%d) = %d, %v", n, v, err)
		}
	}
	mustCall(f1, ctx, 1) // miss
	mustCall(f1, ctx, 1) // L1 hit
	if err := c1.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	mustCall(f2, ctx, 1)                                   // L2 hit
	mustCall(f1, Bypass(ctx), 1)                           // bypass
	if _, err := f1.Call(ctx, -1); !errors.Is(err, fail) { // error
		t.Fatal(err)
	}
	want := []CallResult{CallMiss, CallL1Hit, CallL2Hit, CallBypass, CallError}
	if got := rec.results("double"); !equalResults(got, want) {
		t.Fatalf("results %v, want %v", got, want)
	}
	for _, e := range rec.calls {
		if e.Ctx == nil {
			t.Fatal("event without a context")
		}
		if e.Result != CallBypass && (e.Start.IsZero() || e.Duration < 0) {
			t.Fatalf("%v event without a start: %+v", e.Result, e)
		}
	}
	// Load reports under LoadFunction.
	if _, err := Load(ctx, c1, "plain", func(context.Context) (string, error) { return "v", nil }); err != nil {
		t.Fatal(err)
	}
	if got := rec.results(LoadFunction); !equalResults(got, []CallResult{CallMiss}) {
		t.Fatalf("Load results %v", got)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	ops := map[string]int{}
	for _, e := range rec.ops {
		if e.Backend != "memory" || e.Outcome != BackendOK || e.Start.IsZero() {
			t.Fatalf("backend event %+v", e)
		}
		ops[e.Op]++
	}
	// At least one read per miss (1 and -1 by c1, Load's) and c2's read of
	// 1 (a miss may read again under the stampede lock); the writes are
	// behind, the first one landed (Flush).
	if ops["get"] < 4 || ops["set"] < 1 || ops["lock"] > 3 {
		t.Fatalf("backend operations %v; want at least 4 get and 1 set, at most 3 lock", ops)
	}
}

// Callers that join another caller's load are reported as coalesced.
func TestObserverCoalesced(t *testing.T) {
	ctx := context.Background()
	rec := &eventRecorder{}
	c := newTestCache(t, nil, WithObserver(rec))
	started, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	f := MustWrap0(c, func(context.Context) (int, error) {
		once.Do(func() { close(started) })
		<-release
		return 7, nil
	}, Name("slow"))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, _ = f.Call(ctx)
	}()
	<-started
	const joiners = 3
	for range joiners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = f.Call(ctx)
		}()
	}
	// Release the load once the joiners wait in the flight group.
	s, _, _ := f.callKey(ctx)
	for c.flights.Joined(s.key) < joiners {
		runtime.Gosched()
	}
	close(release)
	wg.Wait()
	var miss, coalesced int
	for _, r := range rec.results("slow") {
		switch r {
		case CallMiss:
			miss++
		case CallCoalesced:
			coalesced++
		default:
			t.Fatalf("unexpected result %v", r)
		}
	}
	if miss != 1 || coalesced != joiners {
		t.Fatalf("%d misses and %d coalesced, want 1 and %d", miss, coalesced, joiners)
	}
}

// The hook adds no allocation to an L1 hit.
func TestObserverL1HitAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates on its own")
	}
	ctx := context.Background()
	measure := func(opts ...Option) float64 {
		c := newTestCache(t, nil, opts...)
		f := MustWrap1(c, benchUser)
		_, _ = f.Call(ctx, 42)
		return testing.AllocsPerRun(200, func() { _, _ = f.Call(ctx, 42) })
	}
	plain := measure()
	observed := measure(WithObserver(&countingObserver{}))
	if observed != plain {
		t.Fatalf("an L1 hit allocates %v times with an Observer, %v without", observed, plain)
	}
}

// Undecodable entries are counted each time but logged once per
// FailureLogInterval, the next line saying how many were left out.
func TestUndecodableWarningsRateLimited(t *testing.T) {
	ctx := context.Background()
	mem := memory.New(memory.Options{})
	rec := &logRecorder{}
	clk := fakeClock()
	c := newTimed(t, clk, mem, WithLogger(slogNew(rec)), WithL1(false), WithReadBudget(testReadBudget))
	f := MustWrap1(c, func(_ context.Context, n int) (int, error) { return n, nil }, Name(uniq(t)))
	corrupt := func(n int) {
		k, err := f.Key(n)
		if err != nil {
			t.Fatal(err)
		}
		if err := mem.Set(ctx, k, []byte("not an entry"), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	for n := 1; n <= 3; n++ {
		corrupt(n)
		if v, err := f.Call(ctx, n); err != nil || v != n {
			t.Fatal(v, err)
		}
	}
	const msg = "stored entry cannot be decoded"
	if got := rec.count(msg); got != 1 {
		t.Fatalf("%d warnings for 3 undecodable entries within the interval, want 1:\n%s", got, rec.all())
	}
	if got := f.Info().DecodeErrors; got != 3 {
		t.Fatalf("DecodeErrors = %d, want 3", got)
	}
	clk.Advance(FailureLogInterval)
	corrupt(4)
	_, _ = f.Call(ctx, 4)
	if got := rec.count(msg); got != 2 || !strings.Contains(rec.all(), "suppressed_since_last_line=2") {
		t.Fatalf("after the interval: %d warnings:\n%s", got, rec.all())
	}
}

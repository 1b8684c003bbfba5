package resilience

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/internal/clock"
)

type transition struct {
	from, to State
	n        int
}

func newTestBreaker(clk *clock.Fake, cfg BreakerConfig) (*Breaker, *[]transition) {
	var mu sync.Mutex
	var ts []transition
	cfg.Now = clk.Now
	cfg.OnTransition = func(from, to State, n int) {
		mu.Lock()
		ts = append(ts, transition{from, to, n})
		mu.Unlock()
	}
	return NewBreaker(cfg), &ts
}

func allow(t *testing.T, b *Breaker) Ticket {
	t.Helper()
	tk, ok := b.Allow()
	if !ok {
		t.Fatalf("Allow refused in state %v", b.State())
	}
	return tk
}

func TestBreakerOpensOnConsecutiveFailuresOnly(t *testing.T) {
	clk := clock.NewFake(time.Unix(1000, 0))
	b, ts := newTestBreaker(clk, BreakerConfig{Threshold: 3, OpenFor: time.Second})
	// Two failures, a success (a miss counts as one), two failures: never
	// three in a row.
	for _, fail := range []bool{true, true, false, true, true} {
		tk := allow(t, b)
		if fail {
			b.Failure(tk)
		} else {
			b.Success(tk)
		}
	}
	if b.State() != Closed {
		t.Fatalf("state %v after non-consecutive failures", b.State())
	}
	b.Failure(allow(t, b))
	if b.State() != Open || b.Opens() != 1 {
		t.Fatalf("state %v, opens %d", b.State(), b.Opens())
	}
	if len(*ts) != 1 || (*ts)[0] != (transition{Closed, Open, 3}) {
		t.Fatalf("transitions %v", *ts)
	}
	if _, ok := b.Allow(); ok {
		t.Fatal("open breaker allowed an operation")
	}
}

// A burst of timeouts reported at one instant (a process that was not
// scheduled for longer than its operations' timeout) does not open the
// breaker; timeouts that keep coming for TimeoutSpan do, errors open it at
// the threshold alone, and a timed-out probe reopens it at once.
func TestBreakerTimeoutsOpenOnlyAfterTheirSpan(t *testing.T) {
	clk := clock.NewFake(time.Unix(1000, 0))
	b, _ := newTestBreaker(clk, BreakerConfig{Threshold: 3, OpenFor: time.Second, TimeoutSpan: 50 * time.Millisecond})
	for range 16 {
		b.Timeout(allow(t, b))
	}
	if b.State() != Closed {
		t.Fatalf("state %v after a burst of 16 timeouts at one instant", b.State())
	}
	b.Success(allow(t, b))
	b.Timeout(allow(t, b))
	clk.Advance(30 * time.Millisecond)
	b.Timeout(allow(t, b))
	b.Timeout(allow(t, b))
	if b.State() != Closed {
		t.Fatalf("state %v after 3 timeouts over 30ms (span 50ms)", b.State())
	}
	clk.Advance(20 * time.Millisecond)
	b.Timeout(allow(t, b))
	if b.State() != Open {
		t.Fatalf("state %v after timeouts over 50ms", b.State())
	}
	clk.Advance(time.Second)
	b.Timeout(allow(t, b)) // the probe
	if b.State() != Open || b.Opens() != 2 {
		t.Fatalf("state %v, opens %d after a timed-out probe", b.State(), b.Opens())
	}
	clk.Advance(time.Second)
	b.Success(allow(t, b))
	for range 3 {
		b.Failure(allow(t, b))
	}
	if b.State() != Open || b.Opens() != 3 {
		t.Fatalf("state %v, opens %d after 3 errors at one instant", b.State(), b.Opens())
	}
}

func TestBreakerHalfOpenProbesThenCloses(t *testing.T) {
	clk := clock.NewFake(time.Unix(1000, 0))
	b, ts := newTestBreaker(clk, BreakerConfig{Threshold: 1, OpenFor: time.Second, Probes: 2})
	b.Failure(allow(t, b))
	clk.Advance(999 * time.Millisecond)
	if _, ok := b.Allow(); ok {
		t.Fatal("allowed before the open interval passed")
	}
	clk.Advance(time.Millisecond)
	p1 := allow(t, b)
	p2 := allow(t, b)
	if _, ok := b.Allow(); ok {
		t.Fatal("a third probe went through with Probes: 2")
	}
	if b.State() != HalfOpen {
		t.Fatalf("state %v", b.State())
	}
	b.Release(p1) // the caller gave up: the slot is free again
	p3 := allow(t, b)
	b.Success(p2)
	if b.State() != Closed {
		t.Fatalf("state %v after a successful probe", b.State())
	}
	b.Failure(p3) // an outcome from the half-open generation is ignored once closed
	if b.State() != Closed {
		t.Fatal("stale probe failure reopened a closed breaker")
	}
	want := []transition{{Closed, Open, 1}, {Open, HalfOpen, 0}, {HalfOpen, Closed, 0}}
	if len(*ts) != len(want) {
		t.Fatalf("transitions %v", *ts)
	}
	for i := range want {
		if (*ts)[i] != want[i] {
			t.Fatalf("transitions %v, want %v", *ts, want)
		}
	}
	if b.Transitions() != 3 {
		t.Fatalf("Transitions() = %d", b.Transitions())
	}
}

func TestBreakerProbeFailureReopens(t *testing.T) {
	clk := clock.NewFake(time.Unix(1000, 0))
	b, _ := newTestBreaker(clk, BreakerConfig{Threshold: 1, OpenFor: time.Second})
	b.Failure(allow(t, b))
	clk.Advance(time.Second)
	b.Failure(allow(t, b))
	if b.State() != Open || b.Opens() != 2 {
		t.Fatalf("state %v, opens %d", b.State(), b.Opens())
	}
	clk.Advance(500 * time.Millisecond)
	if _, ok := b.Allow(); ok {
		t.Fatal("reopened breaker allowed an operation before a new open interval passed")
	}
}

func TestBreakerTripAndStaleOutcomes(t *testing.T) {
	clk := clock.NewFake(time.Unix(1000, 0))
	b, ts := newTestBreaker(clk, BreakerConfig{Threshold: 2})
	old := allow(t, b)
	b.Trip()
	if b.State() != Open || len(*ts) != 1 {
		t.Fatalf("state %v, transitions %v", b.State(), *ts)
	}
	b.Trip()
	if len(*ts) != 1 {
		t.Fatal("Trip on an open breaker made a transition")
	}
	b.Success(old) // began before the trip: tells nothing now
	if b.State() != Open {
		t.Fatal("an outcome from before the trip closed the breaker")
	}
}

func TestBreakerConcurrent(t *testing.T) {
	b := NewBreaker(BreakerConfig{Threshold: 10, OpenFor: time.Millisecond, Probes: 3})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				if tk, ok := b.Allow(); ok {
					if (i+g)%3 == 0 {
						b.Failure(tk)
					} else {
						b.Success(tk)
					}
				}
			}
		}()
	}
	wg.Wait()
	if s := b.State(); s != Closed && s != Open && s != HalfOpen {
		t.Fatalf("state %v", s)
	}
}

func TestBound(t *testing.T) {
	b := NewBound(2)
	for range 2 {
		if !b.TryAcquire() {
			t.Fatal("refused under the bound")
		}
	}
	if b.TryAcquire() {
		t.Fatal("allowed over the bound")
	}
	if b.Refused() != 1 || b.InUse() != 2 {
		t.Fatalf("refused %d, in use %d", b.Refused(), b.InUse())
	}
	b.Release()
	if !b.TryAcquire() {
		t.Fatal("a released slot was not reusable")
	}
	if u := NewBound(0); !u.TryAcquire() || u.Refused() != 0 {
		t.Fatal("an unbounded Bound refused")
	}
}

func TestQueueOrderPerKeyAndWait(t *testing.T) {
	q := NewQueue(256, 4) // 64 per worker: room for all 30 jobs even if the keys share one
	defer q.Close(time.Second)
	var mu sync.Mutex
	got := map[string][]int{}
	for i := range 10 {
		for _, k := range []string{"a", "b", "c"} {
			if !q.Submit(k, func() { mu.Lock(); got[k] = append(got[k], i); mu.Unlock() }, nil) {
				t.Fatal("dropped with room left")
			}
		}
	}
	if err := q.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a", "b", "c"} {
		for i, v := range got[k] {
			if v != i {
				t.Fatalf("key %s ran out of order: %v", k, got[k])
			}
		}
		if len(got[k]) != 10 {
			t.Fatalf("key %s ran %d jobs", k, len(got[k]))
		}
	}
	if q.Ran() != 30 || q.Dropped() != 0 || q.Pending() != 0 {
		t.Fatalf("ran %d dropped %d pending %d", q.Ran(), q.Dropped(), q.Pending())
	}
}

func TestQueueDropsWhenFullAndCloseDrainsWithDeadline(t *testing.T) {
	q := NewQueue(2, 1)
	block := make(chan struct{})
	var dropped atomic.Int32
	onDrop := func() { dropped.Add(1) }
	started := make(chan struct{})
	q.Submit("k", func() { close(started); <-block }, onDrop)
	<-started // the worker holds the first job; the buffer has 2 slots
	q.Submit("k", func() {}, onDrop)
	q.Submit("k", func() {}, onDrop)
	if q.Submit("k", func() {}, onDrop) {
		t.Fatal("a full queue accepted a job")
	}
	if q.Dropped() != 1 || dropped.Load() != 1 {
		t.Fatalf("dropped %d, onDrop ran %d times", q.Dropped(), dropped.Load())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := q.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait on a busy queue with a cancelled context: %v", err)
	}
	if q.Close(10 * time.Millisecond) {
		t.Fatal("Close reported a full drain while a job was stuck")
	}
	if q.Dropped() != 3 || dropped.Load() != 3 {
		t.Fatalf("after Close: dropped %d, onDrop %d", q.Dropped(), dropped.Load())
	}
	if q.Submit("k", func() {}, onDrop) {
		t.Fatal("a closed queue accepted a job")
	}
	close(block)
}

func TestQueueCloseRunsQueuedJobs(t *testing.T) {
	q := NewQueue(64, 2)
	var n atomic.Int32
	for i := range 10 {
		if !q.Submit(string(rune('a'+i)), func() { n.Add(1) }, nil) {
			t.Fatal("dropped with room left")
		}
	}
	if !q.Close(5 * time.Second) {
		t.Fatal("Close did not drain")
	}
	if n.Load() != 10 {
		t.Fatalf("%d of 10 jobs ran", n.Load())
	}
}

type lines struct {
	mu  sync.Mutex
	buf []string
}

func (l *lines) Enabled(context.Context, slog.Level) bool { return true }
func (l *lines) Handle(_ context.Context, r slog.Record) error {
	s := r.Message
	r.Attrs(func(a slog.Attr) bool { s += " " + a.String(); return true })
	l.mu.Lock()
	l.buf = append(l.buf, s)
	l.mu.Unlock()
	return nil
}
func (l *lines) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *lines) WithGroup(string) slog.Handler      { return l }

func TestFailureLogSummarizes(t *testing.T) {
	clk := clock.NewFake(time.Unix(1000, 0))
	h := &lines{}
	f := NewFailureLog(slog.New(h), 10*time.Second, clk.Now)
	boom := errors.New("boom")
	for range 1000 {
		f.Failed("get", "k", boom)
	}
	if len(h.buf) != 1 {
		t.Fatalf("%d lines for 1000 failures in one interval: %v", len(h.buf), h.buf)
	}
	clk.Advance(10 * time.Second)
	f.Failed("set", "k2", boom)
	if len(h.buf) != 2 || !strings.Contains(h.buf[1], "failures=1000") || !strings.Contains(h.buf[1], "last_op=set") {
		t.Fatalf("summary: %v", h.buf)
	}
	f.Failed("get", "k", boom)
	f.Flush()
	if len(h.buf) != 3 || !strings.Contains(h.buf[2], "failures=1") {
		t.Fatalf("flush: %v", h.buf)
	}
	f.Flush()
	if len(h.buf) != 3 {
		t.Fatal("an empty Flush logged")
	}
	f.Failed("get", "k", boom) // after a Flush the next failure is logged at once
	if len(h.buf) != 4 {
		t.Fatalf("after flush: %v", h.buf)
	}
}

func TestQueueBarrierWaitsForTheKeysEarlierJobs(t *testing.T) {
	q := NewQueue(64, 1)
	defer q.Close(time.Second)
	gate := make(chan struct{})
	var ran atomic.Bool
	q.Submit("k", func() { <-gate; ran.Store(true) }, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if ok, err := q.Barrier(ctx, "k"); !ok || !errors.Is(err, context.Canceled) {
		t.Fatalf("Barrier behind a blocked job with a cancelled context: %v %v", ok, err)
	}
	close(gate)
	if ok, err := q.Barrier(context.Background(), "k"); !ok || err != nil || !ran.Load() {
		t.Fatalf("Barrier = %v %v; earlier job ran: %v", ok, err, ran.Load())
	}
}

// countingRunner records how it was used (a Runner job).
type countingRunner struct {
	ran, dropped *atomic.Int32
	order        *[]int
	mu           *sync.Mutex
	n            int
	started      chan struct{}
	gate         chan struct{}
}

func (r countingRunner) Run() {
	if r.gate != nil {
		close(r.started)
		<-r.gate
	}
	r.mu.Lock()
	*r.order = append(*r.order, r.n)
	r.mu.Unlock()
	r.ran.Add(1)
}

func (r countingRunner) Dropped() { r.dropped.Add(1) }

// Runner jobs keep a key's order with function jobs, and are dropped (with
// their Dropped hook) when the lane is full.
func TestQueueRunners(t *testing.T) {
	t.Parallel()
	q := NewQueue(2, 1)
	var ran, dropped atomic.Int32
	var mu sync.Mutex
	var order []int
	gate, started := make(chan struct{}), make(chan struct{})
	mk := func(n int, g chan struct{}) countingRunner {
		return countingRunner{ran: &ran, dropped: &dropped, order: &order, mu: &mu, n: n, gate: g, started: started}
	}
	if !q.SubmitRunner("k", mk(1, gate)) { // held by the gate: the worker is busy
		t.Fatal("first runner refused")
	}
	<-started
	q.Submit("k", func() { mu.Lock(); order = append(order, 2); mu.Unlock() }, nil)
	if !q.SubmitRunner("k", mk(3, nil)) {
		t.Fatal("third job refused with room in the lane")
	}
	if q.SubmitRunner("k", mk(4, nil)) || dropped.Load() != 1 || q.Dropped() != 1 {
		t.Fatalf("a runner over the lane's room: dropped %d, counted %d", dropped.Load(), q.Dropped())
	}
	close(gate)
	if err := q.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ran.Load() != 2 || len(order) != 3 || order[0] != 1 || order[1] != 2 || order[2] != 3 {
		t.Fatalf("ran %d, order %v", ran.Load(), order)
	}
	q.Close(time.Second)
	if q.SubmitRunner("k", mk(5, nil)) || dropped.Load() != 2 {
		t.Fatal("runner accepted after Close")
	}
}

// seqRunner appends its n to a shared log when it runs (a Runner job).
type seqRunner struct {
	n   int
	log *[]int
	mu  *sync.Mutex
}

func (r seqRunner) Run() {
	r.mu.Lock()
	*r.log = append(*r.log, r.n)
	r.mu.Unlock()
}

func (r seqRunner) Dropped() {}

// A batch queue hands the Runners waiting in a lane to the batch function
// together, at most maxBatch at a time and in submission order; a function
// job ends a batch and runs after it; Wait and Close count every job of a
// batch.
func TestQueueBatches(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var order []int
	var sizes []int
	q := NewBatchQueue(64, 1, 4, func(rs []Runner) {
		mu.Lock()
		sizes = append(sizes, len(rs))
		mu.Unlock()
		for _, r := range rs {
			r.Run()
		}
	})
	gate, started := make(chan struct{}), make(chan struct{})
	q.Submit("k", func() { close(started); <-gate }, nil) // holds the worker
	<-started
	mk := func(n int) Runner { return seqRunner{n: n, log: &order, mu: &mu} }
	for n := 1; n <= 6; n++ { // 6 runners: a batch of 4, then one of 2
		if !q.SubmitRunner("k", mk(n)) {
			t.Fatal("dropped with room left")
		}
	}
	q.Submit("k", func() { mu.Lock(); order = append(order, 100); mu.Unlock() }, nil)
	for n := 7; n <= 8; n++ {
		q.SubmitRunner("k", mk(n))
	}
	q.Submit("k", func() { mu.Lock(); order = append(order, 200); mu.Unlock() }, nil)
	q.SubmitRunner("k", mk(9))     // alone: Run, not the batch function
	if p := q.Pending(); p != 12 { // the gate's job is running
		t.Fatalf("pending %d, want 12", p)
	}
	close(gate)
	if err := q.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := []int{1, 2, 3, 4, 5, 6, 100, 7, 8, 200, 9}
	if !slices.Equal(order, want) {
		t.Fatalf("order %v, want %v", order, want)
	}
	if !slices.Equal(sizes, []int{4, 2, 2}) {
		t.Fatalf("batch sizes %v, want [4 2 2]", sizes)
	}
	if q.Ran() != 12 || q.Dropped() != 0 || q.Pending() != 0 {
		t.Fatalf("ran %d dropped %d pending %d", q.Ran(), q.Dropped(), q.Pending())
	}
	// Close drains batches too.
	gate2, started2 := make(chan struct{}), make(chan struct{})
	q.Submit("k", func() { close(started2); <-gate2 }, nil)
	<-started2
	for n := 10; n <= 15; n++ {
		q.SubmitRunner("k", mk(n))
	}
	close(gate2)
	if !q.Close(5 * time.Second) {
		t.Fatal("Close did not drain")
	}
	if got := order[len(order)-6:]; !slices.Equal(got, []int{10, 11, 12, 13, 14, 15}) {
		t.Fatalf("after Close: %v", order)
	}
}

// Runners of different keys on different lanes are batched per lane; a
// key's runners keep their order across batches under concurrent
// submitters.
func TestQueueBatchesKeepKeyOrderConcurrently(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	got := map[string][]int{}
	q := NewBatchQueue(4096, 3, 16, func(rs []Runner) {
		for _, r := range rs {
			r.Run()
		}
	})
	defer q.Close(time.Second)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := fmt.Sprintf("key%d", g)
			for i := range 200 {
				q.SubmitRunner(k, keyRunner{k: k, i: i, got: got, mu: &mu})
			}
		}()
	}
	wg.Wait()
	if err := q.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if q.Dropped() != 0 {
		t.Fatalf("%d dropped with room left", q.Dropped())
	}
	for k, seq := range got {
		if len(seq) != 200 {
			t.Fatalf("%s ran %d of 200", k, len(seq))
		}
		for i, v := range seq {
			if v != i {
				t.Fatalf("%s out of order at %d: %v", k, i, seq[:i+1])
			}
		}
	}
}

type keyRunner struct {
	k   string
	i   int
	got map[string][]int
	mu  *sync.Mutex
}

func (r keyRunner) Run() {
	r.mu.Lock()
	r.got[r.k] = append(r.got[r.k], r.i)
	r.mu.Unlock()
}

func (r keyRunner) Dropped() {}

package faulttest

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cachekit-go/cachekit"
)

// Phases of a run.
const (
	Before = iota // the backend is healthy
	During        // the fault is in effect
	After         // the fault is gone
	numPhases
	warming = numPhases // the warm-up's bucket in counters
)

// PhaseNames names the phases in reports.
var PhaseNames = [numPhases]string{"before", "during", "after"}

// Value is the workload function's result for key k: deterministic, about
// 256 bytes, different for every key, so that a value served for the wrong
// key or a corrupted one is caught.
func Value(k int) string {
	h := uint64(k)*0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019
	var b strings.Builder
	b.Grow(272)
	b.WriteString("v")
	b.WriteString(strconv.Itoa(k))
	for b.Len() < 256 {
		h ^= h >> 31
		h *= 0xBF58476D1CE4E5B9
		b.WriteByte(':')
		b.WriteString(strconv.FormatUint(h, 36))
	}
	return b.String()
}

// Variant is one way a service uses the cache: with or without the
// in-process tier, with or without a deadline on each call.
type Variant struct {
	L1       bool
	Deadline time.Duration // 0: the caller's context has no deadline
}

func (v Variant) String() string {
	s := "L1 off"
	if v.L1 {
		s = "L1 on"
	}
	if v.Deadline > 0 {
		return s + ", " + v.Deadline.String() + " deadline"
	}
	return s + ", no deadline"
}

// AllVariants are the four combinations the issue asks for: L1 on and off,
// callers with and without a 500 ms deadline.
var AllVariants = []Variant{{L1: false}, {L1: false, Deadline: 500 * time.Millisecond},
	{L1: true}, {L1: true, Deadline: 500 * time.Millisecond}}

// Config sizes a run.
type Config struct {
	// Workers is the number of goroutines calling the cache, per variant.
	Workers int
	// Keys is the number of distinct keys, drawn uniformly at random.
	Keys int
	// Work is how long the function takes (it sleeps).
	Work time.Duration
	// Before, During and After are the lengths of the phases. Before 0
	// means the fault is in effect from the start (no healthy phase).
	Before, During, After time.Duration
	// Warm calls every key once before the measured run, so the backend
	// holds the working set.
	Warm bool
	// Sample is how often the monitor reads the counters (first backend
	// hit resolution).
	Sample time.Duration
}

// Fault injects a fault and removes it. Both run on the caller's goroutine
// (a test's, so they may call t.Fatal) and return once the fault is in
// effect or gone (a restarted server accepts connections again).
type Fault struct {
	Name    string
	Inject  func()
	Recover func()
}

// Cache is what a run needs from a cache under test: the wrapped function's
// Call and its counters. MakeCache builds one per variant; close releases it.
type Cache struct {
	Call  func(ctx context.Context, k int) (string, error)
	Info  func() cachekit.Info
	Close func()
}

// MakeCache builds the cache for one variant; fn is the workload function
// to wrap, log the logger to give the cache (it counts records per phase).
type MakeCache func(v Variant, fn func(context.Context, int) (string, error), log *slog.Logger) Cache

// PhaseStats are the figures of one phase of one variant.
type PhaseStats struct {
	Calls, Errors, Wrong uint64
	FnRuns, L2Hits, Logs uint64
	P50, P99, Max        time.Duration
	Duration             time.Duration
	FirstError           string
}

// Throughput is calls per second.
func (p PhaseStats) Throughput() float64 {
	if p.Duration <= 0 {
		return 0
	}
	return float64(p.Calls) / p.Duration.Seconds()
}

// VariantReport holds one variant's figures.
type VariantReport struct {
	Variant Variant
	Phases  [numPhases]PhaseStats
	// FirstHit is the time from recovery to the first backend hit (an L2
	// hit); -1 when there was none before the run ended.
	FirstHit time.Duration
	// WarmErrors counts errors during the warm-up.
	WarmErrors uint64
	// Extra holds figures read from Info by Config's reporter (breaker
	// transitions and the like), by name.
	Extra map[string]string
}

// Report is the result of one scenario.
type Report struct {
	Scenario string
	Variants []VariantReport
	// Goroutines: at the end of the healthy phase, the peak during the
	// fault, at the end of the run (workers still calling).
	GoroutinesBefore, GoroutinesPeak, GoroutinesAfter int
	// Heap in use at the same moments (bytes of live and unswept objects).
	HeapBefore, HeapPeak, HeapAfter uint64
	// Stuck counts workers still inside a call 30 s after the run ended.
	Stuck int
}

type record struct {
	start, dur int64  // nanoseconds since the run began
	err        string // the error the caller got; "" for none
	wrong      bool
}

// phaseOf attributes a call to a phase for latency, errors and wrong values:
// a call in flight at any moment of the fault belongs to During (a call
// that started just before the fault and hung through it is the fault's
// doing), otherwise to the phase it ran in.
func phaseOf(rec record, bounds [numPhases + 1]int64) int {
	switch end := rec.start + rec.dur; {
	case rec.start < bounds[After] && end > bounds[During]:
		return During
	case end <= bounds[During]:
		return Before
	default:
		return After
	}
}

// counter counts into the bucket of the current phase (warming, the last
// bucket, is not reported).
type counter struct {
	phase *atomic.Int32
	n     [numPhases + 1]atomic.Uint64
}

func (c *counter) inc() { c.n[c.phase.Load()].Add(1) }

// countingHandler counts log records per phase and drops them.
type countingHandler struct{ c *counter }

func (h countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h countingHandler) Handle(context.Context, slog.Record) error {
	h.c.inc()
	return nil
}
func (h countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h countingHandler) WithGroup(string) slog.Handler      { return h }

type sample struct {
	at     int64
	l2Hits uint64
}

type variantRun struct {
	v       Variant
	c       Cache
	fnRuns  counter
	logs    counter
	records [][]record // one slice per worker
	samples []sample
	warmErr atomic.Uint64
}

// Run drives the workload against one cache per variant, injects the fault
// after cfg.Before and removes it after cfg.During, and measures.
func Run(cfg Config, name string, variants []Variant, mk MakeCache, f Fault, extra func(Variant, cachekit.Info) map[string]string) Report {
	if cfg.Sample <= 0 {
		cfg.Sample = 5 * time.Millisecond
	}
	var phase atomic.Int32
	runs := make([]*variantRun, len(variants))
	for i, v := range variants {
		r := &variantRun{v: v, records: make([][]record, cfg.Workers)}
		r.fnRuns.phase, r.logs.phase = &phase, &phase
		fn := func(ctx context.Context, k int) (string, error) {
			r.fnRuns.inc()
			time.Sleep(cfg.Work)
			return Value(k), nil
		}
		r.c = mk(v, fn, slog.New(countingHandler{&r.logs}))
		runs[i] = r
	}
	defer func() {
		for _, r := range runs {
			if r != nil { // nil: MakeCache failed the test
				r.c.Close()
			}
		}
	}()
	if cfg.Warm {
		phase.Store(warming)
		warm(cfg, runs)
		time.Sleep(100 * time.Millisecond) // let write-behind land
	}
	phase.Store(Before)
	if cfg.Before == 0 {
		phase.Store(During)
	}

	begin := time.Now()
	since := func() int64 { return int64(time.Since(begin)) }
	var stop atomic.Bool
	var wg sync.WaitGroup
	for _, r := range runs {
		for w := range cfg.Workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r.records[w] = work(cfg, r, w, &stop, since)
			}()
		}
	}

	// The monitor: counters often, goroutines and heap less often.
	rep := Report{Scenario: name + ": " + f.Name}
	monStop := make(chan struct{})
	monDone := make(chan struct{})
	var gPeak atomic.Int64
	var hPeak atomic.Uint64
	go func() {
		defer close(monDone)
		tick := time.NewTicker(cfg.Sample)
		defer tick.Stop()
		n := 0
		for {
			select {
			case <-monStop:
				return
			case <-tick.C:
			}
			at := since()
			for _, r := range runs {
				r.samples = append(r.samples, sample{at, r.c.Info().L2Hits})
			}
			if n++; n%10 == 0 && phase.Load() == During {
				if g := int64(runtime.NumGoroutine()); g > gPeak.Load() {
					gPeak.Store(g)
				}
				if h := heapBytes(); h > hPeak.Load() {
					hPeak.Store(h)
				}
			}
		}
	}()

	var bounds [numPhases + 1]int64 // phase i is [bounds[i], bounds[i+1])
	if cfg.Before > 0 {
		time.Sleep(cfg.Before)
		rep.GoroutinesBefore, rep.HeapBefore = runtime.NumGoroutine(), heapBytes()
		f.Inject()
		bounds[During] = since()
		phase.Store(During)
	} else {
		rep.GoroutinesBefore, rep.HeapBefore = runtime.NumGoroutine(), heapBytes()
	}
	time.Sleep(cfg.During)
	f.Recover()
	bounds[After] = since()
	phase.Store(After)
	time.Sleep(cfg.After)
	rep.GoroutinesAfter, rep.HeapAfter = runtime.NumGoroutine(), heapBytes()
	bounds[numPhases] = since()
	stop.Store(true)
	close(monStop)
	<-monDone
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		rep.Stuck = -1 // unknown how many: report that some never returned
	}
	rep.GoroutinesPeak, rep.HeapPeak = int(gPeak.Load()), hPeak.Load()
	if cfg.Before == 0 {
		bounds[During] = 0
	}

	for _, r := range runs {
		vr := VariantReport{Variant: r.v, WarmErrors: r.warmErr.Load(), FirstHit: -1}
		var all []record
		for _, rs := range r.records {
			all = append(all, rs...)
		}
		for p := range numPhases {
			if p == Before && cfg.Before == 0 {
				continue
			}
			lo, hi := bounds[p], bounds[p+1]
			ps := PhaseStats{Duration: time.Duration(hi - lo), FnRuns: r.fnRuns.n[p].Load(), Logs: r.logs.n[p].Load()}
			var durs []int64
			for _, rec := range all {
				if phaseOf(rec, bounds) == p {
					durs = append(durs, rec.dur)
					if rec.err != "" {
						ps.Errors++
						if ps.FirstError == "" {
							ps.FirstError = rec.err
						}
					}
					if rec.wrong {
						ps.Wrong++
					}
				}
				if end := rec.start + rec.dur; end >= lo && end < hi {
					ps.Calls++
				}
			}
			slices.Sort(durs)
			ps.P50, ps.P99, ps.Max = pct(durs, 0.50), pct(durs, 0.99), pct(durs, 1)
			ps.L2Hits = hitsBetween(r.samples, lo, hi)
			vr.Phases[p] = ps
		}
		vr.FirstHit = firstHitAfter(r.samples, bounds[After])
		if extra != nil {
			vr.Extra = extra(r.v, r.c.Info())
		}
		rep.Variants = append(rep.Variants, vr)
	}
	return rep
}

func warm(cfg Config, runs []*variantRun) {
	var wg sync.WaitGroup
	for _, r := range runs {
		for w := range cfg.Workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := w; k < cfg.Keys; k += cfg.Workers {
					if v, err := r.c.Call(context.Background(), k); err != nil || v != Value(k) {
						r.warmErr.Add(1)
					}
				}
			}()
		}
	}
	wg.Wait()
}

func work(cfg Config, r *variantRun, w int, stop *atomic.Bool, since func() int64) []record {
	rng := rand.New(rand.NewPCG(uint64(w)+1, 0x5eed))
	recs := make([]record, 0, 1<<14)
	for !stop.Load() {
		k := rng.IntN(cfg.Keys)
		ctx, cancel := context.Background(), context.CancelFunc(func() {})
		if r.v.Deadline > 0 {
			ctx, cancel = context.WithTimeout(ctx, r.v.Deadline)
		}
		start := since()
		v, err := r.c.Call(ctx, k)
		end := since()
		cancel()
		rec := record{start: start, dur: end - start, wrong: err == nil && v != Value(k)}
		if err != nil {
			rec.err = err.Error()
		}
		recs = append(recs, rec)
	}
	return recs
}

func pct(sorted []int64, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	i = max(0, min(i, len(sorted)-1))
	return time.Duration(sorted[i])
}

// valueAt is the counter at time at: the last sample not after it.
func valueAt(s []sample, at int64) uint64 {
	var v uint64
	for _, x := range s {
		if x.at > at {
			break
		}
		v = x.l2Hits
	}
	return v
}

func hitsBetween(s []sample, lo, hi int64) uint64 { return valueAt(s, hi) - valueAt(s, lo) }

// firstHitAfter is the time from at to the first sample whose L2 hit count
// exceeds the count at at.
func firstHitAfter(s []sample, at int64) time.Duration {
	base := valueAt(s, at)
	for _, x := range s {
		if x.at > at && x.l2Hits > base {
			return time.Duration(x.at - at)
		}
	}
	return -1
}

var heapMetric = []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}

func heapBytes() uint64 {
	s := slices.Clone(heapMetric)
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// ms formats d in milliseconds with sensible precision.
func ms(d time.Duration) string {
	switch {
	case d < 0:
		return "none"
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/1e6)
	case d < time.Second:
		return fmt.Sprintf("%.0f ms", float64(d)/1e6)
	default:
		return fmt.Sprintf("%.2f s", d.Seconds())
	}
}

package faulttest

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit"
)

func TestValue(t *testing.T) {
	t.Parallel()
	seen := map[string]int{}
	for k := range 2000 {
		v := Value(k)
		if v != Value(k) {
			t.Fatalf("Value(%d) is not deterministic", k)
		}
		if len(v) < 256 || len(v) > 300 || !strings.HasPrefix(v, "v") {
			t.Fatalf("Value(%d) = %q (%d bytes)", k, v, len(v))
		}
		if j, dup := seen[v]; dup {
			t.Fatalf("Value(%d) == Value(%d)", k, j)
		}
		seen[v] = k
	}
}

func TestPhaseOf(t *testing.T) {
	t.Parallel()
	b := [numPhases + 1]int64{0, 100, 200, 300}
	for _, tc := range []struct {
		start, dur int64
		want       int
	}{
		{0, 10, Before},
		{90, 10, Before},  // ends as the fault begins
		{90, 11, During},  // in flight when it begins
		{150, 10, During}, // inside
		{190, 50, During}, // in flight at recovery
		{50, 500, During}, // spans it all
		{200, 10, After},
		{250, 100, After},
	} {
		if got := phaseOf(record{start: tc.start, dur: tc.dur}, b); got != tc.want {
			t.Errorf("call [%d, %d): phase %s, want %s", tc.start, tc.start+tc.dur, PhaseNames[got], PhaseNames[tc.want])
		}
	}
}

func TestPercentiles(t *testing.T) {
	t.Parallel()
	var d []int64
	for i := int64(1); i <= 100; i++ {
		d = append(d, i)
	}
	if pct(d, 0.5) != 50 || pct(d, 0.99) != 99 || pct(d, 1) != 100 || pct(nil, 0.5) != 0 || pct(d[:1], 0.99) != 1 {
		t.Fatalf("pct: %v %v %v", pct(d, 0.5), pct(d, 0.99), pct(d, 1))
	}
}

func TestCounterSamples(t *testing.T) {
	t.Parallel()
	s := []sample{{10, 0, 0}, {20, 5, 1}, {30, 5, 1}, {40, 9, 3}}
	hits := func(x sample) uint64 { return x.l2Hits }
	if got := between(s, 15, 35, hits); got != 5 {
		t.Fatalf("hits between 15 and 35: %d, want 5", got)
	}
	if got := firstHitAfter(s, 25); got != 15 {
		t.Fatalf("first hit after 25: %v, want 15ns (the sample at 40)", got)
	}
	if got := firstHitAfter(s, 45); got != -1 {
		t.Fatalf("first hit after the last sample: %v, want -1", got)
	}
}

func TestVariantString(t *testing.T) {
	t.Parallel()
	if s := (Variant{L1: true, Deadline: 500 * time.Millisecond}).String(); s != "L1 on, 500ms deadline" {
		t.Fatal(s)
	}
	if s := (Variant{}).String(); s != "L1 off, no deadline" {
		t.Fatal(s)
	}
}

// Run counts what a faulty cache does to its callers: errors, wrong values
// and slow calls during the fault, and the fault hooks run in order. The
// "cache" here is a fake on purpose: it is the suite's own instrument under
// test, made to misbehave in ways no healthy cache would.
func TestRunMeasuresAFaultyCache(t *testing.T) {
	t.Parallel()
	var faulty atomic.Bool
	var order []string
	mk := func(v Variant, fn func(context.Context, int) (string, error), log *slog.Logger) Cache {
		return Cache{
			Call: func(ctx context.Context, k int) (string, error) {
				if !faulty.Load() {
					return fn(ctx, k)
				}
				log.Warn("backend down")
				switch k % 3 {
				case 0:
					return "", errors.New("backend down")
				case 1:
					return "wrong", nil
				}
				time.Sleep(20 * time.Millisecond)
				return fn(ctx, k)
			},
			Info:  func() cachekit.Info { return cachekit.Info{} },
			Close: func() { order = append(order, "close") },
		}
	}
	cfg := Config{Workers: 4, Keys: 30, Work: 100 * time.Microsecond, Warm: true,
		Before: 100 * time.Millisecond, During: 150 * time.Millisecond, After: 100 * time.Millisecond}
	rep := Run(cfg, "fake", []Variant{{}}, mk, Fault{
		Name:    "broken",
		Inject:  func() { order = append(order, "inject"); faulty.Store(true) },
		Recover: func() { order = append(order, "recover"); faulty.Store(false) },
	}, nil)
	if strings.Join(order, ",") != "inject,recover,close" {
		t.Fatalf("hooks ran as %v", order)
	}
	v := rep.Variants[0]
	b, d, a := v.Phases[Before], v.Phases[During], v.Phases[After]
	if b.Errors+b.Wrong+a.Errors+a.Wrong != 0 || b.Calls == 0 || a.Calls == 0 {
		t.Fatalf("healthy phases: before %+v, after %+v", b, a)
	}
	if d.Errors == 0 || d.Wrong == 0 || d.FirstError != "backend down" {
		t.Fatalf("during: %d errors (first %q), %d wrong values; want both counted", d.Errors, d.FirstError, d.Wrong)
	}
	if d.Max < 20*time.Millisecond || d.Logs == 0 || b.Logs != 0 || !strings.Contains(d.FirstLog, "backend down") {
		t.Fatalf("during: max %v, %d log records (first %q), %d before", d.Max, d.Logs, d.FirstLog, b.Logs)
	}
	if v.FirstHit != -1 || v.WarmErrors != 0 {
		t.Fatalf("first hit %v (no L2 hits were ever reported), warm errors %d", v.FirstHit, v.WarmErrors)
	}
	if b.FnRuns == 0 || d.FnRuns == 0 {
		t.Fatalf("function runs: %d before, %d during", b.FnRuns, d.FnRuns)
	}
	if !strings.Contains(rep.GoroutineStacks, " x ") || !strings.Contains(rep.GoroutineStacks, "faulttest.") {
		t.Fatalf("goroutine stacks at the end of the run:\n%s", rep.GoroutineStacks)
	}
	if !strings.Contains(rep.Summary(), "| fake: broken | L1 off, no deadline |") || !strings.Contains(rep.Detail(), "| L1 off, no deadline | during |") {
		t.Fatalf("report:\n%s\n%s", rep.Summary(), rep.Detail())
	}
}

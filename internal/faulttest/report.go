package faulttest

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// SummaryHeader is the header of the table Summary rows belong to.
const SummaryHeader = `| scenario | variant | calls/s before -> during -> after | call latency during (p50 / p99 / max) | errors to callers | wrong values | first backend hit after recovery | log records during | other |
|---|---|---|---|---|---|---|---|---|`

// Summary returns one Markdown table row per variant (see SummaryHeader),
// the form docs/reliability-figures.md uses.
func (r Report) Summary() string {
	var b strings.Builder
	for _, v := range r.Variants {
		var errsTotal, wrong uint64
		for _, p := range v.Phases {
			errsTotal += p.Errors
			wrong += p.Wrong
		}
		d := v.Phases[During]
		fmt.Fprintf(&b, "| %s | %s | %s -> %s -> %s | %s / %s / %s | %d | %d | %s | %d | %s |\n",
			r.Scenario, v.Variant, rate(v.Phases[Before]), rate(d), rate(v.Phases[After]),
			ms(d.P50), ms(d.P99), ms(d.Max), errsTotal, wrong, ms(v.FirstHit), d.Logs, extras(v.Extra))
	}
	return b.String()
}

// Detail returns the per-phase table of every variant and the scenario's
// goroutine and heap figures.
func (r Report) Detail() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: goroutines %d before, %d peak during the fault, %d after; heap %s / %s / %s",
		r.Scenario, r.GoroutinesBefore, r.GoroutinesPeak, r.GoroutinesAfter, mib(r.HeapBefore), mib(r.HeapPeak), mib(r.HeapAfter))
	if r.Stuck != 0 {
		b.WriteString("; some workers never returned")
	}
	b.WriteString("\n\n| variant | phase | seconds | calls | calls/s | errors | wrong | p50 | p99 | max | function runs | L2 hits | log records | first error |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, v := range r.Variants {
		for i, p := range v.Phases {
			if p.Duration == 0 {
				continue
			}
			fmt.Fprintf(&b, "| %s | %s | %.1f | %d | %s | %d | %d | %s | %s | %s | %d | %d | %d | %s |\n",
				v.Variant, PhaseNames[i], p.Duration.Seconds(), p.Calls, rate(p), p.Errors, p.Wrong,
				ms(p.P50), ms(p.P99), ms(p.Max), p.FnRuns, p.L2Hits, p.Logs, cut(p.FirstError, 80))
		}
	}
	return b.String()
}

func rate(p PhaseStats) string {
	if p.Duration == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f", p.Throughput())
}

func mib(n uint64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func extras(m map[string]string) string {
	if len(m) == 0 {
		return ""
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+" "+m[k])
	}
	return strings.Join(parts, "; ")
}

func cut(s string, n int) string {
	s = strings.ReplaceAll(s, "|", "/")
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

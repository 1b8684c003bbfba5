package store

import (
	"testing"
	"time"
)

func TestMemoryNoExpiry(t *testing.T) {
	t.Parallel()
	m, clk := newMem(t, MemoryOptions{})
	mustSet(t, m, "a", "forever", 3, 0, 30*time.Second) // the stale window is moot
	in, ok, _ := m.Stat(bg, "a", "forever")
	if !ok || !in.NoExpiry || in.Stale || in.HasStaleWindow || in.TTL != 0 || in.Size != 3 {
		t.Fatalf("no-expiry info %+v %v", in, ok)
	}
	clk.add(10 * 365 * 24 * time.Hour)
	m.Sweep()
	if e, ok, _ := m.Get(bg, "a", "forever"); !ok || !e.NoExpiry || e.Stale {
		t.Fatalf("after ten years: %+v %v", e.Info, ok)
	}
	if ok, _ := m.RefreshTTL(bg, "a", "forever", 5*time.Second); !ok {
		t.Fatal("refresh failed")
	}
	if in, _, _ := m.Stat(bg, "a", "forever"); in.NoExpiry || in.TTL != 5*time.Second || in.HasStaleWindow {
		t.Fatalf("after refresh %+v", in)
	}
	clk.add(5 * time.Second)
	if has(m, "a", "forever") {
		t.Fatal("a refreshed entry outlived its new TTL")
	}
	// Overwriting an expiring entry with ttl 0 removes the expiry.
	mustSet(t, m, "a", "k", 1, time.Second, 0)
	mustSet(t, m, "a", "k", 1, 0, 0)
	clk.add(time.Hour)
	if in, ok, _ := m.Stat(bg, "a", "k"); !ok || !in.NoExpiry {
		t.Fatalf("overwritten with ttl 0: %+v %v", in, ok)
	}
	if s := m.Stats(); s.Entries != 1 || s.Expired != 1 {
		t.Fatalf("stats %+v", s)
	}
}

package clock

import (
	"sync/atomic"
	"testing"
	"time"
)

// The fast real clock agrees with time.Now (within a wide margin: it is
// re-anchored every second), and a fake clock is read as is.
func TestUnixNanoFunc(t *testing.T) {
	now := UnixNanoFunc(Real{})
	for range 3 {
		if d := time.Duration(now() - time.Now().UnixNano()); d < -time.Second || d > time.Second {
			t.Fatalf("fast clock is %v off time.Now", d)
		}
	}
	f := NewFake(time.Unix(100, 5))
	fake := UnixNanoFunc(f)
	f.Advance(time.Second)
	if got := fake(); got != time.Unix(101, 5).UnixNano() {
		t.Fatalf("fake clock read %d", got)
	}
}

// After more than a second the fast clock re-reads the wall clock.
func TestFastWallReanchors(t *testing.T) {
	f := &fastWall{base: time.Now()}
	f.anchor.Store(&wallAnchor{wall: 42, mono: -2 * reanchorAfter})
	if got := f.now(); got < time.Now().Add(-time.Minute).UnixNano() {
		t.Fatalf("stale anchor was extrapolated: %d", got)
	}
}

// fakeTicker is a tick source driven by the test: tick returns once the
// coarse clock's goroutine has taken the tick, and stopped is closed when
// the goroutine stops its ticker.
type fakeTicker struct {
	ch      chan time.Time
	stopped chan struct{}
	started int
}

func newCoarseForTest(fine func() int64) (*CoarseClock, *fakeTicker) {
	ft := &fakeTicker{}
	c := NewCoarse(fine, time.Millisecond)
	c.ticker = func(time.Duration) (<-chan time.Time, func()) {
		ft.ch = make(chan time.Time)
		ft.stopped = make(chan struct{})
		ft.started++
		return ft.ch, func() { close(ft.stopped) }
	}
	return c, ft
}

// tick delivers one tick and waits until the goroutine has handled it (the
// next tick can only be received after it, so a second send is the proof;
// when the goroutine stopped instead, stopped is closed).
func (ft *fakeTicker) tick(t *testing.T) {
	t.Helper()
	select {
	case ft.ch <- time.Time{}:
	case <-ft.stopped:
		t.Fatal("ticker stopped")
	}
}

// The coarse clock reads the precise clock only when no ticker publishes
// the time, publishes a new reading on each tick, and stops its ticker
// after coarseIdleTicks ticks without a read, to start it again on the
// next read.
func TestCoarseClock(t *testing.T) {
	var fine atomic.Int64
	fine.Store(1000)
	c, ft := newCoarseForTest(fine.Load)
	if c.Running() {
		t.Fatal("ticker runs before the first read")
	}
	if got := c.Now(); got != 1000 || !c.Running() || ft.started != 1 {
		t.Fatalf("first read %d (running %v, started %d), want the precise 1000 and a ticker", got, c.Running(), ft.started)
	}
	fine.Store(2000)
	if got := c.Now(); got != 1000 {
		t.Fatalf("read %d between ticks, want the published 1000", got)
	}
	ft.tick(t)
	ft.tick(t) // the first tick is handled once the second is taken
	if got := c.Now(); got != 2000 {
		t.Fatalf("read %d after a tick, want 2000", got)
	}
	// Read between ticks: the ticker keeps running.
	for range 3 * coarseIdleTicks {
		c.Now()
		ft.tick(t)
	}
	if !c.Running() {
		t.Fatal("ticker stopped while being read")
	}
	// No reads: it stops within coarseIdleTicks (+2 for the ticks that
	// may still see the last read).
	stopped := false
	for range coarseIdleTicks + 2 {
		select {
		case ft.ch <- time.Time{}:
			continue
		case <-ft.stopped:
			stopped = true
		}
		break
	}
	if !stopped {
		select {
		case <-ft.stopped:
		case <-time.After(10 * time.Second):
			t.Fatal("idle ticker did not stop")
		}
	}
	if c.Running() {
		t.Fatal("stopped ticker still marked running")
	}
	fine.Store(3000)
	if got := c.Now(); got != 3000 || !c.Running() || ft.started != 2 {
		t.Fatalf("read after idle: %d (running %v, started %d), want the precise 3000 and a new ticker", got, c.Running(), ft.started)
	}
	// Stop the second ticker the same way so the test leaves no goroutine.
	for {
		select {
		case ft.ch <- time.Time{}:
			continue
		case <-ft.stopped:
		}
		break
	}
}

// Coarse is nil for a fake clock (callers read the fake clock itself) and
// close to the precise clock for the real one.
func TestCoarseOfClock(t *testing.T) {
	if Coarse(NewFake(time.Unix(1, 0))) != nil {
		t.Fatal("coarse reading of a fake clock")
	}
	now := Coarse(Real{})
	for range 3 {
		got := now()
		if d := time.Duration(time.Now().UnixNano() - got); d < -time.Second || d > time.Second+time.Duration(CoarseLag) {
			t.Fatalf("coarse clock is %v behind time.Now", d)
		}
	}
}

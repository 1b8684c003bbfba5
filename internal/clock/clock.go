// Package clock abstracts the current time so that code depending on expiry
// (L1 entries, stale-while-revalidate, the in-memory backend) can be tested
// with a fake clock instead of sleeping. Only Now is abstracted: every
// expiry in cachekit-go is checked lazily against Now, so no timers are
// needed and a Fake clock that is advanced by hand is enough.
package clock

import (
	"sync"
	"sync/atomic"
	"time"
)

// Clock reports the current time.
type Clock interface {
	Now() time.Time
}

// Real is the wall clock (time.Now).
type Real struct{}

// Now returns time.Now().
func (Real) Now() time.Time { return time.Now() }

// Fake is a manually advanced clock for tests. The zero value starts at the
// zero time; use NewFake for a realistic start. It is safe for concurrent use.
type Fake struct {
	mu  sync.Mutex
	now time.Time
}

// NewFake returns a Fake clock set to start.
func NewFake(start time.Time) *Fake { return &Fake{now: start} }

// Now returns the fake current time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// Advance moves the clock forward by d.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

// Set moves the clock to t.
func (f *Fake) Set(t time.Time) {
	f.mu.Lock()
	f.now = t
	f.mu.Unlock()
}

// UnixNanoFunc returns a function reporting c's current time in Unix
// nanoseconds. For Real it reads only the monotonic clock, re-anchored to
// the wall clock once a second: about half the cost of time.Now, which an L1
// hit pays to check expiry. A step of the wall clock, or time a machine
// spent suspended (the monotonic clock stops), shows within a second.
func UnixNanoFunc(c Clock) func() int64 {
	if _, ok := c.(Real); !ok {
		return func() int64 { return c.Now().UnixNano() }
	}
	f := &fastWall{base: time.Now()}
	f.reanchor(0)
	return f.now
}

// fastWall derives wall time from the monotonic clock.
type fastWall struct {
	base   time.Time // carries a monotonic reading
	anchor atomic.Pointer[wallAnchor]
}

type wallAnchor struct{ wall, mono int64 }

// reanchorAfter is how long a wall reading is extrapolated.
const reanchorAfter = int64(time.Second)

func (f *fastWall) now() int64 {
	mono := int64(time.Since(f.base))
	a := f.anchor.Load()
	if d := mono - a.mono; d >= 0 && d < reanchorAfter {
		return a.wall + d
	}
	return f.reanchor(mono)
}

func (f *fastWall) reanchor(mono int64) int64 {
	wall := time.Now().UnixNano()
	f.anchor.Store(&wallAnchor{wall: wall, mono: mono})
	return wall
}

// CoarseTick is how often a coarse clock publishes the time while it is
// being read, and CoarseLag how far behind the precise clock its reading
// may be before expiry checks stop trusting it (see Coarse). The lag is
// generous so that a ticker running late on a starved machine still stays
// within it; a reader that relies on the coarse clock only for deadlines
// further away than CoarseLag loses no precision at all.
const (
	CoarseTick = 2 * time.Millisecond
	CoarseLag  = int64(time.Second)
	// coarseIdleTicks is how many ticks without a read stop the ticker.
	coarseIdleTicks = 50
)

// Coarse returns a cheap reading of the time UnixNanoFunc(c) reports, for
// checks that can tolerate CoarseLag: an atomic load of a time that a
// ticker goroutine publishes every CoarseTick. The ticker runs only while
// the clock is read: after coarseIdleTicks ticks (100 ms) without a read it
// stops, so an idle process has no wakeups, and the next read starts it
// again (that read, and any while no ticker runs, reads the precise clock).
// The reading never runs ahead of the precise clock and lags it by about a
// tick, more only if the ticker goroutine is not scheduled in time.
//
// For a clock other than Real (a Fake in tests) Coarse returns nil: there is
// no cheap reading of a fake clock, and callers then read the precise one.
func Coarse(c Clock) func() int64 {
	if _, ok := c.(Real); !ok {
		return nil
	}
	return NewCoarse(UnixNanoFunc(c), CoarseTick).Now
}

// CoarseClock is the clock behind Coarse; NewCoarse makes one over any
// precise clock (tests use a fake one).
type CoarseClock struct {
	now     atomic.Int64 // last published reading; 0: no ticker running
	read    atomic.Bool  // read since the last tick
	running atomic.Bool  // a ticker goroutine runs (or is starting)
	fine    func() int64
	tick    time.Duration
	// ticker makes the tick source; tests replace it.
	ticker func(time.Duration) (<-chan time.Time, func())
}

// NewCoarse returns a coarse clock over fine (Unix nanoseconds) that
// publishes a reading every tick while it is read.
func NewCoarse(fine func() int64, tick time.Duration) *CoarseClock {
	return &CoarseClock{fine: fine, tick: tick, ticker: func(d time.Duration) (<-chan time.Time, func()) {
		t := time.NewTicker(d)
		return t.C, t.Stop
	}}
}

// Now returns the latest published reading, or the precise time (starting
// the ticker) when none is published.
func (c *CoarseClock) Now() int64 {
	if t := c.now.Load(); t != 0 {
		if !c.read.Load() { // one write per tick, not one per read
			c.read.Store(true)
		}
		return t
	}
	return c.wake()
}

// wake reads the precise clock and starts the ticker unless one runs.
func (c *CoarseClock) wake() int64 {
	t := c.fine()
	if c.running.CompareAndSwap(false, true) {
		c.read.Store(true)
		c.now.Store(t)
		ch, stop := c.ticker(c.tick)
		go c.run(ch, stop)
	}
	return t
}

// run publishes the time on every tick until coarseIdleTicks ticks pass
// without a read.
func (c *CoarseClock) run(ch <-chan time.Time, stop func()) {
	defer stop()
	idle := 0
	for range ch {
		if c.read.Swap(false) {
			idle = 0
		} else if idle++; idle >= coarseIdleTicks {
			// Unpublish first: a reader that then sees no reading reads
			// the precise clock, and its wake starts a new ticker only
			// once this one has let go of running.
			c.now.Store(0)
			c.running.Store(false)
			return
		}
		c.now.Store(c.fine())
	}
}

// Running reports whether a ticker goroutine runs (tests).
func (c *CoarseClock) Running() bool { return c.running.Load() }

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

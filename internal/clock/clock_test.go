package clock

import (
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

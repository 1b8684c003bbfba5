package cachekit

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/backend"
	"github.com/cachekit-go/cachekit/backend/memory"
)

// healthyHonourer is the memory backend declared as honouring its context
// only while healthy (as the Redis backend is), with Gets that fail on
// demand.
type healthyHonourer struct {
	*memory.Backend
	fail bool
}

func (h *healthyHonourer) HonoursContext() bool             { return false }
func (h *healthyHonourer) HonoursContextWhileHealthy() bool { return true }

func (h *healthyHonourer) Get(ctx context.Context, key string) ([]byte, bool, error) {
	if h.fail {
		return nil, false, errors.New("connection reset")
	}
	return h.Backend.Get(ctx, key)
}

var _ backend.HealthyContextHonourer = (*healthyHonourer)(nil)

// A HealthyContextHonourer is read inline only after it has answered for
// healthyQuiet without a failure, and a failure sends its reads back to
// the bounded path (a goroutine per read) for another quiet period.
func TestReadInlineOnlyWhileHealthy(t *testing.T) {
	clk := fakeClock()
	be := &healthyHonourer{Backend: memory.New(memory.Options{})}
	c, err := New(quiet(), withClock(clk), WithL1(false), withBackendFactory(func() (backend.Backend, error) { return be, nil }))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	get := func() { _, _, _ = Get[string](ctx, c, "k") }
	if c.readInline() {
		t.Fatal("inline before any answer: the first connection may still be dialling")
	}
	get()
	if c.readInline() {
		t.Fatal("inline right after the first answer")
	}
	clk.Advance(healthyQuiet)
	if !c.readInline() {
		t.Fatal("not inline after a quiet period of answers")
	}
	be.fail = true
	get()
	if c.readInline() {
		t.Fatal("still inline after a failure")
	}
	be.fail = false
	get()
	clk.Advance(healthyQuiet - time.Millisecond)
	if c.readInline() {
		t.Fatal("inline before the quiet period after the failure has passed")
	}
	clk.Advance(time.Millisecond)
	get()
	if !c.readInline() {
		t.Fatal("not inline once the quiet period after the failure has passed")
	}
	// A backend that always honours its context, and one that never does.
	for _, tc := range []struct {
		be   backend.Backend
		want bool
	}{{memory.New(memory.Options{}), true}, {struct{ backend.Backend }{memory.New(memory.Options{})}, false}} {
		c2, err := New(quiet(), withBackendFactory(func() (backend.Backend, error) { return tc.be, nil }))
		if err != nil {
			t.Fatal(err)
		}
		if got := c2.readInline(); got != tc.want {
			t.Errorf("%T: readInline = %v, want %v", tc.be, got, tc.want)
		}
		_ = c2.Close()
	}
}

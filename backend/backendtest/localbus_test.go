package backendtest_test

import (
	"context"
	"testing"

	"github.com/cachekit-go/cachekit/backend"
	"github.com/cachekit-go/cachekit/backend/backendtest"
)

// Every subscription of a LocalBus gets every message, in order, and none
// after its stop.
func TestLocalBus(t *testing.T) {
	bus := backendtest.NewLocalBus(NewMemBackend())
	var r1, r2 backendtest.InvalidationRecorder
	stop1, err := bus.SubscribeInvalidations(r1.Message, r1.State)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bus.SubscribeInvalidations(r2.Message, r2.State); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for seq := uint64(1); seq <= 3; seq++ {
		if err := bus.PublishInvalidation(ctx, backend.Invalidation{Sender: "a", Seq: seq, Keys: []string{"k"}}); err != nil {
			t.Fatal(err)
		}
	}
	stop1()
	if err := bus.PublishInvalidation(ctx, backend.Invalidation{Sender: "a", Seq: 4, Prefix: "p"}); err != nil {
		t.Fatal(err)
	}
	for name, r := range map[string]*backendtest.InvalidationRecorder{"first": &r1, "second": &r2} {
		msgs, states := r.Snapshot()
		if len(states) != 1 || states[0] != backend.LinkUp {
			t.Errorf("%s subscription states %v, want [up]", name, states)
		}
		want := 4
		if name == "first" {
			want = 3 // stopped before the fourth
		}
		if len(msgs) != want {
			t.Fatalf("%s subscription got %d messages, want %d", name, len(msgs), want)
		}
		for i, m := range msgs {
			if m.Seq != uint64(i+1) {
				t.Errorf("%s subscription: message %d has Seq %d", name, i, m.Seq)
			}
		}
	}
}

package redis_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/backend"
	"github.com/cachekit-go/cachekit/backend/redis"
)

type subRecorder struct {
	mu     sync.Mutex
	msgs   []backend.Invalidation
	states []backend.LinkState
}

func (r *subRecorder) msg(m backend.Invalidation) {
	r.mu.Lock()
	r.msgs = append(r.msgs, m)
	r.mu.Unlock()
}
func (r *subRecorder) state(s backend.LinkState) {
	r.mu.Lock()
	r.states = append(r.states, s)
	r.mu.Unlock()
}

func (r *subRecorder) snapshot() ([]backend.Invalidation, []backend.LinkState) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]backend.Invalidation(nil), r.msgs...), append([]backend.LinkState(nil), r.states...)
}

func (r *subRecorder) waitUp(t *testing.T) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		if _, s := r.snapshot(); len(s) > 0 && s[len(s)-1] != backend.LinkDown {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the subscription did not come up within 10s")
		}
	}
}

// Messages reach the subscribers of the same key prefix only, carry what
// was published, and an unreadable message on the channel is reported as a
// possible gap; on a Cluster they travel over sharded Pub/Sub.
func TestInvalidations(t *testing.T) {
	for name, base := range map[string]func(testing.TB) redis.Options{"standalone": standaloneOptions, "cluster": clusterOptions} {
		t.Run(name, func(t *testing.T) {
			o := base(t)
			o.KeyPrefix = "inv-" + randText() + ":"
			pub, same := open(t, o), open(t, o)
			o2 := o
			o2.KeyPrefix += "other:"
			other := open(t, o2)
			var rs, ro subRecorder
			for _, s := range []struct {
				b *redis.Backend
				r *subRecorder
			}{{same, &rs}, {other, &ro}} {
				stop, err := s.b.SubscribeInvalidations(s.r.msg, s.r.state)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(stop)
				s.r.waitUp(t)
			}
			m := backend.Invalidation{Sender: "s1", Seq: 7, Keys: []string{"ns:a", "ns:b"}}
			if err := pub.PublishInvalidation(context.Background(), m); err != nil {
				t.Fatal(err)
			}
			if err := pub.PublishInvalidation(context.Background(), backend.Invalidation{Sender: "s1", Seq: 8, Prefix: "ns:"}); err != nil {
				t.Fatal(err)
			}
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
				if msgs, _ := rs.snapshot(); len(msgs) == 2 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the messages did not arrive within 10s")
				}
			}
			msgs, _ := rs.snapshot()
			if g := msgs[0]; g.Sender != "s1" || g.Seq != 7 || len(g.Keys) != 2 || g.Keys[1] != "ns:b" || g.Prefix != "" {
				t.Fatalf("received %+v", g)
			}
			if g := msgs[1]; g.Seq != 8 || g.Prefix != "ns:" {
				t.Fatalf("received %+v", g)
			}
			// Garbage on the channel: a possible gap.
			c := pub.Client()
			ch := redis.InvalidationChannelPrefix + o.KeyPrefix
			cmd := c.B().Publish().Channel(ch).Message("{not json").Build()
			if name == "cluster" {
				cmd = c.B().Spublish().Channel(ch).Message("{not json").Build()
			}
			if err := c.Do(context.Background(), cmd).Error(); err != nil {
				t.Fatal(err)
			}
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
				if _, s := rs.snapshot(); s[len(s)-1] == backend.LinkReconnected {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("an unreadable message was not reported")
				}
			}
			time.Sleep(20 * time.Millisecond) // anything misrouted would have arrived by now
			if msgs, _ := ro.snapshot(); len(msgs) != 0 {
				t.Fatalf("a subscriber of another key prefix received %v", msgs)
			}
		})
	}
}

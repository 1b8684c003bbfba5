package redis_test

import (
	"context"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/backend"
	"github.com/cachekit-go/cachekit/backend/backendtest"
	"github.com/cachekit-go/cachekit/backend/redis"
)

// waitUp waits until r's subscription is up.
func waitUp(t *testing.T, r *backendtest.InvalidationRecorder) {
	t.Helper()
	r.WaitFor(t, "subscription up", 10*time.Second, func(_ []backend.Invalidation, s []backend.LinkState) bool {
		return len(s) > 0 && s[len(s)-1] != backend.LinkDown
	})
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
			var rs, ro backendtest.InvalidationRecorder
			for _, s := range []struct {
				b *redis.Backend
				r *backendtest.InvalidationRecorder
			}{{same, &rs}, {other, &ro}} {
				stop, err := s.b.SubscribeInvalidations(s.r.Message, s.r.State)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(stop)
				waitUp(t, s.r)
			}
			m := backend.Invalidation{Sender: "s1", Seq: 7, Keys: []string{"ns:a", "ns:b"}}
			if err := pub.PublishInvalidation(context.Background(), m); err != nil {
				t.Fatal(err)
			}
			if err := pub.PublishInvalidation(context.Background(), backend.Invalidation{Sender: "s1", Seq: 8, Prefix: "ns:"}); err != nil {
				t.Fatal(err)
			}
			rs.WaitFor(t, "two messages", 10*time.Second, func(m []backend.Invalidation, _ []backend.LinkState) bool { return len(m) == 2 })
			msgs, _ := rs.Snapshot()
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
			rs.WaitFor(t, "report of an unreadable message", 10*time.Second, func(_ []backend.Invalidation, s []backend.LinkState) bool {
				return s[len(s)-1] == backend.LinkReconnected
			})
			time.Sleep(20 * time.Millisecond) // anything misrouted would have arrived by now
			if msgs, _ := ro.Snapshot(); len(msgs) != 0 {
				t.Fatalf("a subscriber of another key prefix received %v", msgs)
			}
		})
	}
}

package store_test

import (
	"context"
	"crypto/rand"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/cachekit-go/cachekit/cachekitd/internal/testenv"
	"github.com/cachekit-go/cachekit/cachekitd/store"
)

// The memory store is never shared, so it offers no relay.
func TestMemoryHasNoRelay(t *testing.T) {
	var st store.Store = store.NewMemory(store.MemoryOptions{})
	defer st.Close()
	if _, ok := st.(store.Relay); ok {
		t.Fatal("the memory store claims to relay events between replicas")
	}
}

type relayRecorder struct {
	mu    sync.Mutex
	msgs  []store.RelayMessage
	up    chan bool
	count chan struct{}
}

func newRecorder() *relayRecorder {
	return &relayRecorder{up: make(chan bool, 16), count: make(chan struct{}, 1024)}
}

func (r *relayRecorder) onMessage(m store.RelayMessage) {
	r.mu.Lock()
	r.msgs = append(r.msgs, m)
	r.mu.Unlock()
	r.count <- struct{}{}
}
func (r *relayRecorder) onState(up bool) { r.up <- up }

func waitState(t *testing.T, r *relayRecorder, want bool) {
	t.Helper()
	select {
	case got := <-r.up:
		if got != want {
			t.Fatalf("relay state %v, want %v", got, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no relay state %v within 10s", want)
	}
}

// TestRedisRelay: two stores over one Redis (standalone and Cluster) with
// the same prefix hear each other's messages, in order, except the
// subscriber's own; a store with another prefix hears none of them.
func TestRedisRelay(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, env string }{
		{"standalone", "CACHEKIT_TEST_REDIS_ADDR"},
		{"cluster", "CACHEKIT_TEST_REDIS_CLUSTER_ADDRS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			addrs := strings.Split(testenv.Require(t, tc.env), ",")
			prefix := "ckdrelay-" + strings.ToLower(rand.Text()[:10])
			open := func(prefix string) *store.Redis {
				st, err := store.NewRedis(context.Background(), store.RedisOptions{Addrs: addrs, Prefix: prefix})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st.Close() })
				return st
			}
			a, b, other := open(prefix), open(prefix), open(prefix+"x")
			recB, recOther := newRecorder(), newRecorder()
			stopB := b.SubscribeRelay("B", recB.onMessage, recB.onState)
			defer stopB()
			stopO := other.SubscribeRelay("O", recOther.onMessage, recOther.onState)
			defer stopO()
			waitState(t, recB, true)
			waitState(t, recOther, true)

			sent := []store.RelayMessage{
				{Origin: "A", Tenant: "acme", Sender: "c1", Keys: []string{"k1"}},
				{Origin: "A", Tenant: "globex", Sender: "cachekitd", Keys: []string{"k2", "k3"}},
				{Origin: "A", Tenant: "acme", Gap: true},
			}
			// B's own message (Origin "B") is skipped before decoding.
			own := store.RelayMessage{Origin: "B", Tenant: "acme", Sender: "c1", Keys: []string{"own"}}
			if err := a.PublishRelay(context.Background(), append([]store.RelayMessage{own}, sent...)); err != nil {
				t.Fatal(err)
			}
			for range sent {
				select {
				case <-recB.count:
				case <-time.After(10 * time.Second):
					t.Fatal("relayed messages did not arrive")
				}
			}
			recB.mu.Lock()
			got := append([]store.RelayMessage(nil), recB.msgs...)
			recB.mu.Unlock()
			if len(got) != len(sent) {
				t.Fatalf("B received %d messages, want %d (its own skipped): %+v", len(got), len(sent), got)
			}
			for i := range sent {
				if got[i].Origin != sent[i].Origin || got[i].Tenant != sent[i].Tenant || got[i].Sender != sent[i].Sender ||
					strings.Join(got[i].Keys, ",") != strings.Join(sent[i].Keys, ",") || got[i].Gap != sent[i].Gap {
					t.Fatalf("message %d = %+v, want %+v", i, got[i], sent[i])
				}
			}
			// A message to the other prefix's channel, published after the
			// three: when it arrives, nothing else has.
			if err := other.PublishRelay(context.Background(), []store.RelayMessage{{Origin: "X", Tenant: "t", Sender: "s", Keys: []string{"x"}}}); err != nil {
				t.Fatal(err)
			}
			select {
			case <-recOther.count:
			case <-time.After(10 * time.Second):
				t.Fatal("the other prefix's message did not arrive")
			}
			recOther.mu.Lock()
			defer recOther.mu.Unlock()
			if len(recOther.msgs) != 1 || recOther.msgs[0].Origin != "X" {
				t.Fatalf("a store with another prefix heard %+v", recOther.msgs)
			}
		})
	}
}

// killPubSub kills the Pub/Sub connections named name on the Redis at addr
// (CLIENT KILL ID, so nobody else's), and returns how many.
func killPubSub(t *testing.T, addr, name string) int {
	t.Helper()
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	list, err := c.Do(ctx, c.B().ClientList().Build()).ToString()
	if err != nil {
		t.Fatal(err)
	}
	list = strings.TrimPrefix(list, "txt:") // RESP3 may answer a verbatim string
	n := 0
	for _, line := range strings.Split(list, "\n") {
		var id int64 = -1
		named, sub := false, false
		for _, f := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(f, "id="); ok {
				id, _ = strconv.ParseInt(v, 10, 64)
			}
			named = named || f == "name="+name
			sub = sub || f == "flags=P"
		}
		if named && sub && id >= 0 {
			if err := c.Do(ctx, c.B().ClientKill().Id(id).Build()).Error(); err != nil {
				t.Fatal(err)
			}
			n++
		}
	}
	return n
}

// TestRedisRelayReportsLostSubscription: a subscription whose connection
// is killed is reported down, then up again once resubscribed, and still
// delivers; stop returns.
func TestRedisRelayReportsLostSubscription(t *testing.T) {
	t.Parallel()
	addr := testenv.Require(t, "CACHEKIT_TEST_REDIS_ADDR")
	name := "ckdrelay-" + strings.ToLower(rand.Text()[:10])
	st, err := store.NewRedis(context.Background(), store.RedisOptions{Addrs: []string{addr}, Prefix: name, ClientName: name})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rec := newRecorder()
	stop := st.SubscribeRelay("self", rec.onMessage, rec.onState)
	waitState(t, rec, true)
	if n := killPubSub(t, addr, name); n != 1 {
		t.Fatalf("killed %d subscription connections, want 1", n)
	}
	waitState(t, rec, false)
	waitState(t, rec, true)
	if err := st.PublishRelay(context.Background(), []store.RelayMessage{{Origin: "A", Tenant: "t", Sender: "s", Keys: []string{"k"}}}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-rec.count:
	case <-time.After(10 * time.Second):
		t.Fatal("no message after resubscribing")
	}
	done := make(chan struct{})
	go func() { stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("stop did not return")
	}
}

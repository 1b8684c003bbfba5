package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/redis/rueidis"

	"github.com/cachekit-go/cachekit/cachekitd/internal/testenv"
	"github.com/cachekit-go/cachekit/cachekitd/server"
	"github.com/cachekit-go/cachekit/cachekitd/store"
)

// relayBus is an in-process relay shared by the fakeRelay stores on it, so
// the server's side of relaying (queueing, gaps, resets, refusals) is tested
// deterministically; the Redis relay itself is tested over real Redis below
// and in the store package.
type relayBus struct {
	mu   sync.Mutex
	subs []*fakeRelay
}

// fakeRelay is a memory store with a relay on a relayBus.
type fakeRelay struct {
	store.Store
	bus *relayBus

	mu        sync.Mutex
	onMessage func(store.RelayMessage)
	onState   func(bool)
	block     chan struct{} // PublishRelay waits for it to close when set
	fail      bool
}

func newFakeRelay(bus *relayBus) *fakeRelay {
	return &fakeRelay{Store: store.NewMemory(store.MemoryOptions{}), bus: bus}
}

func (f *fakeRelay) PublishRelay(ctx context.Context, msgs []store.RelayMessage) error {
	f.mu.Lock()
	block, fail := f.block, f.fail
	f.mu.Unlock()
	if block != nil {
		<-block
	}
	if fail {
		return errors.New("publish refused")
	}
	f.bus.mu.Lock()
	defer f.bus.mu.Unlock()
	for _, s := range f.bus.subs {
		s.mu.Lock()
		for _, m := range msgs {
			if s.onMessage != nil {
				s.onMessage(m)
			}
		}
		s.mu.Unlock()
	}
	return nil
}

func (f *fakeRelay) SubscribeRelay(_ string, onMessage func(store.RelayMessage), onState func(bool)) func() {
	f.mu.Lock()
	f.onMessage, f.onState = onMessage, onState
	f.mu.Unlock()
	f.bus.mu.Lock()
	f.bus.subs = append(f.bus.subs, f)
	f.bus.mu.Unlock()
	f.setUp(true)
	return func() {
		f.bus.mu.Lock()
		f.bus.subs = slices.DeleteFunc(f.bus.subs, func(s *fakeRelay) bool { return s == f })
		f.bus.mu.Unlock()
		f.mu.Lock()
		f.onMessage, f.onState = nil, nil
		f.mu.Unlock()
	}
}

// setUp reports the subscription up or down, as a store does.
func (f *fakeRelay) setUp(up bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.onState != nil {
		f.onState(up)
	}
}

// inject delivers m to f's subscriber as if another replica sent it.
func (f *fakeRelay) inject(m store.RelayMessage) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.onMessage(m)
}

// ended waits until the stream's lines channel closes, skipping lines.
func ended(t *testing.T, lines <-chan string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-lines:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatal("the stream did not end within 10s")
		}
	}
}

// metric reads one sample of ts's /metrics (Prometheus's parser); labels
// are name=value pairs; -1 when absent.
func metric(t *testing.T, ts *httptest.Server, name string, labels ...string) float64 {
	t.Helper()
	r := call(t, ts, "", "GET", "/metrics", nil)
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(r.body))
	if err != nil {
		t.Fatalf("the Prometheus parser refuses /metrics: %v", err)
	}
	f, ok := fams[name]
	if !ok {
		return -1
	}
next:
	for _, m := range f.GetMetric() {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		if m.GetCounter() != nil {
			return m.GetCounter().GetValue()
		}
		return m.GetGauge().GetValue()
	}
	return -1
}

func TestRelayBetweenReplicas(t *testing.T) {
	t.Parallel()
	bus := &relayBus{}
	a := newServer(t, newFakeRelay(bus), nil)
	b := newServer(t, newFakeRelay(bus), nil)
	onA := openStream(t, a, keyAcme)
	onB := openStream(t, b, keyAcme)
	globexB := openStream(t, b, keyGlobex)

	call(t, a, keyAcme, "PUT", "/v1/cache/a:1", []byte("secret-value"), server.HeaderSender, "cacheA")
	call(t, a, keyAcme, "DELETE", "/v1/cache/a:1", nil)
	call(t, a, keyGlobex, "PUT", "/v1/cache/g:1", []byte("v"))
	for _, lines := range []<-chan string{onA, onB} {
		if got, want := next(t, lines), `{"s":"cacheA","q":1,"k":["a:1"]}`; got != want {
			t.Fatalf("first event %s, want %s", got, want)
		}
		// The next one is the DELETE: A did not emit its own relayed PUT
		// a second time.
		if got, want := next(t, lines), `{"s":"cachekitd","q":2,"k":["a:1"]}`; got != want {
			t.Fatalf("second event %s, want %s", got, want)
		}
	}
	// globex's first event on B is globex's write: none of acme's came before.
	if got, want := next(t, globexB), `{"s":"cachekitd","q":1,"k":["g:1"]}`; got != want {
		t.Fatalf("globex's first event on B %s, want %s", got, want)
	}
	// B numbers its own events on: a write through B continues at q=3.
	call(t, b, keyAcme, "PUT", "/v1/cache/a:2", []byte("v"), server.HeaderSender, "cacheB")
	if got, want := next(t, onB), `{"s":"cacheB","q":3,"k":["a:2"]}`; got != want {
		t.Fatalf("B's own event %s, want %s", got, want)
	}
	if got, want := next(t, onA), `{"s":"cacheB","q":3,"k":["a:2"]}`; got != want {
		t.Fatalf("B's event on A %s, want %s", got, want)
	}
	if n := metric(t, a, "cachekitd_relay_messages_sent_total"); n != 3 {
		t.Fatalf("A sent %v relay messages, want 3", n)
	}
	if n := metric(t, a, "cachekitd_relay_messages_received_total"); n != 1 {
		t.Fatalf("A received %v relay messages, want 1 (B's; its own are skipped)", n)
	}
	if n := metric(t, b, "cachekitd_relay_up"); n != 1 {
		t.Fatalf("cachekitd_relay_up = %v, want 1", n)
	}
}

// A single replica (the memory store) has no relay and no relay metrics.
func TestNoRelayWithoutCapability(t *testing.T) {
	t.Parallel()
	ts := newServer(t, store.NewMemory(store.MemoryOptions{}), nil)
	if n := metric(t, ts, "cachekitd_relay_up"); n != -1 {
		t.Fatalf("a memory-store server exposes cachekitd_relay_up = %v", n)
	}
	off := newServer(t, newFakeRelay(&relayBus{}), func(c *server.Config) { c.DisableRelay = true })
	if n := metric(t, off, "cachekitd_relay_up"); n != -1 {
		t.Fatalf("DisableRelay still relays: cachekitd_relay_up = %v", n)
	}
}

// While the relay's subscription is down, streams end and new ones are
// refused; once it is back they are served again.
func TestRelayDownClosesAndRefusesStreams(t *testing.T) {
	t.Parallel()
	st := newFakeRelay(&relayBus{})
	ts := newServer(t, st, nil)
	lines := openStream(t, ts, keyAcme)
	st.setUp(false)
	ended(t, lines)
	if r := call(t, ts, keyAcme, "GET", server.EventsPath, nil); r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
		t.Fatalf("stream while the relay is down = %d %v, want 503 with Retry-After", r.status, r.header)
	}
	if n := metric(t, ts, "cachekitd_relay_up"); n != 0 {
		t.Fatalf("cachekitd_relay_up = %v while down", n)
	}
	if n := metric(t, ts, "cachekitd_relay_stream_resets_total"); n != 1 {
		t.Fatalf("stream resets = %v, want 1", n)
	}
	st.setUp(true)
	lines = openStream(t, ts, keyAcme)
	call(t, ts, keyAcme, "PUT", "/v1/cache/k", []byte("v"))
	if got := next(t, lines); got != `{"s":"cachekitd","q":1,"k":["k"]}` {
		t.Fatalf("event after the relay came back: %s", got)
	}
}

// A publisher that lags drops events (counted) without slowing writes, and
// the other replicas then end the streams of the tenant concerned only.
func TestRelayLagSendsGapNotice(t *testing.T) {
	t.Parallel()
	bus := &relayBus{}
	stA := newFakeRelay(bus)
	block := make(chan struct{})
	stA.block = block
	a := newServer(t, stA, func(c *server.Config) { c.RelayQueue = 4 })
	b := newServer(t, newFakeRelay(bus), nil)
	acmeB := openStream(t, b, keyAcme)
	globexB := openStream(t, b, keyGlobex)
	// The publisher holds one batch (at most 256 events) while it is
	// blocked, the queue 4 more: 300 writes overflow it.
	for i := range 300 {
		if r := call(t, a, keyAcme, "PUT", "/v1/cache/k"+strconv.Itoa(i), []byte("v")); r.status != 200 {
			t.Fatalf("PUT while the relay lags = %d", r.status)
		}
	}
	dropped := metric(t, a, "cachekitd_relay_messages_dropped_total", "reason", "queue_full")
	if dropped < 300-256-4-1 {
		t.Fatalf("dropped %v events, want at least %d", dropped, 300-256-4-1)
	}
	stA.mu.Lock()
	stA.block = nil
	stA.mu.Unlock()
	close(block)
	ended(t, acmeB) // the gap notice for acme ended acme's stream on B
	call(t, a, keyGlobex, "PUT", "/v1/cache/g", []byte("v"))
	if got, want := next(t, globexB), `{"s":"cachekitd","q":1,"k":["g"]}`; got != want {
		t.Fatalf("globex's stream on B: %s, want %s (a gap of acme must not end it)", got, want)
	}
}

// A failed publish is counted, and reported as a gap once publishing works.
func TestRelayPublishFailureSendsGapNotice(t *testing.T) {
	t.Parallel()
	bus := &relayBus{}
	stA := newFakeRelay(bus)
	stA.fail = true
	a := newServer(t, stA, nil)
	b := newServer(t, newFakeRelay(bus), nil)
	acmeB := openStream(t, b, keyAcme)
	if r := call(t, a, keyAcme, "PUT", "/v1/cache/k", []byte("v")); r.status != 200 {
		t.Fatalf("PUT while publishing fails = %d, want 200", r.status)
	}
	deadline := time.Now().Add(10 * time.Second)
	for metric(t, a, "cachekitd_relay_messages_dropped_total", "reason", "publish_failed") < 1 {
		if time.Now().After(deadline) {
			t.Fatal("the failed publish was not counted")
		}
		time.Sleep(10 * time.Millisecond)
	}
	stA.mu.Lock()
	stA.fail = false
	stA.mu.Unlock()
	ended(t, acmeB)
}

// A relayed message that cannot be trusted (bad key, no tenant, another
// tenant's forged sender) is dropped, counted, and ends the local streams.
func TestRelayInvalidMessage(t *testing.T) {
	t.Parallel()
	st := newFakeRelay(&relayBus{})
	ts := newServer(t, st, nil)
	for i, m := range []store.RelayMessage{
		{Origin: "other", Tenant: "acme", Sender: "s", Keys: []string{"../etc"}},
		{Origin: "other", Sender: "s", Keys: []string{"k"}},
		{Origin: "other", Tenant: "acme", Sender: "bad sender!", Keys: []string{"k"}},
		{}, // unreadable
	} {
		lines := openStream(t, ts, keyAcme)
		st.inject(m)
		ended(t, lines)
		if n := metric(t, ts, "cachekitd_relay_messages_dropped_total", "reason", "invalid"); n != float64(i+1) {
			t.Fatalf("invalid messages counted %v, want %d", n, i+1)
		}
	}
}

// redisRelayPair starts two servers over one Redis (env names its
// addresses) sharing a prefix, as two replicas; name is the Redis client
// name of B's connections.
func redisRelayPair(t *testing.T, env string) (a, b *httptest.Server, prefix, bName string, addrs []string) {
	t.Helper()
	addrs = strings.Split(testenv.Require(t, env), ",")
	prefix = "ckdrelay-" + strings.ToLower(rand.Text()[:10])
	open := func(name string) store.Store {
		st, err := store.NewRedis(context.Background(), store.RedisOptions{Addrs: addrs, Prefix: prefix, ClientName: name})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	bName = prefix + "-b"
	a = newServer(t, open(prefix+"-a"), nil)
	b = newServer(t, open(bName), nil)
	return a, b, prefix, bName, addrs
}

// TestRelayOverRedis: two servers over one real Redis (standalone and
// Cluster). A client of B hears the writes made through A, with the
// writer's sender; a client of another tenant hears nothing of them; what
// crosses Redis carries the tenant and the keys, never the value.
func TestRelayOverRedis(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, env string }{
		{"standalone", "CACHEKIT_TEST_REDIS_ADDR"},
		{"cluster", "CACHEKIT_TEST_REDIS_CLUSTER_ADDRS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, b, prefix, _, addrs := redisRelayPair(t, tc.env)
			// Listen to the relay channel as Redis carries it.
			raw, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: addrs, DisableCache: true})
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			var mu sync.Mutex
			var wire []string
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			subscribed := make(chan struct{})
			go func() {
				_ = raw.Receive(rueidis.WithOnSubscriptionHook(ctx, func(rueidis.PubSubSubscription) { close(subscribed) }),
					raw.B().Subscribe().Channel(prefix+store.RelayChannelSuffix).Build(), func(m rueidis.PubSubMessage) {
						mu.Lock()
						wire = append(wire, m.Message)
						mu.Unlock()
					})
			}()
			<-subscribed

			acmeB := openStream(t, b, keyAcme)
			globexB := openStream(t, b, keyGlobex)
			call(t, a, keyAcme, "PUT", "/v1/cache/a:1", []byte("secret-value-42"), server.HeaderSender, "cacheA")
			call(t, a, keyAcme, "DELETE", "/v1/cache/a:1", nil)
			if got, want := next(t, acmeB), `{"s":"cacheA","q":1,"k":["a:1"]}`; got != want {
				t.Fatalf("B's acme stream: %s, want %s", got, want)
			}
			if got, want := next(t, acmeB), `{"s":"cachekitd","q":2,"k":["a:1"]}`; got != want {
				t.Fatalf("B's acme stream: %s, want %s", got, want)
			}
			call(t, a, keyGlobex, "PUT", "/v1/cache/g:1", []byte("v"))
			if got, want := next(t, globexB), `{"s":"cachekitd","q":1,"k":["g:1"]}`; got != want {
				t.Fatalf("B's globex stream: %s, want %s (nothing of acme's before it)", got, want)
			}
			deadline := time.Now().Add(10 * time.Second)
			mu.Lock()
			defer mu.Unlock()
			for len(wire) < 3 {
				if time.Now().After(deadline) {
					t.Fatalf("the relay channel carried %d messages, want 3: %q", len(wire), wire)
				}
				mu.Unlock()
				time.Sleep(10 * time.Millisecond)
				mu.Lock()
			}
			for _, m := range wire {
				if strings.Contains(m, "secret") {
					t.Fatalf("a relayed message carries the value: %s", m)
				}
			}
			if !strings.Contains(wire[0], `"t":"acme"`) || !strings.Contains(wire[0], `"k":["a:1"]`) {
				t.Fatalf("relayed message %s lacks the tenant or key", wire[0])
			}
			if n := metric(t, b, "cachekitd_relay_messages_received_total"); n < 3 {
				t.Fatalf("B received %v relay messages, want 3", n)
			}
		})
	}
}

// killPubSubLines kills the Pub/Sub connections named name on the nodes of
// addrs (CLIENT KILL ID: nobody else's) and returns their CLIENT LIST
// lines. It stops at the first node where it killed one: the subscriber
// subscribes again within about 50 ms, maybe on a node not visited yet.
func killPubSubLines(t *testing.T, addrs []string, name string) []string {
	t.Helper()
	var n []string
	for _, addr := range addrs {
		c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true, ForceSingleClient: true})
		if err != nil {
			t.Fatal(err)
		}
		list, err := c.Do(context.Background(), c.B().ClientList().Build()).ToString()
		if err != nil {
			c.Close()
			t.Fatal(err)
		}
		list = strings.TrimPrefix(list, "txt:") // RESP3 may answer a verbatim string
		for _, line := range strings.Split(list, "\n") {
			if !strings.Contains(line, " name="+name+" ") || !strings.Contains(line, " flags=P ") {
				continue
			}
			id, err := strconv.ParseInt(strings.TrimPrefix(strings.Fields(line)[0], "id="), 10, 64)
			if err == nil && c.Do(context.Background(), c.B().ClientKill().Id(id).Build()).Error() == nil {
				n = append(n, addr+": "+line)
			}
		}
		c.Close()
		if len(n) > 0 {
			break
		}
	}
	return n
}

// TestRelayResubscribeClosesStreams: when B's relay subscription breaks
// (its connection killed in Redis) and comes back, B's streams end, since
// events may have been lost meanwhile; streams opened afterwards hear A
// again.
func TestRelayResubscribeClosesStreams(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, env string }{
		{"standalone", "CACHEKIT_TEST_REDIS_ADDR"},
		{"cluster", "CACHEKIT_TEST_REDIS_CLUSTER_ADDRS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, b, _, bName, addrs := redisRelayPair(t, tc.env)
			lines := openStream(t, b, keyAcme) // served: B's relay is up
			// The subscription may be confirmed to B a moment before CLIENT
			// LIST shows the connection's name on a loaded machine: retry.
			deadline := time.Now().Add(10 * time.Second)
			killed := killPubSubLines(t, addrs, bName)
			for ; len(killed) == 0 && time.Now().Before(deadline); killed = killPubSubLines(t, addrs, bName) {
				time.Sleep(20 * time.Millisecond)
			}
			if len(killed) != 1 {
				t.Fatalf("killed %d relay subscriptions of B, want 1:\n%s", len(killed), strings.Join(killed, "\n"))
			}
			ended(t, lines)
			// Counted right after the streams end.
			for metric(t, b, "cachekitd_relay_stream_resets_total") < 1 {
				if time.Now().After(deadline) {
					t.Fatal("the stream reset was not counted")
				}
				time.Sleep(10 * time.Millisecond)
			}
			// B resubscribes within about 50 ms; until then streams get 503.
			deadline = time.Now().Add(10 * time.Second)
			for metric(t, b, "cachekitd_relay_up") != 1 {
				if time.Now().After(deadline) {
					t.Fatal("B's relay did not come back")
				}
				time.Sleep(10 * time.Millisecond)
			}
			lines = openStream(t, b, keyAcme)
			call(t, a, keyAcme, "PUT", "/v1/cache/k", []byte("v"), server.HeaderSender, "cacheA")
			if got, want := next(t, lines), `{"s":"cacheA","q":1,"k":["k"]}`; got != want {
				t.Fatalf("event after resubscribing: %s, want %s", got, want)
			}
		})
	}
}

// TestRelayPropagationFigures measures the delay from the start of a PUT
// through replica A to the event on a stream of replica B, over one Redis
// on loopback. CACHEKITD_RELAY_FIGURES=1 turns it on (it is a measurement,
// not a check); CACHEKITD_RELAY_WRITES sets the number of writes (2000).
func TestRelayPropagationFigures(t *testing.T) {
	if os.Getenv("CACHEKITD_RELAY_FIGURES") == "" {
		t.Skip("set CACHEKITD_RELAY_FIGURES=1 to measure")
	}
	for _, tc := range []struct{ name, env string }{
		{"standalone", "CACHEKIT_TEST_REDIS_ADDR"},
		{"cluster", "CACHEKIT_TEST_REDIS_CLUSTER_ADDRS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b, _, _, _ := redisRelayPair(t, tc.env)
			n := 2000
			if v, err := strconv.Atoi(os.Getenv("CACHEKITD_RELAY_WRITES")); err == nil && v > 0 {
				n = v
			}
			onB := openStream(t, b, keyAcme)
			onA := openStream(t, a, keyAcme)
			c := a.Client()
			var remote, local, acks []time.Duration
			for i := range n {
				req, _ := http.NewRequest("PUT", a.URL+"/v1/cache/fig:"+strconv.Itoa(i), strings.NewReader("v"))
				req.Header.Set("Authorization", "Bearer "+keyAcme)
				start := time.Now()
				resp, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				acks = append(acks, time.Since(start))
				want := `"fig:` + strconv.Itoa(i) + `"`
				for got := 0; got < 2; got++ {
					var ev string
					var local_ bool
					select {
					case ev = <-onB:
					case ev = <-onA:
						local_ = true
					case <-time.After(10 * time.Second):
						t.Fatalf("write %d: no event within 10s", i)
					}
					d := time.Since(start)
					if !strings.Contains(ev, want) {
						t.Fatalf("event %s for write %d", ev, i)
					}
					if local_ {
						local = append(local, d)
					} else {
						remote = append(remote, d)
					}
				}
			}
			q := func(v []time.Duration, p float64) time.Duration {
				s := slices.Clone(v)
				slices.Sort(s)
				return s[min(len(s)-1, int(p*float64(len(s))))]
			}
			t.Logf("%s: %d writes, PUT start -> event on B's stream (relayed): p50 %v p99 %v max %v; on A's own stream: p50 %v p99 %v; PUT answered: p50 %v p99 %v",
				tc.name, n, q(remote, 0.5), q(remote, 0.99), q(remote, 1), q(local, 0.5), q(local, 0.99), q(acks, 0.5), q(acks, 0.99))
		})
	}
}

// BenchmarkHandlerPutRedisRelay measures PUTs of 1 KiB values through the
// handler (no network to the client) on the Redis store, with the relay on
// (the default) and off, concurrently (8 goroutines per CPU), and reports
// the events the relay dropped per write (dropped/op: 0 when it keeps up).
// Interleave the two with -count to compare them on a shared machine.
func BenchmarkHandlerPutRedisRelay(b *testing.B) {
	addr := testenv.Require(b, "CACHEKIT_TEST_REDIS_ADDR")
	for _, relay := range []bool{true, false} {
		b.Run("relay="+strconv.FormatBool(relay), func(b *testing.B) {
			st, err := store.NewRedis(context.Background(), store.RedisOptions{Addrs: []string{addr}, Prefix: "ckdbench-" + strings.ToLower(rand.Text()[:10])})
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			keys := server.NewKeyring()
			if err := keys.Add("acme", keyAcme, 0); err != nil {
				b.Fatal(err)
			}
			m := server.NewMetrics()
			h, err := server.New(server.Config{Store: st, Keys: keys, Metrics: m, DisableRelay: !relay, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				b.Fatal(err)
			}
			defer h.Close()
			value := bytes.Repeat([]byte("v"), 1024)
			b.SetBytes(int64(len(value)))
			b.ReportAllocs()
			b.SetParallelism(8)
			var n atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				w := &discardWriter{h: http.Header{}}
				for pb.Next() {
					i := n.Add(1)
					req := httptest.NewRequest("PUT", "/v1/cache/k:"+strconv.FormatInt(i%1024, 10), bytes.NewReader(value))
					req.Header.Set("Authorization", "Bearer "+keyAcme)
					req.Header.Set("X-CacheKit-TTL", "60")
					clear(w.h)
					h.ServeHTTP(w, req)
					if w.code != 200 {
						b.Errorf("status %d", w.code)
						return
					}
				}
			})
			b.StopTimer()
			rec := httptest.NewRecorder()
			m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
			var dropped float64
			for _, line := range strings.Split(rec.Body.String(), "\n") {
				if v, ok := strings.CutPrefix(line, `cachekitd_relay_messages_dropped_total{reason="queue_full"} `); ok {
					dropped, _ = strconv.ParseFloat(v, 64)
				}
			}
			b.ReportMetric(dropped/float64(b.N), "dropped/op")
		})
	}
}

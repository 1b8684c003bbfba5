package store

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/redis/rueidis"
)

// Relay is an optional capability of a Store: carrying invalidation events
// between the cachekitd replicas that share the store, so that a write made
// through one replica reaches the invalidation streams of every other one.
// A single replica needs none, and the memory store (never shared) does not
// implement it; the Redis store does, over Redis Pub/Sub. The server finds
// it with a type assertion, so it never imports a particular store.
//
// A relay is best effort, like Pub/Sub itself: it delivers each message at
// most once and says when it may have lost some (onState false, then true
// again), which is the moment a replica must treat its streams as having
// missed events.
type Relay interface {
	// PublishRelay sends msgs, in order, to every subscription of the
	// relay, the publisher's own included (receivers skip their own by
	// RelayMessage.Origin).
	PublishRelay(ctx context.Context, msgs []RelayMessage) error
	// SubscribeRelay delivers the relay's messages to onMessage until stop
	// is called, except (where the store can tell them cheaply, before
	// decoding) those whose Origin is self. onState(true) reports a
	// confirmed subscription, onState(false)
	// a lost one (messages published until the next onState(true) may be
	// lost); the first report is either. Callbacks never run concurrently
	// and not at all after stop returns. onMessage must not block: it runs
	// on the subscription's reading goroutine.
	SubscribeRelay(self string, onMessage func(RelayMessage), onState func(up bool)) (stop func())
}

// RelayMessage is one relayed event: keys of one tenant written by one
// sender, never values. The Redis store sends it as JSON with Origin first,
// so a subscriber skips its own messages by their first bytes.
type RelayMessage struct {
	// Origin is the publishing replica's random id.
	Origin string `json:"o"`
	// Tenant is the tenant the write was authenticated for; with Gap, empty
	// means every tenant.
	Tenant string `json:"t"`
	// Sender is the writer's X-CacheKit-Sender (or "cachekitd").
	Sender string `json:"s,omitempty"`
	// Keys are the written keys.
	Keys []string `json:"k,omitempty"`
	// Gap says that Origin could not relay some events of Tenant (its queue
	// overflowed or a publish failed): receivers must treat their streams
	// of Tenant as having missed events.
	Gap bool `json:"g,omitempty"`
}

// maxRelayMessageBytes bounds a relayed message a subscriber accepts.
const maxRelayMessageBytes = 1 << 20

// Relay subscription retry pacing after its connection broke.
const (
	relayRetryMin = 50 * time.Millisecond
	relayRetryMax = time.Second
)

// RelayChannelSuffix ends the name of the Redis Pub/Sub channel of the
// relay: `<prefix>:relay`, so deployments with different prefixes on one
// Redis never hear each other.
const RelayChannelSuffix = ":relay"

var _ Relay = (*Redis)(nil)

func (r *Redis) relayChannel() string { return r.prefix + RelayChannelSuffix }

// PublishRelay implements Relay: one PUBLISH per message, pipelined in one
// round trip. Plain PUBLISH (not SPUBLISH) on a Cluster too: see
// SubscribeRelay.
func (r *Redis) PublishRelay(ctx context.Context, msgs []RelayMessage) error {
	if len(msgs) == 0 {
		return nil
	}
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	ch := r.relayChannel()
	cmds := make(rueidis.Commands, 0, len(msgs))
	for _, m := range msgs {
		b, err := json.Marshal(m)
		if err != nil {
			return wrap("relay publish", err)
		}
		cmds = append(cmds, r.c.B().Publish().Channel(ch).Message(string(b)).Build())
	}
	for _, res := range r.c.DoMulti(ctx, cmds...) {
		if err := res.Error(); err != nil {
			return wrap("relay publish", err)
		}
	}
	return nil
}

// SubscribeRelay implements Relay: SUBSCRIBE to `<prefix>:relay` on a
// dedicated connection, subscribing again after 50 ms (doubling up to 1 s)
// whenever the connection breaks.
//
// Plain Pub/Sub rather than sharded Pub/Sub (SSUBSCRIBE, Redis 7) on a
// Cluster, on purpose: the relay is one channel that every replica needs
// whole, so sharding would put all of it on one shard anyway; a plain
// subscription works on any node (a Cluster forwards PUBLISH to every node
// over its bus), on every Redis and Valkey version, and is not ended when
// the channel's slot migrates, which for a sharded subscription would close
// every stream of every replica on each resharding. The price is that each
// relayed event crosses the cluster bus to every node, which is small at
// cache write rates.
func (r *Redis) SubscribeRelay(self string, onMessage func(RelayMessage), onState func(up bool)) (stop func()) {
	quoted, _ := json.Marshal(self)
	s := &relaySub{r: r, own: `{"o":` + string(quoted) + `,`, onMessage: onMessage, onState: onState, quit: make(chan struct{}), done: make(chan struct{})}
	go s.run()
	return s.stop
}

// relaySub is one relay subscription. Callbacks run under mu, so they never
// overlap, and not at all once stopped.
type relaySub struct {
	r         *Redis
	own       string // how the subscriber's own messages start: {"o":"<self>",
	onMessage func(RelayMessage)
	onState   func(up bool)
	quit      chan struct{}
	done      chan struct{}
	once      sync.Once

	mu       sync.Mutex
	stopped  bool
	reported bool
	up       bool
}

func (s *relaySub) stop() {
	s.once.Do(func() { close(s.quit) })
	<-s.done
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
}

func (s *relaySub) state(up bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped || (s.reported && s.up == up) {
		return
	}
	s.reported, s.up = true, up
	s.onState(up)
}

func (s *relaySub) message(raw string) {
	if strings.HasPrefix(raw, s.own) {
		return // the subscriber's own, not worth decoding
	}
	var m RelayMessage
	if len(raw) > maxRelayMessageBytes || json.Unmarshal([]byte(raw), &m) != nil || m.Origin == "" {
		m = RelayMessage{} // unreadable: delivered empty, the receiver counts and drops it
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped || !s.up {
		return
	}
	s.onMessage(m)
}

func (s *relaySub) run() {
	defer close(s.done)
	delay := relayRetryMin
	for {
		confirmed, closing := s.subscribeOnce()
		s.state(false)
		if closing {
			return
		}
		if confirmed {
			delay = relayRetryMin
		}
		t := time.NewTimer(delay)
		select {
		case <-s.quit:
			t.Stop()
			return
		case <-t.C:
		}
		delay = min(2*delay, relayRetryMax)
	}
}

// subscribeOnce makes one subscription and waits until it ends; it reports
// whether it had been confirmed, and whether the store is closed.
func (s *relaySub) subscribeOnce() (confirmed, closing bool) {
	dc, release := s.r.c.Dedicate()
	defer release()
	lost := make(chan struct{})
	var lostOnce sync.Once
	var mu sync.Mutex
	wait := dc.SetPubSubHooks(rueidis.PubSubHooks{
		OnMessage: func(m rueidis.PubSubMessage) { s.message(m.Message) },
		OnSubscription: func(sub rueidis.PubSubSubscription) {
			switch sub.Kind {
			case "subscribe":
				mu.Lock()
				confirmed = true
				mu.Unlock()
				s.state(true)
			case "unsubscribe":
				lostOnce.Do(func() { close(lost) })
			}
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), s.r.timeout)
	err := dc.Do(ctx, dc.B().Subscribe().Channel(s.r.relayChannel()).Build()).Error()
	cancel()
	if err == nil {
		select {
		case err = <-wait:
		case <-lost:
		case <-s.quit:
		}
	}
	dc.Close()
	mu.Lock()
	defer mu.Unlock()
	return confirmed, errors.Is(err, rueidis.ErrClosing)
}

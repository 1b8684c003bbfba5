package redis

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/redis/rueidis"

	"github.com/cachekit-go/cachekit/backend"
)

var _ backend.Invalidator = (*Backend)(nil)

// InvalidationChannelPrefix starts the name of the Pub/Sub channel on which
// the caches sharing a key prefix exchange invalidation messages: the
// channel is InvalidationChannelPrefix + Options.KeyPrefix, so caches with
// different key prefixes (tenants, namespaces) never hear each other.
const InvalidationChannelPrefix = "cachekit:inv:"

// Subscription retry pacing after the subscription's connection broke.
const (
	subscribeRetryMin = 50 * time.Millisecond
	subscribeRetryMax = time.Second
)

// maxInvalidationBytes bounds a message the subscriber accepts; a larger
// one is treated as unreadable (the subscriber is told it may have missed
// something).
const maxInvalidationBytes = 1 << 20

func (b *Backend) invalidationChannel() string { return InvalidationChannelPrefix + b.prefix }

// PublishInvalidation publishes m on the key prefix's channel: PUBLISH on a
// standalone or Sentinel-managed server, SPUBLISH (sharded Pub/Sub, Redis
// 7.0 or later) on a Cluster. It implements backend.Invalidator.
func (b *Backend) PublishInvalidation(ctx context.Context, m backend.Invalidation) error {
	ch := b.invalidationChannel()
	ctx, cancel, c, err := b.start(ctx, "publish", ch)
	if err != nil {
		return err
	}
	defer cancel()
	msg, err := json.Marshal(m)
	if err != nil {
		return wrapErr("publish", ch, err)
	}
	var cmd rueidis.Completed
	if c.Mode() == rueidis.ClientModeCluster {
		cmd = c.B().Spublish().Channel(ch).Message(string(msg)).Build()
	} else {
		cmd = c.B().Publish().Channel(ch).Message(string(msg)).Build()
	}
	if err := c.Do(ctx, cmd).Error(); err != nil {
		return wrapErr("publish", ch, err)
	}
	return nil
}

// SubscribeInvalidations subscribes to the key prefix's channel on a
// dedicated connection (SSUBSCRIBE on a Cluster, on the node that owns the
// channel's slot) and delivers its messages. It implements
// backend.Invalidator: it reports LinkDown at once while the backend has no
// connection yet or the first subscription fails; when the connection breaks, or the channel's slot
// moves to another node, it reports LinkDown and subscribes again after 50
// ms, doubling up to once a second, reporting LinkReconnected once the new
// subscription is confirmed. A message that cannot be read is reported as
// LinkReconnected too (the subscriber should assume it missed something).
// It does not fail: before the backend has connected, it waits for it.
func (b *Backend) SubscribeInvalidations(onMessage func(backend.Invalidation), onState func(backend.LinkState)) (func(), error) {
	s := &subscriber{
		b:         b,
		ch:        b.invalidationChannel(),
		onMessage: onMessage,
		onState:   onState,
		quit:      make(chan struct{}),
		done:      make(chan struct{}),
	}
	go s.run()
	return s.stop, nil
}

// subscriber is one invalidation subscription. Callbacks run under mu, so
// they never overlap, and not at all once stopped.
type subscriber struct {
	b         *Backend
	ch        string
	onMessage func(backend.Invalidation)
	onState   func(backend.LinkState)
	quit      chan struct{}
	done      chan struct{}
	once      sync.Once

	mu       sync.Mutex
	stopped  bool
	reported bool // a state was reported
	wasUp    bool // a subscription was confirmed before
	up       bool // the current one is
}

func (s *subscriber) stop() {
	s.once.Do(func() { close(s.quit) })
	<-s.done
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
}

// state reports a change to LinkUp/LinkReconnected (up) or LinkDown.
func (s *subscriber) state(up bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped || (s.up == up && s.reported) {
		return
	}
	s.reported = true
	s.up = up
	switch {
	case !up:
		s.onState(backend.LinkDown)
	case s.wasUp:
		s.onState(backend.LinkReconnected)
	default:
		s.wasUp = true
		s.onState(backend.LinkUp)
	}
}

func (s *subscriber) message(raw string) {
	var m backend.Invalidation
	ok := len(raw) <= maxInvalidationBytes && json.Unmarshal([]byte(raw), &m) == nil && m.Sender != "" && m.Seq > 0
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped || !s.up {
		return
	}
	if !ok {
		s.onState(backend.LinkReconnected)
		return
	}
	s.onMessage(m)
}

// run subscribes, waits for the subscription to end, and subscribes again,
// until stopped.
func (s *subscriber) run() {
	defer close(s.done)
	if s.b.link.current() == nil {
		s.state(false) // not connected yet: say so rather than keep the cache waiting
	}
	select {
	case <-s.b.link.ready:
	case <-s.quit:
		return
	case <-s.b.link.stop:
		return
	}
	delay := subscribeRetryMin
	for {
		if s.once1() {
			delay = subscribeRetryMin
		}
		s.state(false)
		t := time.NewTimer(delay)
		select {
		case <-s.quit:
			t.Stop()
			return
		case <-s.b.link.stop:
			t.Stop()
			return
		case <-t.C:
		}
		delay = min(2*delay, subscribeRetryMax)
	}
}

// once1 makes one subscription and waits until it ends; it reports whether
// the subscription had been confirmed (the retry delay then starts over).
func (s *subscriber) once1() (confirmed bool) {
	c := s.b.link.client
	dc, release := c.Dedicate()
	defer release()
	lost := make(chan struct{})
	var lostOnce sync.Once
	var mu sync.Mutex
	wait := dc.SetPubSubHooks(rueidis.PubSubHooks{
		OnMessage: func(m rueidis.PubSubMessage) { s.message(m.Message) },
		OnSubscription: func(sub rueidis.PubSubSubscription) {
			switch sub.Kind {
			case "subscribe", "ssubscribe":
				mu.Lock()
				confirmed = true
				mu.Unlock()
				s.state(true)
			case "unsubscribe", "sunsubscribe": // e.g. the slot moved
				lostOnce.Do(func() { close(lost) })
			}
		},
	})
	var cmd rueidis.Completed
	if c.Mode() == rueidis.ClientModeCluster {
		cmd = dc.B().Ssubscribe().Channel(s.ch).Build()
	} else {
		cmd = dc.B().Subscribe().Channel(s.ch).Build()
	}
	ctx, cancel := context.WithTimeout(context.Background(), DefaultConnTimeout)
	err := dc.Do(ctx, cmd).Error()
	cancel()
	if err == nil {
		select {
		case <-wait:
		case <-lost:
		case <-s.quit:
		case <-s.b.link.stop:
		}
	}
	dc.Close()
	mu.Lock()
	defer mu.Unlock()
	return confirmed
}

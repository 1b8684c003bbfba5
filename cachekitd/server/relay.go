package server

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cachekit-go/cachekit/cachekitd/store"
)

// Replicas. Several cachekitd replicas over one shared store (Redis) each
// serve their own invalidation streams, so a write through one replica must
// reach the streams of the others. When the store implements store.Relay
// (and Config.DisableRelay is not set), every replica hands each write
// event (tenant, sender, key: never a value) to the relay, and emits the
// events other replicas relayed on its own streams, numbered by its own
// per-tenant q as its local ones and with the writer's sender preserved, so
// an SDK still skips its own writes. The tenant in a relayed event is the
// one the write was authenticated for; a replica skips the events it
// relayed itself by its random replica id.
//
// Publishing never slows or fails a write: the handler only puts the event
// in a bounded queue (Config.RelayQueue) and one goroutine publishes batches of
// it. When the queue is full, or a publish fails, the events are dropped
// and counted, and the replica then relays a gap notice for the tenants
// concerned, on which every other replica ends those tenants' streams: their
// clients reconnect and flush their copies rather than keep ones whose
// invalidation never arrived. Likewise, while the relay's subscription is
// down a replica ends all its streams and refuses new ones (503), so that no
// client believes itself coherent while events may be lost; clients then
// cut their copies to their fallback TTL, and flush once the stream is back.

const (
	// DefaultRelayQueue is how many write events may wait to be relayed to
	// the other replicas (Config.RelayQueue); beyond, events are dropped
	// (counted as cachekitd_relay_messages_dropped_total{reason="queue_full"})
	// and a gap notice follows.
	DefaultRelayQueue = 8192
	// relayBatch is the largest number of events published in one round
	// trip.
	relayBatch = 256
	// relayStartWait is how long New waits for the relay's first
	// subscription, so a replica normally serves streams from its start.
	relayStartWait = 2 * time.Second
	// maxGapTenants bounds the tenants a pending gap notice names; beyond,
	// one notice for every tenant is sent.
	maxGapTenants = 1024
	// relayRetryMin and relayRetryMax pace publishing after a failure.
	relayRetryMin = 50 * time.Millisecond
	relayRetryMax = time.Second
	// relayLogEvery bounds how often publish failures are logged.
	relayLogEvery = 10 * time.Second
)

// Reasons of cachekitd_relay_messages_dropped_total.
const (
	dropQueueFull = iota
	dropPublishFailed
	dropInvalid
	numDropReasons
)

var dropReasons = [numDropReasons]string{"queue_full", "publish_failed", "invalid"}

type relayItem struct{ tenant, sender, key string }

// relay connects a Server to its store's relay.
type relay struct {
	s        *Server
	st       store.Relay
	id       string
	queue    chan relayItem
	quit     chan struct{}
	done     chan struct{}
	stopSub  func()
	first    chan struct{}
	once     sync.Once
	stopped  sync.Once
	up       atomic.Bool
	reported atomic.Bool // a state was reported

	mu      sync.Mutex
	gaps    map[string]struct{} // tenants whose events were lost here
	gapAll  bool                // ... or all of them
	lastLog time.Time
}

func newRelay(s *Server, st store.Relay) *relay {
	r := &relay{
		s: s, st: st, id: rand.Text(),
		queue: make(chan relayItem, s.cfg.RelayQueue),
		quit:  make(chan struct{}), done: make(chan struct{}), first: make(chan struct{}),
		gaps: map[string]struct{}{},
	}
	s.metrics.relayOn.Store(true)
	s.events.setAvailable(false) // until the subscription is confirmed
	r.stopSub = st.SubscribeRelay(r.id, r.onMessage, r.onState)
	go r.run()
	t := time.NewTimer(relayStartWait)
	defer t.Stop()
	select {
	case <-r.first:
	case <-t.C:
		s.log.Warn("invalidation relay: no subscription yet; invalidation streams are refused until it is up")
	}
	return r
}

// announce tells the tenant's streams here, and the other replicas, that
// key was written by the writer of r.
func (s *Server) announce(tenant string, r *http.Request, key string) {
	sender := senderOf(r)
	s.events.publish(tenant, sender, nil, key)
	if s.relay != nil {
		s.relay.enqueue(relayItem{tenant, sender, key})
	}
}

// enqueue hands an event to the publisher without ever waiting.
func (r *relay) enqueue(it relayItem) {
	select {
	case r.queue <- it:
	default:
		r.s.metrics.relayDropped[dropQueueFull].Add(1)
		r.markGap(it.tenant)
	}
}

func (r *relay) markGap(tenant string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.gapAll {
		return
	}
	if len(r.gaps) >= maxGapTenants {
		r.gapAll = true
		clear(r.gaps)
		return
	}
	r.gaps[tenant] = struct{}{}
}

func (r *relay) pendingGaps() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.gapAll || len(r.gaps) > 0
}

// gapNotices takes the pending gaps as messages.
func (r *relay) gapNotices(msgs []store.RelayMessage) []store.RelayMessage {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.gapAll {
		r.gapAll = false
		clear(r.gaps)
		return append(msgs, store.RelayMessage{Origin: r.id, Gap: true})
	}
	for t := range r.gaps {
		msgs = append(msgs, store.RelayMessage{Origin: r.id, Tenant: t, Gap: true})
	}
	clear(r.gaps)
	return msgs
}

// run publishes the queue until stopped, then what is left in it.
func (r *relay) run() {
	defer close(r.done)
	batch := make([]relayItem, 0, relayBatch)
	delay := relayRetryMin
	for {
		var retry <-chan time.Time
		if r.pendingGaps() {
			retry = time.After(delay)
		}
		select {
		case it := <-r.queue:
			batch = append(batch, it)
		case <-retry:
		case <-r.quit:
			for {
				batch = r.fill(batch[:0])
				if len(batch) == 0 && !r.pendingGaps() {
					return
				}
				if !r.flush(batch) {
					return
				}
			}
		}
		batch = r.fill(batch)
		if r.flush(batch) {
			delay = relayRetryMin
		} else {
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-r.quit:
				t.Stop()
			}
			delay = min(2*delay, relayRetryMax)
		}
		batch = batch[:0]
	}
}

// fill adds to batch what the queue holds, up to relayBatch.
func (r *relay) fill(batch []relayItem) []relayItem {
	for len(batch) < relayBatch {
		select {
		case it := <-r.queue:
			batch = append(batch, it)
		default:
			return batch
		}
	}
	return batch
}

// flush publishes the pending gap notices and batch, and reports success.
// On failure the events are counted as dropped and become gaps.
func (r *relay) flush(batch []relayItem) bool {
	msgs := r.gapNotices(make([]store.RelayMessage, 0, len(batch)+1))
	gapped := len(msgs)
	for _, it := range batch {
		msgs = append(msgs, store.RelayMessage{Origin: r.id, Tenant: it.tenant, Sender: it.sender, Keys: []string{it.key}})
	}
	if len(msgs) == 0 {
		return true
	}
	err := r.st.PublishRelay(context.Background(), msgs)
	if err == nil {
		r.s.metrics.relaySent.Add(uint64(len(msgs)))
		return true
	}
	r.s.metrics.relayDropped[dropPublishFailed].Add(uint64(len(batch)))
	for _, m := range msgs[:gapped] {
		if m.Tenant == "" {
			r.mu.Lock()
			r.gapAll = true
			r.mu.Unlock()
		} else {
			r.markGap(m.Tenant)
		}
	}
	for _, it := range batch {
		r.markGap(it.tenant)
	}
	r.mu.Lock()
	logIt := time.Since(r.lastLog) >= relayLogEvery
	if logIt {
		r.lastLog = time.Now()
	}
	r.mu.Unlock()
	if logIt {
		r.s.log.LogAttrs(context.Background(), slog.LevelWarn, "invalidation relay: publish failed; other replicas will reset the streams of the tenants concerned",
			slog.Int("events", len(batch)), slog.String("error", err.Error()))
	}
	return false
}

// onMessage emits another replica's event on the local streams.
func (r *relay) onMessage(m store.RelayMessage) {
	if m.Origin == r.id {
		return
	}
	if m.Origin == "" || (!m.Gap && !validRelayEvent(m)) {
		// Unreadable: it may have been an invalidation, so no stream here
		// may trust that it saw every event.
		r.s.metrics.relayDropped[dropInvalid].Add(1)
		r.reset("", true)
		return
	}
	r.s.metrics.relayReceived.Add(1)
	if m.Gap {
		r.reset(m.Tenant, m.Tenant == "")
		return
	}
	r.s.events.publish(m.Tenant, m.Sender, m.Keys, "")
}

func validRelayEvent(m store.RelayMessage) bool {
	if m.Tenant == "" || !validSender(m.Sender) || len(m.Keys) == 0 {
		return false
	}
	for _, k := range m.Keys {
		if !ValidKey(k) {
			return false
		}
	}
	return true
}

func (r *relay) reset(tenant string, all bool) {
	if r.s.events.reset(tenant, all) > 0 {
		r.s.metrics.relayResets.Add(1)
	}
}

// onState follows the subscription: while it is down, events from the other
// replicas may be lost, so the streams are ended and refused until it is
// back.
func (r *relay) onState(up bool) {
	was := r.up.Swap(up)
	r.s.metrics.relayUp.Store(up)
	if up {
		r.s.events.setAvailable(true)
		if !was {
			r.s.log.Info("invalidation relay subscribed")
		}
	} else {
		if r.s.events.reset("", true) > 0 {
			r.s.metrics.relayResets.Add(1)
		}
		r.s.events.setAvailable(false)
		switch {
		case was:
			r.s.log.Warn("invalidation relay lost its subscription: invalidation streams closed until it is back")
		case !r.reported.Load():
			r.s.log.Warn("invalidation relay cannot subscribe (check that Redis allows SUBSCRIBE on the relay channel): invalidation streams refused until it does")
		}
	}
	r.reported.Store(true)
	r.once.Do(func() { close(r.first) })
}

// stop ends the subscription, then publishes what is queued.
func (r *relay) stop() {
	r.stopped.Do(func() {
		r.stopSub()
		close(r.quit)
		<-r.done
	})
}

// Close stops relaying (publishing what is queued first, each publish
// bounded by the store's timeout) and ends the streams. Call it after the
// http.Server's Shutdown, so the writes that were still running are
// relayed, and before closing the store.
func (s *Server) Close() error {
	if s.relay != nil {
		s.relay.stop()
	}
	s.events.close()
	return nil
}

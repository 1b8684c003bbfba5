package cachekit

import (
	"context"
	"crypto/rand"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cachekit-go/cachekit/backend"
)

// DefaultCoherenceFallbackTTL bounds the lifetime of L1 entries while the
// invalidation channel is down (see WithCoherenceFallbackTTL).
const DefaultCoherenceFallbackTTL = time.Second

// coherenceStartWait is how long New waits for the first subscription, so
// that a cache over a reachable backend starts with its channel up.
const coherenceStartWait = 250 * time.Millisecond

// maxSenders bounds the per-sender sequence table; past it the table starts
// over (a replayed message from a forgotten sender then drops an entry once
// more, which costs a backend read, never a stale value).
const maxSenders = 4096

// coherenceConfig holds the coherence options; the zero value is the
// default (on, DefaultCoherenceFallbackTTL, no L1 cap).
type coherenceConfig struct {
	off      bool
	fallback time.Duration
	l1TTL    time.Duration
}

// WithCoherence turns the L1 invalidation channel on or off (default on).
// When it is on and the backend carries invalidations
// (backend.Invalidator: Redis, and the CacheKit HTTP backend over a
// cachekitd that streams them), every Set, Delete, Invalidate, Clear and
// store after a miss is announced to the other caches sharing the backend,
// which drop their L1 copies of the keys within milliseconds. See
// docs/consistency.md for the guarantees.
func WithCoherence(on bool) Option { return func(c *config) { c.coh.off = !on } }

// WithCoherenceFallbackTTL sets how long an L1 entry may live while the
// invalidation channel is down (default DefaultCoherenceFallbackTTL): when
// the subscription breaks, every L1 entry is cut to expire within d, and
// entries stored before it is back live at most d; once it is back, L1 is
// flushed, since messages may have been lost meanwhile.
func WithCoherenceFallbackTTL(d time.Duration) Option {
	return func(c *config) {
		if d <= 0 {
			c.fail("coherence fallback TTL must be positive, got %v", d)
			return
		}
		c.coh.fallback = d
	}
}

// WithL1TTL caps the lifetime of every L1 entry at d, whatever the function's
// TTL. It is the way to bound staleness across processes over backends that
// carry no invalidations (memcached, file, DynamoDB, a cachekitd without the
// stream): another process's write or delete is seen within d.
func WithL1TTL(d time.Duration) Option {
	return func(c *config) {
		if d <= 0 {
			c.fail("L1 TTL must be positive, got %v", d)
			return
		}
		c.coh.l1TTL = d
	}
}

// CoherenceInfo describes the L1 invalidation channel (whole cache; also in
// a wrapper's Info).
type CoherenceInfo struct {
	// State is "off" (disabled, or the backend carries no invalidations),
	// "up" or "down".
	State string
	// Sent counts messages published; SendErrors those that failed.
	Sent, SendErrors uint64
	// Received counts messages from other caches that were applied;
	// Dropped those ignored as duplicates or older than one already applied
	// from the same sender.
	Received, Dropped uint64
	// Evicted counts L1 entries removed by messages.
	Evicted uint64
	// Flushes counts whole-L1 flushes after the channel came back;
	// Disconnects how often it went down.
	Flushes, Disconnects uint64
}

// coherence is the live state of the channel of one Cache.
type coherence struct {
	inv      backend.Invalidator
	id       string
	seq      atomic.Uint64
	up       atomic.Bool
	fallback time.Duration
	stop     func()
	first    chan struct{}
	once     sync.Once

	mu   sync.Mutex
	last map[string]uint64 // sender -> last applied Seq

	sent, sendErrors, received, dropped, evicted, flushes, disconnects atomic.Uint64
}

// startCoherence subscribes when coherence is on and the backend carries
// invalidations, and waits a little for the subscription.
func (c *Cache) startCoherence() {
	if c.cfg.coh.off || c.be == nil {
		return
	}
	inv, ok := c.be.(backend.Invalidator)
	if !ok {
		return
	}
	h := &coherence{
		inv:      inv,
		id:       rand.Text(),
		fallback: c.cfg.coh.fallback,
		first:    make(chan struct{}),
		last:     map[string]uint64{},
	}
	if h.fallback == 0 {
		h.fallback = DefaultCoherenceFallbackTTL
	}
	c.coh = h
	stop, err := inv.SubscribeInvalidations(c.onInvalidation, c.onLinkState)
	if err != nil {
		c.log.Info("cachekit: the backend cannot stream invalidations; L1 entries are not invalidated across processes (WithL1TTL bounds them)",
			"err", err)
		c.coh = nil
		return
	}
	h.stop = stop
	t := time.NewTimer(coherenceStartWait)
	defer t.Stop()
	select {
	case <-h.first:
	case <-t.C:
	}
}

// stopCoherence ends the subscription (Close).
func (c *Cache) stopCoherence() {
	if c.coh != nil && c.coh.stop != nil {
		c.coh.stop()
	}
}

// l1Expiry caps an L1 expiry (Unix nanoseconds, 0 = never) computed at now:
// at WithL1TTL, and at the fallback TTL while the channel is down.
func (c *Cache) l1Expiry(exp, now int64) int64 {
	var d time.Duration
	if h := c.coh; h != nil && !h.up.Load() {
		d = h.fallback
	}
	if t := c.cfg.coh.l1TTL; t > 0 && (d == 0 || t < d) {
		d = t
	}
	if d == 0 {
		return exp
	}
	if capped := after(now, d); capped != 0 && (exp == 0 || capped < exp) {
		return capped
	}
	return exp
}

// announce tells the other caches that keys changed (or, with prefix, that
// everything under it was removed). It is called after the backend write
// or delete succeeded. A failure is counted: the others then see the change
// when their copies expire (or flush, if their channel broke too).
func (c *Cache) announce(ctx context.Context, prefix string, keys ...string) {
	h := c.coh
	if h == nil {
		return
	}
	m := backend.Invalidation{Sender: h.id, Seq: h.seq.Add(1), Keys: keys, Prefix: prefix}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.guard.writeTimeout)
	defer cancel()
	if err := h.inv.PublishInvalidation(ctx, m); err != nil {
		h.sendErrors.Add(1)
		c.log.Warn("cachekit: cannot publish an invalidation; other processes see the change when their L1 copies expire",
			"err", err)
		return
	}
	h.sent.Add(1)
}

// maxAnnounceBytes bounds the keys of one message announceKeys sends (a
// subscriber refuses a Redis message over 1 MiB; Redis itself takes far
// more): a batch with more is announced in several messages.
const maxAnnounceBytes = 64 << 10

// announceKeys announces the keys a batch of queued writes stored (see
// announce), in as few messages as maxAnnounceBytes allows: one for a
// batch of ordinary keys.
func (c *Cache) announceKeys(ctx context.Context, keys []string) {
	if c.coh == nil {
		return
	}
	for len(keys) > 0 {
		n, size := 0, 0
		for n < len(keys) && (n == 0 || size+len(keys[n]) <= maxAnnounceBytes) {
			size += len(keys[n]) + 3 // JSON quotes and comma
			n++
		}
		c.announce(ctx, "", keys[:n]...)
		keys = keys[n:]
	}
}

// tagWrite names the cache as the sender of a write or delete (op) on ctx,
// for backends whose server announces writes itself.
func (c *Cache) tagWrite(ctx context.Context, op string) context.Context {
	if c.coh == nil || (op != "set" && op != "delete" && op != "delete_prefix") {
		return ctx
	}
	return backend.WithInvalidationSender(ctx, c.coh.id)
}

// onInvalidation applies a message from another cache: each key is dropped
// from L1 after its stripe's remote generation moved (so a load or store of
// the key that was running cannot put in L1 what it read before the
// message), and a prefix drops everything under it after moving the remote
// epoch. Unlike a local invalidation, a message does not stop a running
// load from writing the backend: which of two processes' writes lands last
// is a race a message cannot settle (see docs/consistency.md), and
// discarding writes for every key sharing a stripe with a busy one would
// cost far more than it saves.
func (c *Cache) onInvalidation(m backend.Invalidation) {
	h := c.coh
	if m.Sender == h.id {
		return
	}
	if !h.fresh(m.Sender, m.Seq) {
		h.dropped.Add(1)
		return
	}
	h.received.Add(1)
	for _, k := range m.Keys {
		if c.dropRemote(k) {
			h.evicted.Add(1)
		}
	}
	if m.Prefix != "" {
		c.bumpRemoteEpoch()
		if c.l1 != nil {
			n := c.l1.DeleteFunc(func(k string, _ l1Entry) bool { return strings.HasPrefix(k, m.Prefix) })
			h.evicted.Add(uint64(n))
		}
	}
}

// fresh records seq as the last message of sender and reports whether it is
// newer than the one before.
func (h *coherence) fresh(sender string, seq uint64) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if last, ok := h.last[sender]; ok && seq <= last {
		return false
	}
	if len(h.last) >= maxSenders {
		clear(h.last)
	}
	h.last[sender] = seq
	return true
}

// onLinkState follows the subscription. Down: the cut to the fallback TTL
// applies to every store from now on, and to every entry L1 holds (a store
// that read the state before and stores after the cut sees the remote epoch
// moved and deletes its entry: see setL1). Up again: messages may have been
// lost, so loads that started before are not stored in L1 and L1 is
// flushed.
func (c *Cache) onLinkState(s backend.LinkState) {
	h := c.coh
	switch s {
	case backend.LinkDown:
		h.once.Do(func() { close(h.first) }) // New need not wait for a channel that is down
		if !h.up.Swap(false) {
			return
		}
		h.disconnects.Add(1)
		c.bumpRemoteEpoch()
		if c.l1 != nil {
			c.l1.CapExpiry(after(c.nowNano(), h.fallback))
		}
	case backend.LinkUp, backend.LinkReconnected:
		c.bumpRemoteEpoch()
		if c.l1 != nil {
			c.l1.Clear()
		}
		if s == backend.LinkReconnected {
			h.flushes.Add(1)
		}
		h.up.Store(true)
		h.once.Do(func() { close(h.first) })
	}
}

// dropLocal removes key from L1 as an invalidation does: the stripe
// generation moves first (under the stripe's write lock, so a store that
// started before either finished, and its entry is deleted below, or sees
// the new generation and drops its result), and a shared load running for
// key is forgotten. It reports whether L1 held an unexpired entry.
func (c *Cache) dropLocal(key string) bool {
	return c.dropKey(key, func(s *stripe) *atomic.Uint64 { return &s.gen })
}

// dropKey moves the generation counter gen of key's stripe, under the
// stripe's write lock, then forgets key's shared load and deletes it from
// L1, reporting whether L1 held an unexpired entry.
func (c *Cache) dropKey(key string, gen func(*stripe) *atomic.Uint64) bool {
	s := c.stripeOf(key)
	s.mu.Lock()
	gen(s).Add(1)
	s.mu.Unlock()
	c.flights.Forget(key)
	if c.l1 != nil {
		return c.l1.Delete(key)
	}
	return false
}

// currentL1 reports whether no message from another cache (and no change of
// the channel's state) touched the stripe s since g was taken.
func (c *Cache) currentL1(s *stripe, g generation) bool {
	return s.rgen.Load()+c.repoch.Load() == g.remote
}

// setL1 stores an entry of key (in stripe s, loaded under generation g) in
// L1, its expiry exp (computed at now) capped by l1Expiry, unless a message
// or a change of the channel's state came after g. Remote events take no
// lock (a stripe lock would make a received message, or a channel that
// breaks while the backend hangs, wait for backend writes that hold it):
// an event moves the counters first and then drops entries, and setL1
// checks the counters before and after it stores, deleting what it stored
// when they moved. Either the event's drop comes after the store, or the
// check after the store sees the event. A value too large for L1 is counted
// instead (admitL1).
func (c *Cache) setL1(p *policy, s *stripe, key string, e l1Entry, cost, exp, now int64, g generation) {
	if !c.currentL1(s, g) || !c.admitL1(p, key, cost) {
		return
	}
	c.l1.Set(key, e, cost, c.l1Expiry(exp, now))
	if c.coh != nil && !c.currentL1(s, g) {
		c.l1.Delete(key)
	}
}

// dropRemote removes key from L1 for a message, after moving the stripe's
// remote generation (see setL1). A shared load running for key is
// forgotten: later callers start a new one rather than wait for a result
// read before the message.
func (c *Cache) dropRemote(key string) bool {
	c.stripeOf(key).rgen.Add(1)
	c.flights.Forget(key)
	if c.l1 != nil {
		return c.l1.Delete(key)
	}
	return false
}

// bumpRemoteEpoch makes every L1 store that started before skip L1 (their
// backend writes go on) and forgets every shared load.
func (c *Cache) bumpRemoteEpoch() {
	c.repoch.Add(1)
	c.flights.ForgetAll()
}

func (c *Cache) coherenceInfo() CoherenceInfo {
	h := c.coh
	if h == nil {
		return CoherenceInfo{State: "off"}
	}
	i := CoherenceInfo{
		State:       "down",
		Sent:        h.sent.Load(),
		SendErrors:  h.sendErrors.Load(),
		Received:    h.received.Load(),
		Dropped:     h.dropped.Load(),
		Evicted:     h.evicted.Load(),
		Flushes:     h.flushes.Load(),
		Disconnects: h.disconnects.Load(),
	}
	if h.up.Load() {
		i.State = "up"
	}
	return i
}

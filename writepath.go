package cachekit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cachekit-go/cachekit/backend"
	"github.com/cachekit-go/cachekit/internal/entry"
	"github.com/cachekit-go/cachekit/internal/flight"
	"github.com/cachekit-go/cachekit/internal/resilience"
)

// docBuffers recycles the MessagePack documents store encodes when nothing
// keeps them (see store): without it a 64 KiB value costs a 64 KiB
// allocation per write on top of the frame.
var docBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// maxPooledDoc bounds the buffers docBuffers keeps, so that one huge value
// does not pin its buffer.
const maxPooledDoc = 1 << 20

// store serializes v and writes it to L1 and the backend, unless the entry's
// generation moved since gen was taken (an invalidation or Clear happened
// while v was computed: storing it would undo that). L1 is written at once.
// The backend write is made now when sync (the direct API, which reports
// its errors), otherwise handed to the write-behind queue, which checks the
// generation again when it writes. The stampede lock lockID (if any) is
// released after that write, or at once on every other path. Failures are
// counted and logged; the error is returned for the direct API.
func (c *Cache) store(ctx context.Context, p *policy, s slot, v any, gen generation, sync bool, lockID string) error {
	key := s.key
	handedOff := false
	if lockID != "" {
		defer func() {
			if !handedOff {
				c.unlockLater(ctx, p, key, lockID)
			}
		}()
	}
	var (
		doc []byte
		err error
	)
	if c.cfg.l1Bytes || p.pipe.Mode == entry.Interop {
		doc, err = p.pipe.Marshal(v)
	} else {
		// The document dies with this call: Wrap copies it into the frame
		// (only Interop mode stores the document itself), and L1 in value
		// mode keeps the value, never the document (l1Normal decodes a copy).
		bp := docBuffers.Get().(*[]byte)
		doc, err = p.pipe.AppendMarshal((*bp)[:0], v)
		defer func() {
			if cap(doc) <= maxPooledDoc {
				*bp = doc[:0]
				docBuffers.Put(bp)
			}
		}()
	}
	if err != nil {
		p.stats.add(encodeErrors)
		p.warn.value.Do(func() {
			c.log.Warn("cachekit: result cannot be serialized; it is returned but not cached (logged once per function)",
				"func", p.name, "key", key, "type", fmt.Sprintf("%T", v), "err", err)
		})
		return err
	}
	if err := c.checkSize(p, key, len(doc)); err != nil {
		return err
	}
	var stored []byte
	if c.be != nil {
		if stored, err = p.pipeFor(s).Wrap(s.logical, doc); err != nil {
			p.stats.add(encodeErrors)
			c.log.Warn("cachekit: cannot frame the value; not cached", "key", key, "err", err)
			return err
		}
		// The limit applies to what the backend would store too (frame,
		// envelope and encryption add a few dozen bytes; LZ4 may save
		// more), so a limit set to a backend's maximum keeps every write
		// within it.
		if err := c.checkSize(p, key, len(stored)); err != nil {
			return err
		}
	}
	st := c.stripeOf(key)
	st.mu.RLock()
	if !c.current(st, gen) {
		st.mu.RUnlock()
		p.stats.add(discarded)
		return nil
	}
	now := c.nowNano()
	if p.useL1 {
		var exp int64
		if p.ttl > 0 {
			exp = after(now, p.ttl)
		}
		nv := c.l1Normal(p, v, doc)
		c.setL1(p, st, key, c.l1Value(p, nv, doc, c.refreshPoint(p, now)), c.l1Cost(nv, doc), exp, now, gen)
	}
	if c.be == nil {
		st.mu.RUnlock()
		return nil
	}
	ttl := p.ttl
	if ttl > 0 && after(now, ttl) == 0 {
		ttl = 0 // ends after 2262: no expiry, as in L1 (backends may refuse such TTLs)
	}
	if sync {
		err := c.do(ctx, p, "set", key, c.guard.opTimeout, false, func(ctx context.Context) error {
			return c.be.Set(ctx, key, stored, ttl)
		})
		st.mu.RUnlock()
		if err == nil {
			c.announce(ctx, "", key)
		}
		return err
	}
	st.mu.RUnlock()
	handedOff = true
	c.writeBehind(ctx, p, key, stored, ttl, now, gen, lockID)
	return nil
}

// writeBehind queues the backend write of a stored entry. An invalidation
// of key waits for the key's queued writes before it deletes (see
// invalidate), so it is never undone by one of them; the job skips the
// write when a Clear happened since gen (the cache's epoch moved), holding
// the key's stripe lock (read) while it writes so that Clear waits for a
// write in progress. It then releases the stampede lock lockID, if any.
// The entry's lifetime counts from when it was stored (now, Unix
// nanoseconds), not from when the write is made: a write that waited in the
// queue gets what is left of ttl, and none at all once it has run out.
// The write is dropped (counted) when the breaker is open or the key's
// queue is full; a stampede lock whose release is dropped with it expires
// on its own (a drop happens on the caller's path or in Close, where no
// backend operation may wait).
func (c *Cache) writeBehind(ctx context.Context, p *policy, key string, stored []byte, ttl time.Duration, now int64, gen generation, lockID string) {
	g := c.guard
	if g.breaker.State() == resilience.Open {
		g.queue.Drop(nil)
		return
	}
	g.writesQueued.Add(1)
	g.queue.SubmitRunner(key, &queuedWrite{c: c, p: p, ctx: detach(ctx), key: key,
		stored: stored, ttl: ttl, now: now, epoch: gen.epoch, lockID: lockID})
}

// detach returns ctx without its cancellation (context.WithoutCancel): the
// detached parent of a shared load's context as it is.
func detach(ctx context.Context) context.Context {
	if parent, _, ok := flight.Detached(ctx); ok {
		return parent
	}
	return context.WithoutCancel(ctx)
}

// queuedWrite is a write in the write-behind queue (resilience.Runner: one
// allocation per write).
type queuedWrite struct {
	c      *Cache
	p      *policy
	ctx    context.Context // detached from the caller's
	key    string
	stored []byte
	ttl    time.Duration
	now    int64  // when the entry was stored (Unix nanoseconds)
	epoch  uint64 // the cache's epoch then
	lockID string // stampede lock to release after the write
}

// Run makes the write, announces it, then releases the stampede lock.
func (w *queuedWrite) Run() {
	if w.write() {
		w.c.announce(w.ctx, "", w.key)
	}
	w.release()
}

// Dropped does nothing: a dropped write's stampede lock expires on its own.
func (w *queuedWrite) Dropped() {}

// release releases the write's stampede lock, if any.
func (w *queuedWrite) release() {
	if w.lockID != "" {
		w.c.unlock(w.ctx, w.p, w.key, w.lockID)
	}
}

// write makes the write unless a Clear came after it was queued or its
// lifetime ran out meanwhile; it reports whether the backend stored it.
func (w *queuedWrite) write() bool {
	c := w.c
	st := c.stripeOf(w.key)
	st.mu.RLock()
	defer st.mu.RUnlock()
	ttl, ok := w.remaining(c.nowNano())
	return ok && c.set(w.ctx, w.p, w.key, w.stored, ttl) == nil
}

// remaining returns the TTL the write gets at now (Unix nanoseconds), or
// false when it must not be made: a Clear came after it was queued (the
// cache's epoch moved; counted as discarded) or its lifetime ran out while
// it was queued. The caller holds a stripe lock (read): the epoch cannot
// move meanwhile, since a Clear takes every stripe's lock to move it.
func (w *queuedWrite) remaining(now int64) (time.Duration, bool) {
	if w.c.epoch.Load() != w.epoch {
		w.p.stats.add(discarded)
		return 0, false
	}
	ttl := w.ttl
	if ttl > 0 {
		if ttl -= time.Duration(now - w.now); ttl <= 0 {
			return 0, false // expired while queued
		}
	}
	return ttl, true
}

// Limits of one batch of queued writes (see runWrites). A batch is what
// piled up in a worker's lane while its previous batch was being written,
// so it grows with the miss rate and stays at one write while the queue
// keeps up without it.
const (
	// maxWriteBatch is the most writes a worker takes from its lane at
	// once.
	maxWriteBatch = 128
	// maxWriteBatchBytes bounds the values of one backend call of a batch
	// (a larger batch is written in several calls, one after the other),
	// so that one call stays well within the write timeout; a single value
	// over it is written alone.
	maxWriteBatchBytes = 1 << 20
)

// runWrites runs a batch of queued writes (the write-behind queue's batch
// function; every Runner it queues is a *queuedWrite). The writes are made
// in order, in chunks of at most maxWriteBatchBytes: one backend call per
// chunk when the backend is a backend.MultiSetter (Redis pipelines them),
// one Set per write otherwise (several at once, one key's in order: see
// setEach). Each chunk's stored keys are then announced in one invalidation
// message (after the writes, never before), and the chunk's stampede locks
// released.
func (c *Cache) runWrites(rs []resilience.Runner) {
	var chunk [maxWriteBatch]*queuedWrite
	n, size := 0, 0
	for _, r := range rs {
		w, ok := r.(*queuedWrite)
		if !ok { // not a write: run it in its place
			c.writeChunk(chunk[:n])
			n, size = 0, 0
			r.Run()
			continue
		}
		if n > 0 && (n == len(chunk) || size+len(w.stored) > maxWriteBatchBytes) {
			c.writeChunk(chunk[:n])
			n, size = 0, 0
		}
		chunk[n] = w
		n++
		size += len(w.stored)
	}
	c.writeChunk(chunk[:n])
}

// writeChunk writes ws (see runWrites).
func (c *Cache) writeChunk(ws []*queuedWrite) {
	switch {
	case len(ws) == 0:
		return
	case len(ws) == 1:
		ws[0].Run()
		return
	}
	keys := make([]string, 0, len(ws))
	if ms := c.guard.multi; ms != nil {
		keys = c.setMulti(ms, ws, keys)
	} else {
		keys = c.setEach(ws, keys)
	}
	c.announceKeys(ws[0].ctx, keys)
	for _, w := range ws {
		w.release()
	}
}

// writeFanout is how many goroutines make the writes of one batch at once
// on a backend without backend.MultiSetter (see setEach), at most: every
// worker's share of the bound on concurrent backend operations is kept to
// half of it (guard.fanout), so that the writes never crowd out the reads.
const writeFanout = 16

// setEach makes the writes ws one Set each, for a backend without
// backend.MultiSetter, and appends the keys it stored to keys, in the
// order of ws. The writes are spread over up to writeFanout goroutines by
// their key's stripe, each making its writes in order: one key's writes
// stay in order, and a backend that serves operations concurrently (a
// connection pool: memcached, DynamoDB) absorbs a batch in about the time
// of len(ws)/writeFanout round trips instead of len(ws).
func (c *Cache) setEach(ws []*queuedWrite, keys []string) []string {
	stored := make([]bool, len(ws))
	lanes := min(len(ws), c.guard.fanout)
	laneOf := make([]int, len(ws))
	for i, w := range ws {
		laneOf[i] = c.stripeIndex(w.key) % lanes
	}
	var wg sync.WaitGroup
	for lane := range lanes {
		wg.Add(1)
		run := func() {
			defer wg.Done()
			for i, w := range ws {
				if laneOf[i] == lane {
					stored[i] = w.write()
				}
			}
		}
		if lane == lanes-1 {
			run() // the worker's own goroutine takes the last share
		} else {
			go run()
		}
	}
	wg.Wait()
	for i, w := range ws {
		if stored[i] {
			keys = append(keys, w.key)
		}
	}
	return keys
}

// setMulti makes the writes ws in one backend.MultiSetter call and appends
// the keys it stored to keys. The call holds one stripe lock (read), the
// first write's: a Clear (bumpEpoch) takes every stripe's lock before it
// moves the epoch, so it waits for the call as for a single write, and the
// call sees any Clear that came before it. Holding one lock rather than
// every key's keeps invalidations of the other keys' stripes from waiting
// for the batch's round trip (a key's invalidation waits for its queued
// writes anyway, through the queue's Barrier). It is one backend
// operation for the bound on concurrent operations and takes one breaker
// ticket (one round trip), whose outcome counts each failed write;
// latency, counters, failure log and observer events are per write, as for
// writes made one by one. Its context is the first write's, bounded by the
// write timeout.
func (c *Cache) setMulti(ms backend.MultiSetter, ws []*queuedWrite, keys []string) []string {
	st := c.stripeOf(ws[0].key)
	st.mu.RLock()
	defer st.mu.RUnlock()
	now := c.nowNano()
	items := make([]backend.SetItem, 0, len(ws))
	live := ws[:0:0]
	for _, w := range ws {
		if ttl, ok := w.remaining(now); ok {
			items = append(items, backend.SetItem{Key: w.key, Value: w.stored, TTL: ttl})
			live = append(live, w)
		}
	}
	if len(live) == 0 {
		return keys
	}
	g := c.guard
	ctx := live[0].ctx
	t, ok := c.beginWrites(live)
	if !ok {
		return keys
	}
	defer g.ops.Release()
	opCtx, cancel := opContext(c.tagWrite(ctx, "set"), g.writeTimeout)
	defer cancel()
	start := time.Now()
	errs := ms.SetMulti(opCtx, items)
	took := time.Since(start)
	var failure, permanent error
	failures := 0
	for i, w := range live {
		err := errs[i]
		w.p.stats.backendOp(took)
		c.observeOp(w.ctx, opCtx, "set", start, took, err)
		if err == nil {
			keys = append(keys, w.key)
			continue
		}
		w.p.stats.add(backendErrors)
		g.flog.Failed("set", w.key, err)
		if errors.Is(err, backend.ErrPermanent) {
			permanent = err
		} else {
			failure = err
			failures++
		}
	}
	// The breaker hears each failed write, as it would have one by one (a
	// batch of writes that timed out is as many failures, not one), or one
	// success (a permanent error is an answer too).
	if failures == 0 {
		c.settle(t, ctx, opCtx, false, permanent)
	}
	for range failures {
		c.settle(t, ctx, opCtx, false, failure)
	}
	return keys
}

// beginWrites admits a batch of writes as one backend operation (begin),
// counting and observing each write as skipped when it is refused, as
// begin would have for each of them.
func (c *Cache) beginWrites(ws []*queuedWrite) (resilience.Ticket, bool) {
	g := c.guard
	t, ok := g.breaker.Allow()
	if ok && g.ops.TryAcquire() {
		return t, true
	}
	if ok {
		g.breaker.Release(t)
		g.ops.CountRefused(len(ws) - 1)
	} else {
		g.skipped.Add(uint64(len(ws)))
	}
	for _, w := range ws {
		c.observeBackend(w.ctx, "set", BackendSkipped, time.Time{}, 0)
	}
	return t, false
}

// set is do of a backend Set with the write timeout (without a closure).
func (c *Cache) set(ctx context.Context, p *policy, key string, stored []byte, ttl time.Duration) error {
	o, err := c.opBegin(ctx, "set", c.guard.writeTimeout)
	if err != nil {
		return err
	}
	defer o.release(c)
	return c.opEnd(ctx, p, &o, "set", key, false, c.be.Set(o.ctx, key, stored, ttl))
}

// checkSize enforces the maximum value size on a serialized value (size
// bytes), counting and warning (once per function) when it is exceeded.
func (c *Cache) checkSize(p *policy, key string, size int) error {
	if int64(size) <= c.cfg.maxValueSize {
		return nil
	}
	p.stats.add(tooLarge)
	p.warn.size.Do(func() {
		c.log.Warn("cachekit: result exceeds the maximum value size; it is returned but not cached (logged once per function)",
			"func", p.name, "key", key, "size", size, "max", c.cfg.maxValueSize)
	})
	return fmt.Errorf("%w: %d bytes, limit %d", ErrValueTooLarge, size, c.cfg.maxValueSize)
}

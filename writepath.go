package cachekit

import (
	"context"
	"fmt"
	"sync"
	"time"

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

// Run makes the write, then releases the stampede lock.
func (w *queuedWrite) Run() {
	w.write()
	if w.lockID != "" {
		w.c.unlock(w.ctx, w.p, w.key, w.lockID)
	}
}

// Dropped does nothing: a dropped write's stampede lock expires on its own.
func (w *queuedWrite) Dropped() {}

func (w *queuedWrite) write() {
	c, p, key := w.c, w.p, w.key
	st := c.stripeOf(key)
	st.mu.RLock()
	defer st.mu.RUnlock()
	if c.epoch.Load() != w.epoch {
		p.stats.add(discarded)
		return
	}
	ttl := w.ttl
	if ttl > 0 {
		if ttl -= time.Duration(c.nowNano() - w.now); ttl <= 0 {
			return // expired while queued
		}
	}
	if c.set(w.ctx, p, key, w.stored, ttl) == nil {
		c.announce(w.ctx, "", key)
	}
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

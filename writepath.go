package cachekit

import (
	"context"
	"fmt"
	"time"
)

// store serializes v and writes it to L1 and the backend, unless the entry's
// generation moved since gen was taken (an invalidation or Clear happened
// while v was computed: storing it would undo that). Failures are counted and
// logged; the error is returned for the direct API.
func (c *Cache) store(ctx context.Context, p *policy, s slot, v any, gen generation) error {
	key := s.key
	doc, err := p.pipe.Marshal(v)
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
	defer st.mu.RUnlock()
	if !c.current(st, gen) {
		p.stats.add(discarded)
		return nil
	}
	now := c.nowNano()
	if p.useL1 {
		var exp int64
		if p.ttl > 0 {
			exp = after(now, p.ttl)
		}
		c.l1.Set(key, c.l1Value(p, v, doc, c.refreshPoint(p, now)), int64(len(doc)), exp)
	}
	if c.be == nil {
		return nil
	}
	ttl := p.ttl
	if ttl > 0 && after(now, ttl) == 0 {
		ttl = 0 // ends after 2262: no expiry, as in L1 (backends may refuse such TTLs)
	}
	start := time.Now()
	err = c.be.Set(ctx, key, stored, ttl)
	p.stats.backendOp(time.Since(start))
	if err != nil {
		c.backendError(p, "set", key, err)
		return err
	}
	return nil
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

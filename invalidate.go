package cachekit

import (
	"context"
	"hash/maphash"
)

func (c *Cache) stripeOf(key string) *stripe {
	return &c.stripes[c.stripeIndex(key)]
}

// stripeIndex returns the index of key's stripe in c.stripes.
func (c *Cache) stripeIndex(key string) int {
	return int(maphash.String(c.seed, key) % numStripes)
}

func (c *Cache) generation(key string) generation {
	s := c.stripeOf(key)
	return generation{s.gen.Load(), c.epoch.Load(), s.rgen.Load() + c.repoch.Load()}
}

// current reports whether g is still the generation of s; callers hold s.mu
// (read).
func (c *Cache) current(s *stripe, g generation) bool {
	return s.gen.Load() == g.stripe && c.epoch.Load() == g.epoch
}

// invalidate removes key from both tiers. It first bumps the key's stripe
// generation under the stripe's write lock: a store that started before holds
// the read lock, so it either finished (and its entry is deleted below) or
// will see the new generation and drop its result. Within one process an
// invalidation is therefore never undone by a load or refresh that was
// running, and callers arriving after it do not join such a load (it is
// forgotten by the flight group): they start a new one. Another process may
// still write an older result after our delete; that residual race needs
// backend-side versioning and is not covered.
func (c *Cache) invalidate(ctx context.Context, p *policy, key string) (bool, error) {
	deleted := c.dropLocal(key)
	if c.be == nil {
		return deleted, nil
	}
	// Writes of key queued before the invalidation run first (the queue
	// keeps one key's jobs in order), so none of them lands after the
	// delete; results computed before the invalidation but not yet
	// stored see the new generation in store and are dropped there.
	if _, err := c.guard.queue.Barrier(ctx, key); err != nil {
		return deleted, err
	}
	var ok bool
	err := c.do(ctx, p, "delete", key, c.guard.opTimeout, false, func(ctx context.Context) error {
		var err error
		ok, err = c.be.Delete(ctx, key)
		return err
	})
	if err != nil {
		return deleted, err
	}
	c.announce(ctx, "", key)
	return deleted || ok, nil
}

// bumpEpoch invalidates every in-flight load and refresh of the cache (used by
// Clear), waiting for stores that are already writing; later callers start
// new loads instead of joining those.
func (c *Cache) bumpEpoch() {
	for i := range c.stripes {
		c.stripes[i].mu.Lock()
	}
	c.epoch.Add(1)
	for i := range c.stripes {
		c.stripes[i].mu.Unlock()
	}
	c.flights.ForgetAll()
}

package cachekit

import (
	"context"
	"time"
)

// refresh starts one background stale-while-revalidate refresh of s unless
// one (or a load) is already running, all MaxConcurrentRefreshes slots are
// busy, or the cache is closed.
func (c *Cache) refresh(ctx context.Context, p *policy, s slot, load func(context.Context) (any, error)) {
	key := s.key
	if c.flights.InFlight(key) {
		return
	}
	select {
	case c.sem <- struct{}{}:
	default:
		return
	}
	if !c.track() {
		<-c.sem
		return
	}
	release := func() { <-c.sem; c.wg.Done() }
	started := c.flights.Start(ctx, key, c.cfg.loaderTimeout, func(ctx context.Context) (loaded, error) {
		failed := true // until the function returned a value; also on a panic
		defer func() {
			if failed {
				p.stats.add(refreshErrors)
				c.backoffRefresh(p, key)
			}
			release()
		}()
		gen := c.generation(key)
		v, err := load(ctx)
		if err != nil {
			c.log.Warn("cachekit: background refresh failed; serving the current value until it expires", "key", key, "err", err)
			return loaded{}, err
		}
		failed = false
		if err := c.store(ctx, p, s, v, gen, false, ""); err != nil {
			// Not stored (too large, not serializable, backend down): the
			// old entry is still due, so without a backoff every hit would
			// start another refresh.
			c.backoffRefresh(p, key)
		}
		p.stats.add(refreshes)
		return loaded{val: v}, nil
	})
	if !started {
		release()
	}
}

// backoffRefresh postpones the due refresh point of key's L1 entry by a
// fraction of its remaining freshness window (at least MinRefreshRetry). An
// entry whose refresh point is not due (a newer value was stored meanwhile)
// is left alone.
func (c *Cache) backoffRefresh(p *policy, key string) {
	if !p.useL1 {
		return
	}
	wait := max(MinRefreshRetry, time.Duration(float64(p.ttl)*(1-p.swr)/8))
	now := c.nowNano()
	next := after(now, wait)
	c.l1.Update(key, func(e *l1Entry) {
		if e.refreshAt != 0 && e.refreshAt <= now {
			e.refreshAt = next
		}
	})
}

package l1

// CapExpiry makes every entry expire at exp (Unix nanoseconds, > 0) at the
// latest: entries without expiry or expiring later get exp. It returns how
// many entries it changed. cachekit uses it when its invalidation channel
// breaks, so that copies it may miss invalidations for live only briefly.
func (c *Cache[V]) CapExpiry(exp int64) int {
	changed := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		s.each(func(n *node[V]) {
			if it := n.item.Load(); it.Expires == 0 || it.Expires > exp {
				n.setItem(it.Val, exp)
				changed++
			}
		})
		s.mu.Unlock()
	}
	return changed
}

package cachekit

import (
	"context"
	"time"
)

// Polling of a process waiting for another process's result under the
// stampede lock: the first check after lockPollMin, then doubling up to
// lockPollMax.
const (
	lockPollMin = 5 * time.Millisecond
	lockPollMax = 50 * time.Millisecond
)

// fillLocked is the miss path with cross-process stampede protection (the
// backend is a backend.Locker and the entry was not in it): take the lock,
// check the backend again (another process may just have stored the
// entry), run the function, store, release (after the backend write, in
// the write-behind queue). A process that does not get the lock polls the
// backend with backoff for the holder's result and takes the lock itself
// if it becomes free. When the lock cannot be had (an error, the breaker
// open) or the wait runs out (DefaultLockWait, at most
// LockWaitDeadlineShare of the caller's remaining deadline), the function
// runs anyway: the lock can delay a call, never fail it or hang it. Once
// the function's usual run time is known, the wait is at most twice that
// plus the read budget.
func (c *Cache) fillLocked(ctx context.Context, p *policy, s slot, gen generation,
	ld loader, rb readBudget, recheck bool) (loaded, error) {
	g := c.guard
	key := s.key
	wait := c.cfg.lockWait
	if est := p.loadEstimate(); est > 0 {
		// The holder should be done in about the function's usual time;
		// waiting much longer than running it ourselves would be worse
		// than no cache (a holder that died, or whose release was lost
		// while the backend was away, holds the lock until it expires).
		wait = min(wait, 2*est+rb.timeout)
	}
	if !rb.deadline.IsZero() {
		wait = min(wait, time.Duration(float64(time.Until(rb.deadline))*LockWaitDeadlineShare))
	}
	until := time.Now().Add(wait)
	backoff := lockPollMin
	fallback := func() (loaded, error) {
		g.lockFallbacks.Add(1)
		return c.compute(ctx, p, s, gen, ld, "")
	}
	for first := true; ; first = false {
		// After the first attempt every backend operation of the wait
		// gets at most what is left of it, so a slow backend cannot
		// stretch the wait.
		opb := rb
		if !first {
			left := time.Until(until)
			if left <= 0 {
				return fallback()
			}
			if left < opb.timeout {
				opb.timeout, opb.capped = left, opb.capped || left < rb.timeout/2
			}
		}
		type lock struct {
			id string
			ok bool
		}
		l, err := within(c, ctx, p, "lock", key, opb.timeout, opb.capped, func(ctx context.Context) (lock, error) {
			id, ok, err := g.locker.AcquireLock(ctx, key, c.cfg.lockHold)
			return lock{id, ok}, err
		})
		if err != nil {
			return fallback()
		}
		if l.ok {
			g.lockAcquired.Add(1)
			if recheck {
				res, found, _, err := c.fromL2(ctx, p, s, gen, ld, rb)
				if found || err != nil {
					c.unlockLater(ctx, p, key, l.id)
					return res, err
				}
			}
			return c.compute(ctx, p, s, gen, ld, l.id)
		}
		left := time.Until(until)
		if left <= 0 || !sleep(ctx, min(backoff, left)) {
			return fallback()
		}
		backoff = min(backoff*2, lockPollMax)
		recheck = true
		if left = time.Until(until); left <= 0 {
			return fallback()
		}
		pb := rb
		if left < pb.timeout {
			pb.timeout, pb.capped = left, pb.capped || left < rb.timeout/2
		}
		res, found, _, err := c.fromL2(ctx, p, s, gen, ld, pb)
		switch {
		case found:
			g.lockWaits.Add(1)
			return res, nil
		case err != nil:
			return res, err
		case res.failed: // the backend is failing: do not wait on it
			return fallback()
		}
	}
}

// sleep waits d or until ctx ends (false).
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// unlockLater releases the stampede lock of key in the background (in the
// write-behind queue, so after any write of key queued before it). If it
// cannot be queued the lock simply expires after its hold time.
func (c *Cache) unlockLater(ctx context.Context, p *policy, key, id string) {
	ctx = context.WithoutCancel(ctx)
	c.guard.queue.Submit(key, func() { c.unlock(ctx, p, key, id) }, nil)
}

// unlock releases the stampede lock of key.
func (c *Cache) unlock(ctx context.Context, p *policy, key, id string) {
	_ = c.do(ctx, p, "unlock", key, c.guard.writeTimeout, false, func(ctx context.Context) error {
		_, err := c.guard.locker.ReleaseLock(ctx, key, id)
		return err
	})
}

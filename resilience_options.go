package cachekit

import (
	"time"

	"github.com/cachekit-go/cachekit/backend"
)

// Resilience defaults: what keeps the cache from making a call slower or
// less available than the function alone while the backend is down, hung
// or slow. docs/reliability.md explains each one.
const (
	// DefaultLocalReadBudget is the read budget for Redis, memcached, the
	// file backend and the in-memory backend: on a local network a read
	// takes well under a millisecond, so 50 ms is a sick backend (or a
	// starved process) whichever way one looks at it.
	DefaultLocalReadBudget = backend.LocalReadBudget
	// DefaultHTTPReadBudget is the read budget for the CacheKit API and
	// cachekitd (backend/cachekitio), whose normal latency is 10-50 ms.
	DefaultHTTPReadBudget = backend.HTTPReadBudget
	// DefaultReadBudget is the read budget for backends that do not ask for one
	// (backend.ReadBudgeter): DynamoDB, your own.
	DefaultReadBudget = 100 * time.Millisecond
	// ReadBudgetDeadlineShare is the largest share of a caller's remaining
	// deadline the backend read on a miss may take; the rest is left to
	// the function.
	ReadBudgetDeadlineShare = 0.25
	// DefaultBreakerThreshold is the number of consecutive backend failures
	// (errors and timeouts) that opens the circuit breaker.
	DefaultBreakerThreshold = 5
	// DefaultRecoveryTimeout is how long the breaker stays open before it
	// lets a probe through; a backend that is back is used again within
	// about this long.
	DefaultRecoveryTimeout = 500 * time.Millisecond
	// DefaultBreakerProbes is the number of operations let through at once
	// while the breaker is half-open.
	DefaultBreakerProbes = 1
	// DefaultWriteQueueSize bounds the backend writes waiting in the
	// write-behind queue; a write finding it full is dropped and counted.
	DefaultWriteQueueSize = 4096
	// DefaultWriteWorkers is the number of goroutines writing to the
	// backend in the background.
	DefaultWriteWorkers = 4
	// DefaultWriteTimeout bounds one background backend write (when
	// WithBackendTimeout sets no tighter bound).
	DefaultWriteTimeout = time.Second
	// DefaultDrainTimeout bounds how long Close waits for queued writes.
	DefaultDrainTimeout = 5 * time.Second
	// DefaultMaxBackendOps bounds the backend operations in flight at once
	// per Cache; over it, an operation is skipped and counted.
	DefaultMaxBackendOps = 512
	// DefaultMaxDetachedLoads bounds the shared loads running detached from
	// their callers; over it, a caller runs its function itself, on its own
	// context, so loads of callers that gave up cannot pile up.
	DefaultMaxDetachedLoads = 1024
	// DefaultLockHold is how long a cross-process stampede lock is held at
	// most (it expires on its own if its holder dies).
	DefaultLockHold = 10 * time.Second
	// DefaultLockWait is how long a process that did not get the stampede
	// lock waits at most for the holder's result (polling the backend with
	// backoff) before it runs the function itself. Once the function's
	// usual run time is known the wait is at most twice that plus the read
	// budget, and never more than LockWaitDeadlineShare of the caller's
	// remaining deadline.
	DefaultLockWait = time.Second
	// LockMinFunctionTime: the stampede lock is taken only for functions
	// whose usual run time (a moving average this process measures) is at
	// least this, or not known yet. For a cheaper function its three extra
	// round trips per miss cost more than running it in several processes.
	LockMinFunctionTime = 10 * time.Millisecond
	// LockWaitDeadlineShare is the largest share of a caller's remaining
	// deadline spent waiting for another process's result.
	LockWaitDeadlineShare = 0.5
	// FailureLogInterval is the longest quiet time between two log lines
	// about failed backend operations: the first failure is logged, the
	// next ones are summarized in one line per interval.
	FailureLogInterval = 30 * time.Second
)

// WithReadBudget sets how long the backend read of a miss may take (at most
// ReadBudgetDeadlineShare of the caller's remaining deadline). When it runs
// out the function runs and the backend's late answer is dropped. Default:
// DefaultLocalReadBudget, DefaultHTTPReadBudget or DefaultReadBudget by
// backend kind.
func WithReadBudget(d time.Duration) Option {
	return func(c *config) {
		if d <= 0 {
			c.fail("read budget must be positive, got %v", d)
			return
		}
		c.readBudget = d
	}
}

// WithCircuitBreaker sets the consecutive backend failures that open the
// breaker (default DefaultBreakerThreshold) and how long it stays open
// before a probe (default DefaultRecoveryTimeout).
func WithCircuitBreaker(threshold int, recovery time.Duration) Option {
	return func(c *config) {
		if threshold <= 0 || recovery <= 0 {
			c.fail("circuit breaker threshold and recovery must be positive, got %d and %v", threshold, recovery)
			return
		}
		c.breakerThreshold, c.recovery = threshold, recovery
	}
}

// WithWriteQueue sets the size of the write-behind queue and the number of
// goroutines that write to the backend (defaults DefaultWriteQueueSize and
// DefaultWriteWorkers).
func WithWriteQueue(size, workers int) Option {
	return func(c *config) {
		if size <= 0 || workers <= 0 {
			c.fail("write queue size and workers must be positive, got %d and %d", size, workers)
			return
		}
		c.queueSize, c.queueWorkers = size, workers
	}
}

// WithDrainTimeout sets how long Close waits for queued backend writes
// (default DefaultDrainTimeout).
func WithDrainTimeout(d time.Duration) Option {
	return func(c *config) {
		if d <= 0 {
			c.fail("drain timeout must be positive, got %v", d)
			return
		}
		c.drainTimeout = d
	}
}

// WithBackpressure bounds the backend operations in flight at once and the
// shared loads running detached from their callers (defaults
// DefaultMaxBackendOps and DefaultMaxDetachedLoads).
func WithBackpressure(maxBackendOps, maxDetachedLoads int) Option {
	return func(c *config) {
		if maxBackendOps <= 0 || maxDetachedLoads <= 0 {
			c.fail("backpressure bounds must be positive, got %d and %d", maxBackendOps, maxDetachedLoads)
			return
		}
		c.maxOps, c.maxLoads = maxBackendOps, maxDetachedLoads
	}
}

// WithStampedeLock turns cross-process stampede protection on (the default
// when the backend implements backend.Locker) or off. hold and wait set
// how long the lock is held at most and how long other processes wait for
// its holder's result (0 keeps DefaultLockHold and DefaultLockWait).
func WithStampedeLock(on bool, hold, wait time.Duration) Option {
	return func(c *config) {
		if hold < 0 || wait < 0 {
			c.fail("stampede lock hold and wait must not be negative, got %v and %v", hold, wait)
			return
		}
		c.noLock = !on
		if hold > 0 {
			c.lockHold = hold
		}
		if wait > 0 {
			c.lockWait = wait
		}
	}
}

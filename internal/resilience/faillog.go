package resilience

import (
	"log/slog"
	"sync"
	"time"
)

// FailureLog rate-limits the logging of failed backend operations: the
// first failure after a quiet interval is logged at once, the following
// ones are counted, and the next failure after the interval logs one
// summary line with the count and the last error. Flush logs what is
// still counted (on a breaker transition and at Close). A backend that is
// down therefore costs a few lines a minute, not one per operation.
type FailureLog struct {
	log      *slog.Logger
	every    time.Duration
	now      func() time.Time
	mu       sync.Mutex
	last     time.Time // last line written
	count    int       // failures since then, not logged
	lastOp   string
	lastKey  string
	lastErr  error
	firstOne bool
}

// NewFailureLog returns a FailureLog writing to log at most one line per
// every (now may be nil for time.Now).
func NewFailureLog(log *slog.Logger, every time.Duration, now func() time.Time) *FailureLog {
	if now == nil {
		now = time.Now
	}
	return &FailureLog{log: log, every: every, now: now, firstOne: true}
}

// Failed records one failed operation.
func (f *FailureLog) Failed(op, key string, err error) {
	now := f.now()
	f.mu.Lock()
	f.count++
	f.lastOp, f.lastKey, f.lastErr = op, key, err
	if !f.firstOne && now.Sub(f.last) < f.every {
		f.mu.Unlock()
		return
	}
	n, first := f.count, f.firstOne
	f.count, f.firstOne, f.last = 0, false, now
	f.mu.Unlock()
	if first || n == 1 {
		f.log.Warn("cachekit: backend operation failed; continuing without the cache (further failures are summarized)",
			"op", op, "key", key, "err", err)
		return
	}
	f.log.Warn("cachekit: backend operations failed; continuing without the cache",
		"failures", n, "window", f.every.String(), "last_op", op, "last_key", key, "last_err", err)
}

// Flush logs the failures counted since the last line, if any (when the
// backend is back, and at Close). The next failure is logged at once again.
func (f *FailureLog) Flush() {
	f.mu.Lock()
	n, op, key, err := f.count, f.lastOp, f.lastKey, f.lastErr
	f.count, f.firstOne = 0, true
	f.mu.Unlock()
	if n > 0 {
		f.log.Warn("cachekit: backend operations failed; continuing without the cache",
			"failures", n, "last_op", op, "last_key", key, "last_err", err)
	}
}

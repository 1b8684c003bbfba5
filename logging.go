package cachekit

import (
	"sync"
	"time"
)

// limitedLog rate-limits one kind of warning that bad data or a failing
// function can repeat on every call (an entry that cannot be decoded or
// decrypted, a background refresh that fails): the first line is written
// at once, the next ones within FailureLogInterval are only counted, and
// the next line written says how many were left out. Info and the metrics
// count every occurrence.
type limitedLog struct {
	mu         sync.Mutex
	last       time.Time
	suppressed int
}

// warn writes msg with args through c's logger unless a line of this kind
// was written less than FailureLogInterval ago.
func (l *limitedLog) warn(c *Cache, msg string, args ...any) {
	now := c.clk.Now()
	l.mu.Lock()
	if !l.last.IsZero() && now.Sub(l.last) < FailureLogInterval {
		l.suppressed++
		l.mu.Unlock()
		return
	}
	n := l.suppressed
	l.suppressed, l.last = 0, now
	l.mu.Unlock()
	if n > 0 {
		args = append(args, "suppressed_since_last_line", n)
	}
	c.log.Warn(msg, args...)
}

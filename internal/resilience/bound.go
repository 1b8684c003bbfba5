package resilience

import "sync/atomic"

// Bound limits how many operations run at once. Over the bound, TryAcquire
// refuses at once rather than queueing: the caller skips the backend (or
// runs the work inline) and counts it. It is safe for concurrent use.
type Bound struct {
	max     int64
	n       atomic.Int64
	refused atomic.Uint64
}

// NewBound returns a Bound of max concurrent operations (max <= 0: no
// bound).
func NewBound(max int) *Bound { return &Bound{max: int64(max)} }

// TryAcquire takes a slot, or reports false (and counts a refusal) when
// all are taken. Every true must be matched by one Release.
func (b *Bound) TryAcquire() bool {
	if b.max <= 0 {
		return true
	}
	if b.n.Add(1) > b.max {
		b.n.Add(-1)
		b.refused.Add(1)
		return false
	}
	return true
}

// Release frees a slot taken by TryAcquire.
func (b *Bound) Release() {
	if b.max > 0 {
		b.n.Add(-1)
	}
}

// CountRefused counts n refusals more, for operations refused together
// with one whose TryAcquire was refused (a batch).
func (b *Bound) CountRefused(n int) {
	if n > 0 {
		b.refused.Add(uint64(n))
	}
}

// InUse returns the number of slots taken.
func (b *Bound) InUse() int { return int(b.n.Load()) }

// Refused returns how many TryAcquire calls were refused.
func (b *Bound) Refused() uint64 { return b.refused.Load() }

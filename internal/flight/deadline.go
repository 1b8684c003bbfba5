package flight

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// lazyDeadline is context.WithDeadline(parent, deadline) whose timer and
// channel are made only when someone asks for them (Done, or a context
// derived from it, which asks for Done). Most loaders never do: a function
// that computes, or one whose backend calls the cache bounds itself (see
// Detached), would otherwise pay for a timer per miss. Until then Err reads
// the clock. end cancels it, as the cancel function of WithDeadline would.
type lazyDeadline struct {
	parent   context.Context // detached: never done
	deadline time.Time
	inner    atomic.Pointer[context.Context] // the real context, once made
	mu       sync.Mutex
	cancel   context.CancelFunc
	ended    bool
}

// real returns the context.WithDeadline this stands for, making it on the
// first call.
func (l *lazyDeadline) real() context.Context {
	if p := l.inner.Load(); p != nil {
		return *p
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if p := l.inner.Load(); p != nil {
		return *p
	}
	ctx, cancel := context.WithDeadline(l.parent, l.deadline)
	if l.ended {
		cancel()
	}
	l.cancel = cancel
	l.inner.Store(&ctx)
	return ctx
}

// end cancels the context (the call has returned).
func (l *lazyDeadline) end() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ended = true
	if l.cancel != nil {
		l.cancel()
	}
}

// Deadline returns the deadline.
func (l *lazyDeadline) Deadline() (time.Time, bool) { return l.deadline, true }

// Done returns the real context's channel.
func (l *lazyDeadline) Done() <-chan struct{} { return l.real().Done() }

// Err is nil while nothing made the real context, the call has not ended
// and the deadline has not passed (Done, when made, is then not closed
// either); otherwise the real context's.
func (l *lazyDeadline) Err() error {
	if l.inner.Load() == nil {
		l.mu.Lock()
		quiet := !l.ended && time.Now().Before(l.deadline)
		l.mu.Unlock()
		if quiet {
			return nil
		}
	}
	return l.real().Err()
}

// Value is the real context's once made (the context package finds its
// cancelCtx through it, so that derived contexts attach to it without a
// goroutine of their own), else the parent's (which the real one would
// return for every other key).
func (l *lazyDeadline) Value(key any) any {
	if p := l.inner.Load(); p != nil {
		return (*p).Value(key)
	}
	return l.parent.Value(key)
}

// String names the context as the context package's own types do.
func (l *lazyDeadline) String() string {
	return "flight.lazyDeadline(" + l.deadline.String() + ")"
}

// Detached returns, for the context of a call, its parent (detached from the
// callers) and deadline, so that an operation with a shorter deadline of its
// own can hang its context on the parent directly rather than on ctx (which
// would make ctx's timer too). ok is false for any other context.
func Detached(ctx context.Context) (parent context.Context, deadline time.Time, ok bool) {
	l, ok := ctx.(*lazyDeadline)
	if !ok || l.inner.Load() != nil {
		return nil, time.Time{}, false
	}
	l.mu.Lock()
	ended := l.ended
	l.mu.Unlock()
	if ended {
		return nil, time.Time{}, false
	}
	return l.parent, l.deadline, true
}

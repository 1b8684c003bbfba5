// Package flight deduplicates concurrent work per key (in-process stampede
// protection), in the spirit of x/sync/singleflight but with the properties a
// cache loader shared by several callers needs:
//
//   - The shared call runs on a context detached from every caller
//     (context.WithoutCancel of the first caller's context, so values such as
//     trace ids survive) with its own timeout. A caller that gives up does not
//     cancel the work the other callers wait for.
//   - Every caller waits on its own context and returns its own ctx.Err() when
//     that ends first; the shared call keeps running for the others.
//   - A panic in the shared function is recovered and delivered to every caller
//     as a *PanicError carrying the panic value (the stack goes to OnPanic, not
//     into the error message), so one bad loader cannot crash the waiters.
//   - A shared function that ends its goroutine with runtime.Goexit (for
//     example t.FailNow in a test loader) gives every caller ErrGoexit rather
//     than a zero value with a nil error.
//   - Results are never remembered after the call returns: errors are not
//     cached here, and successful results are the cache's business.
package flight

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"
)

// ErrGoexit is returned to every caller when the shared function called
// runtime.Goexit instead of returning.
var ErrGoexit = errors.New("cachekit: loader called runtime.Goexit")

// PanicError is returned to every caller when the shared function panicked.
type PanicError struct {
	// Value is the value passed to panic.
	Value any
}

// Error describes the panic (without its stack).
func (e *PanicError) Error() string { return fmt.Sprintf("cachekit: loader panicked: %v", e.Value) }

// Group runs at most one function per key at a time. The zero value is ready
// to use.
type Group[V any] struct {
	mu    sync.Mutex
	calls map[string]*call[V]
	// OnPanic, if set, is called with the key, the panic value and the stack
	// of a recovered panic (for logging).
	OnPanic func(key string, value any, stack []byte)
}

type call[V any] struct {
	done chan struct{}
	val  V
	err  error
	dups int
}

// Do runs fn once for key among all concurrent callers and returns its result.
// fn receives a context detached from ctx, bounded by timeout (no bound when
// timeout <= 0). shared reports whether this caller joined a call started by
// another caller. If ctx ends before the result is ready, Do returns ctx.Err()
// while the call continues for the other callers.
func (g *Group[V]) Do(ctx context.Context, key string, timeout time.Duration, fn func(context.Context) (V, error)) (v V, shared bool, err error) {
	g.mu.Lock()
	if g.calls == nil {
		g.calls = make(map[string]*call[V])
	}
	c, ok := g.calls[key]
	if ok {
		c.dups++
	} else {
		c = &call[V]{done: make(chan struct{})}
		g.calls[key] = c
		go g.run(context.WithoutCancel(ctx), key, timeout, c, fn)
	}
	g.mu.Unlock()
	select {
	case <-c.done:
		return c.val, ok, c.err
	case <-ctx.Done():
		var zero V
		return zero, ok, ctx.Err()
	}
}

// Joined returns how many callers joined the call in flight for key (0
// when none is in flight).
func (g *Group[V]) Joined(key string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if c, ok := g.calls[key]; ok {
		return c.dups
	}
	return 0
}

// Start runs fn in the background for key unless a call for key is already in
// flight, and reports whether it started one. fn gets a context detached from
// ctx with the given timeout; its result is delivered to callers that join it
// through Do.
func (g *Group[V]) Start(ctx context.Context, key string, timeout time.Duration, fn func(context.Context) (V, error)) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.calls == nil {
		g.calls = make(map[string]*call[V])
	}
	if _, ok := g.calls[key]; ok {
		return false
	}
	c := &call[V]{done: make(chan struct{})}
	g.calls[key] = c
	go g.run(context.WithoutCancel(ctx), key, timeout, c, fn)
	return true
}

// Forget makes later callers of key start a new call instead of joining the
// running one (whose callers still receive its result). The cache uses it
// when an entry is invalidated: a result computed before the invalidation
// must not be handed to callers that arrive after it.
func (g *Group[V]) Forget(key string) {
	g.mu.Lock()
	delete(g.calls, key)
	g.mu.Unlock()
}

// ForgetAll is Forget for every key.
func (g *Group[V]) ForgetAll() {
	g.mu.Lock()
	clear(g.calls)
	g.mu.Unlock()
}

// InFlight reports whether a call for key is running.
func (g *Group[V]) InFlight(key string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	_, ok := g.calls[key]
	return ok
}

func (g *Group[V]) run(ctx context.Context, key string, timeout time.Duration, c *call[V], fn func(context.Context) (V, error)) {
	cancel := context.CancelFunc(func() {})
	if timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, timeout)
	}
	returned := false
	defer func() {
		if r := recover(); r != nil {
			var zero V
			c.val, c.err = zero, &PanicError{Value: r}
			if g.OnPanic != nil {
				g.OnPanic(key, r, debug.Stack())
			}
		} else if !returned {
			var zero V
			c.val, c.err = zero, ErrGoexit
		}
		cancel()
		g.mu.Lock()
		if g.calls[key] == c { // not forgotten and replaced meanwhile
			delete(g.calls, key)
		}
		g.mu.Unlock()
		close(c.done)
	}()
	c.val, c.err = fn(ctx)
	returned = true
}

// Package flight deduplicates concurrent work per key (in-process stampede
// protection), in the spirit of x/sync/singleflight but with the properties a
// cache loader shared by several callers needs:
//
//   - The shared call runs on a context detached from every caller
//     (context.WithoutCancel of the first caller's context, so values such as
//     trace ids survive) with its own timeout. A caller that gives up does not
//     cancel the work the other callers wait for.
//   - The call runs in its own goroutine only when the first caller could give
//     up: a first caller whose context can never end (Done() == nil, as
//     context.Background and values over it) runs it inline, since it waits
//     for it anyway; the others join it all the same. The timeout's timer is
//     made only when someone asks for Done (see lazyDeadline).
//   - Every caller waits on its own context and returns its own ctx.Err() when
//     that ends first; the shared call keeps running for the others.
//   - A panic in the shared function is recovered and delivered to every caller
//     as a *PanicError carrying the panic value (the stack goes to OnPanic, not
//     into the error message), so one bad loader cannot crash the waiters.
//   - A shared function that ends its goroutine with runtime.Goexit (for
//     example t.FailNow in a test loader) gives every caller ErrGoexit rather
//     than a zero value with a nil error (a first caller running it inline
//     exits with it, as from a direct call; the others get ErrGoexit).
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

// Loader is the work of a call (a type of the caller's that holds what the
// work needs costs one allocation, where a closure per step would cost
// several).
type Loader[V any] interface {
	Load(ctx context.Context) (V, error)
}

// Func adapts a function to Loader.
type Func[V any] func(context.Context) (V, error)

// Load calls f.
func (f Func[V]) Load(ctx context.Context) (V, error) { return f(ctx) }

type call[V any] struct {
	// done is closed when the call has returned; it is made (under the
	// group's lock) only when someone waits for it: a call run inline with
	// nobody joining needs none.
	done chan struct{}
	val  V
	err  error
	dups int
	ld   lazyDeadline // the call's context when it has a timeout (one allocation with the call)
}

// wait returns the channel closed when c finishes; g.mu is held.
func (c *call[V]) wait() chan struct{} {
	if c.done == nil {
		c.done = make(chan struct{})
	}
	return c.done
}

// Do runs fn once for key among all concurrent callers and returns its result.
// fn receives a context detached from ctx, bounded by timeout (no bound when
// timeout <= 0). shared reports whether this caller joined a call started by
// another caller. If ctx ends before the result is ready, Do returns ctx.Err()
// while the call continues for the other callers.
func (g *Group[V]) Do(ctx context.Context, key string, timeout time.Duration, fn func(context.Context) (V, error)) (v V, shared bool, err error) {
	return g.DoLoader(ctx, key, timeout, Func[V](fn))
}

// DoLoader is Do with the work as a Loader. A caller whose ctx can never end
// (Done() == nil) that starts the call runs it in its own goroutine, which
// then needs no other: it could not give up on the call anyway.
func (g *Group[V]) DoLoader(ctx context.Context, key string, timeout time.Duration, l Loader[V]) (v V, shared bool, err error) {
	g.mu.Lock()
	if g.calls == nil {
		g.calls = make(map[string]*call[V])
	}
	c, ok := g.calls[key]
	if !ok {
		c = &call[V]{}
		g.calls[key] = c
		if ctx.Done() == nil {
			g.mu.Unlock()
			// ctx cannot end: it is its own detached context (its values
			// are all WithoutCancel would keep).
			g.run(ctx, key, timeout, c, l)
			return c.val, false, c.err
		}
		done := c.wait()
		g.mu.Unlock()
		go g.run(context.WithoutCancel(ctx), key, timeout, c, l)
		return g.await(ctx, c, done, false)
	}
	c.dups++
	done := c.wait()
	g.mu.Unlock()
	return g.await(ctx, c, done, true)
}

func (g *Group[V]) await(ctx context.Context, c *call[V], done chan struct{}, shared bool) (V, bool, error) {
	select {
	case <-done:
		return c.val, shared, c.err
	case <-ctx.Done():
		var zero V
		return zero, shared, ctx.Err()
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
	c := &call[V]{}
	g.calls[key] = c
	go g.run(context.WithoutCancel(ctx), key, timeout, c, Func[V](fn))
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

func (g *Group[V]) run(ctx context.Context, key string, timeout time.Duration, c *call[V], l Loader[V]) {
	var ld *lazyDeadline
	if timeout > 0 {
		ld = &c.ld
		ld.parent, ld.deadline = ctx, time.Now().Add(timeout)
		ctx = ld
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
		if ld != nil {
			ld.end()
		}
		g.mu.Lock()
		if g.calls[key] == c { // not forgotten and replaced meanwhile
			delete(g.calls, key)
		}
		if c.done != nil {
			close(c.done)
		}
		g.mu.Unlock()
	}()
	c.val, c.err = l.Load(ctx)
	returned = true
}

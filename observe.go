package cachekit

import (
	"context"
	"time"

	"github.com/cachekit-go/cachekit/backend"
	"github.com/cachekit-go/cachekit/backend/cachekitio"
	"github.com/cachekit-go/cachekit/backend/file"
	"github.com/cachekit-go/cachekit/backend/memcached"
	"github.com/cachekit-go/cachekit/backend/memory"
	"github.com/cachekit-go/cachekit/backend/redis"
)

// Observer receives the cache's events as they happen, for metrics and
// tracing (the cachekitprom and cachekitotel modules implement it). Set it
// with WithObserver; without one the cache reads no clock for it and calls
// nothing.
//
// The methods are called synchronously on the caller's goroutine, on the
// hot path: they must be fast, must not block and must be safe for
// concurrent use. Events are small values: passing them allocates nothing.
// They carry a function's identity (bounded: one per wrapper) but never a
// key, an argument or a value.
//
// What Info already counts for the whole cache (L1 bytes, entries and
// evictions, breaker state and transitions, write-queue drops,
// backpressure, decryption failures by reason, reads per rotation key,
// stampede-lock waits and fallbacks, background refreshes) is read from
// Info when metrics are collected rather than pushed through the
// Observer, so it costs the hot path nothing.
type Observer interface {
	// ObserveCall is called once per cached call (wrapper Call, Load),
	// when its result is known.
	ObserveCall(CallEvent)
	// ObserveBackend is called once per backend operation the cache made
	// or skipped.
	ObserveBackend(BackendEvent)
}

// CallResult is how a cached call was answered.
type CallResult uint8

// The results of a cached call.
const (
	// CallL1Hit: answered by the in-process tier.
	CallL1Hit CallResult = iota + 1
	// CallL2Hit: answered by the backend.
	CallL2Hit
	// CallStaleHit: answered from the cache with an entry past its
	// stale-while-revalidate point (a background refresh was started).
	CallStaleHit
	// CallMiss: the function ran and its result was stored.
	CallMiss
	// CallCoalesced: the call joined another caller's load of the same
	// entry (stampede protection) and received its result.
	CallCoalesced
	// CallBypass: the call skipped the cache (Bypass, BypassAlways, a
	// closed cache, or arguments the key layer cannot encode).
	CallBypass
	// CallError: the call failed (the function's error, a fail-closed
	// decryption failure, a type mismatch).
	CallError
)

var callResultNames = [...]string{"", "l1_hit", "l2_hit", "stale_hit", "miss", "coalesced", "bypass", "error"}

// String returns the result's label: "l1_hit", "l2_hit", "stale_hit",
// "miss", "coalesced", "bypass" or "error".
func (r CallResult) String() string {
	if int(r) < len(callResultNames) {
		return callResultNames[r]
	}
	return "unknown"
}

// Hit reports whether the result was served from the cache (L1, L2 or
// stale).
func (r CallResult) Hit() bool { return r == CallL1Hit || r == CallL2Hit || r == CallStaleHit }

// LoadFunction is the Function of the events of Load calls (which have no
// wrapper).
const LoadFunction = "cachekit.Load"

// CallEvent describes one cached call.
type CallEvent struct {
	// Ctx is the caller's context (for tracing: the span a call span hangs
	// under). Never nil.
	Ctx context.Context
	// Function is the wrapper's identity (its Go symbol or Name), or
	// LoadFunction.
	Function string
	Result   CallResult
	// Start is when the cache began to answer, Duration how long it took
	// (for a miss, including the function; zero for a bypass, whose
	// function runs outside the cache).
	Start    time.Time
	Duration time.Duration
}

// BackendOutcome is how a backend operation ended.
type BackendOutcome uint8

// The outcomes of a backend operation.
const (
	// BackendOK: the backend answered (a miss is an answer).
	BackendOK BackendOutcome = iota + 1
	// BackendError: the operation failed.
	BackendError
	// BackendTimeout: the operation ran out of its read budget or timeout.
	BackendTimeout
	// BackendSkipped: the backend was not asked (breaker open, or too many
	// operations in flight).
	BackendSkipped
)

var backendOutcomeNames = [...]string{"", "ok", "error", "timeout", "skipped"}

// String returns the outcome's label: "ok", "error", "timeout" or
// "skipped".
func (o BackendOutcome) String() string {
	if int(o) < len(backendOutcomeNames) {
		return backendOutcomeNames[o]
	}
	return "unknown"
}

// BackendEvent describes one backend operation.
type BackendEvent struct {
	// Ctx is the context of the operation (the caller's, or a detached
	// load's, which keeps the caller's values).
	Ctx context.Context
	// Op is the operation: "get", "set", "delete", "exists", "ttl",
	// "lock", "unlock", "refresh_ttl", "clear" or "health".
	Op string
	// Backend names the backend's kind: "redis", "memcached", "file",
	// "memory", "cachekitio", "dynamodb", or "custom".
	Backend string
	Outcome BackendOutcome
	// Start and Duration: when the operation began and how long it took
	// (zero for a skipped one).
	Start    time.Time
	Duration time.Duration
}

// WithObserver sets the cache's Observer (see Observer). nil, the default,
// observes nothing.
func WithObserver(o Observer) Option { return func(c *config) { c.observer = o } }

// backendLabel is the BackendEvent.Backend label of b.
func backendLabel(b backend.Backend) string {
	switch b.(type) {
	case *redis.Backend:
		return "redis"
	case *memcached.Backend:
		return "memcached"
	case *file.Backend:
		return "file"
	case *memory.Backend:
		return "memory"
	case *cachekitio.Backend:
		return "cachekitio"
	}
	if h, ok := b.(interface{ BackendName() string }); ok {
		return h.BackendName()
	}
	return "custom"
}

// callStart returns the start of a call for its CallEvent: the zero time
// when nobody observes (no clock read).
func (c *Cache) callStart() time.Time {
	if c.obs == nil {
		return time.Time{}
	}
	return time.Now()
}

// observeCall reports a call that began at start.
func (c *Cache) observeCall(ctx context.Context, p *policy, r CallResult, start time.Time) {
	if c.obs == nil {
		return
	}
	var d time.Duration
	if !start.IsZero() {
		d = time.Since(start)
	}
	c.obs.ObserveCall(CallEvent{Ctx: ctx, Function: p.label(), Result: r, Start: start, Duration: d})
}

// label is the policy's Function label.
func (p *policy) label() string {
	if p.name == "" {
		return LoadFunction
	}
	return p.name
}

// observeBackend reports one backend operation.
func (c *Cache) observeBackend(ctx context.Context, op string, o BackendOutcome, start time.Time, d time.Duration) {
	if c.obs == nil {
		return
	}
	c.obs.ObserveBackend(BackendEvent{Ctx: ctx, Op: op, Backend: c.guard.kind, Outcome: o, Start: start, Duration: d})
}

// observeOp reports a backend operation that was made: parent is the
// caller's context, opCtx the operation's (with its timeout).
func (c *Cache) observeOp(parent, opCtx context.Context, op string, start time.Time, d time.Duration, err error) {
	if c.obs != nil {
		c.observeBackend(parent, op, outcome(err, opCtx), start, d)
	}
}

// outcome classifies the result of a backend operation run under ctx.
func outcome(err error, ctx context.Context) BackendOutcome {
	switch {
	case err == nil:
		return BackendOK
	case ctx.Err() != nil:
		return BackendTimeout
	}
	return BackendError
}

// Package backend defines the storage contract of cachekit-go: the Backend
// interface every store satisfies, the optional capabilities a store may add
// (locks, TTL inspection, one-round-trip value-plus-TTL reads, per-operation
// timeouts, deletion by key prefix, invalidation messages between the caches
// sharing a store), and the Error type with which
// stores report failures.
//
// Any Go type with the right methods is a backend; there is nothing to embed or
// register. Backends see only opaque bytes under string keys: serialization,
// integrity and encryption happen above this layer, so a backend never learns
// what a value means.
//
// To check that a backend honours the contract, run the conformance suite in
// package backend/backendtest against it.
package backend

import (
	"context"
	"errors"
	"time"
)

// Backend is the storage contract. Implementations must be safe for concurrent
// use and must honour ctx cancellation and deadlines.
type Backend interface {
	// Get returns the value stored under key. A missing or expired key is
	// (nil, false, nil), never an error. The caller owns the returned slice:
	// changing it must not change the stored value. (The cache relies on
	// it: it decrypts encrypted entries in place in that slice.)
	Get(ctx context.Context, key string) (value []byte, found bool, err error)
	// Set stores value under key. ttl == 0 means no expiry; a negative ttl is
	// an error. The backend must not retain value after Set returns.
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// Delete removes key and reports whether it existed. Deleting a missing
	// key is (false, nil).
	Delete(ctx context.Context, key string) (deleted bool, err error)
	// Exists reports whether key holds an unexpired value.
	Exists(ctx context.Context, key string) (bool, error)
	// HealthCheck probes the store. details carries at least "backend_type"
	// (string) and "latency_ms" (float64); it never contains secrets.
	HealthCheck(ctx context.Context) (healthy bool, details map[string]any)
}

// Locker is implemented by backends that offer distributed locks, used for
// stampede protection across processes.
type Locker interface {
	// AcquireLock tries once to take the lock for key for at most hold. It
	// returns ok == false (and no error) when another holder has it. The lock
	// expires on its own after hold even if never released.
	AcquireLock(ctx context.Context, key string, hold time.Duration) (lockID string, ok bool, err error)
	// ReleaseLock releases the lock only if lockID is the current holder's id.
	// It reports false when the lock is held by someone else or has expired.
	ReleaseLock(ctx context.Context, key, lockID string) (released bool, err error)
}

// TTLInspector is implemented by backends that can read and change the
// remaining lifetime of an entry.
type TTLInspector interface {
	// TTL returns the remaining lifetime of key. found is false for a missing
	// key. An entry without expiry reports remaining == 0 and found == true.
	TTL(ctx context.Context, key string) (remaining time.Duration, found bool, err error)
	// RefreshTTL sets a new lifetime on an existing key and reports whether
	// the key existed.
	RefreshTTL(ctx context.Context, key string, ttl time.Duration) (bool, error)
}

// TTLGetter is implemented by backends that can return a value together with
// its remaining lifetime in one round trip. The cache reads through it when it
// is available, so that an L2 hit costs one round trip instead of a Get and a
// TTL.
type TTLGetter interface {
	// GetWithTTL is Get plus the entry's remaining lifetime, read atomically
	// with the value. found is false for a missing or expired key (and then
	// value is nil and remaining 0). An entry without expiry reports
	// remaining == 0, as TTLInspector.TTL does.
	GetWithTTL(ctx context.Context, key string) (value []byte, remaining time.Duration, found bool, err error)
}

// Default read budgets for the backends of this module (see ReadBudgeter).
const (
	// LocalReadBudget suits stores on the local network or machine (Redis,
	// memcached, a file, memory), whose reads take well under a millisecond.
	LocalReadBudget = 50 * time.Millisecond
	// HTTPReadBudget suits the CacheKit HTTP API, whose normal latency is
	// 10-50 ms.
	HTTPReadBudget = 150 * time.Millisecond
)

// ReadBudgeter is implemented by backends that know how long one of their
// reads may take before waiting for it costs more than it saves. The cache
// uses ReadBudget as the default read budget of a miss (its WithReadBudget
// option overrides it); other backends get the cache's generic default.
type ReadBudgeter interface {
	ReadBudget() time.Duration
}

// ContextHonourer is implemented by backends whose reads (Get, GetWithTTL,
// TTL, AcquireLock) return promptly, with an error, once their context
// ends, however the server or the network misbehaves: every wait is on the
// context or on a connection deadline taken from it. The cache then calls
// such a read in the caller's goroutine with the read budget as the
// context's deadline; for other backends it runs each read in a goroutine
// of its own and stops waiting at the budget, so that a read that ignores
// its context cannot hold a miss past it (that goroutine and its channel
// cost a few allocations per miss).
//
// A wrapper that embeds such a backend and replaces one of these reads
// with one that may not return when its context ends must implement
// HonoursContext itself, returning false.
type ContextHonourer interface {
	HonoursContext() bool
}

// HealthyContextHonourer is implemented by backends whose reads honour
// their context (as ContextHonourer says) while their connections are up,
// but may wait past it while a broken connection is being re-established:
// rueidis, under the Redis backend, holds a command issued during a
// reconnect until the dial and handshake end, whatever its context says.
// The cache calls such a backend's reads in the caller's goroutine only
// while it looks healthy (a success seen, no failure or timeout for a
// while, breaker closed), and bounds them with a goroutine of their own
// otherwise: a reconnect follows a failure, which switches the cache to
// the bounded path before the reconnect starts.
type HealthyContextHonourer interface {
	HonoursContextWhileHealthy() bool
}

// TimeoutSetter is implemented by backends that can bound every operation by
// a timeout. WithTimeout returns a new Backend (sharing connections with the
// receiver) and leaves the receiver unchanged.
type TimeoutSetter interface {
	WithTimeout(d time.Duration) Backend
}

// PrefixDeleter is implemented by backends that can remove every entry whose
// key starts with a prefix; cachekit's per-function Clear uses it to drop one
// function's entries (their keys share a prefix such as
// "ns:NS:func:IDENT:args:").
//
// Contract:
//   - DeletePrefix removes the entries whose key (as passed to Set, without
//     any prefix the backend adds on its own) starts with prefix, and
//     returns how many it removed. Keys that merely share a shorter prefix
//     stay.
//   - prefix "" is refused with an error matching ErrEmptyPrefix, and
//     nothing is removed: an empty prefix would wipe the whole store, which
//     is never what a cache Clear means.
//   - It is best effort under concurrent writes: an entry written while
//     DeletePrefix runs may survive, and the count may miss entries another
//     writer removed or expired meanwhile. It is not atomic; callers that
//     need "nothing older than the Clear survives" must stop writers first.
//   - Locks taken through Locker are not values and are not removed.
//   - ctx is honoured between batches: on cancellation it returns the
//     number removed so far together with the error.
type PrefixDeleter interface {
	DeletePrefix(ctx context.Context, prefix string) (removed int, err error)
}

// KeyLister is implemented by backends that can list their keys (Redis),
// for operators' tools such as `cachekit scan`; the cache itself never
// lists keys. Backends whose store cannot be listed (memcached; the file
// backend, whose file names are hashes of the keys; the CacheKit API) do not
// implement it.
type KeyLister interface {
	// KeyCount returns how many keys the store holds now (all of them, also
	// those of other prefixes), for a progress estimate.
	KeyCount(ctx context.Context) (int64, error)
	// ListKeys walks the whole store and calls fn with each batch of keys
	// examined (examined counts them, as KeyCount does) and the cache keys
	// among them (the backend's own prefix removed; internal keys such as
	// locks left out). A key written or removed during the walk may be
	// missed or listed twice. The walk stops at fn's first error, which
	// ListKeys returns.
	ListKeys(ctx context.Context, fn func(examined int, keys []string) error) error
}

// MultiSetter is implemented by backends that can make several writes in
// one round trip (Redis: the SETs are pipelined). The cache's write-behind
// queue hands such a backend the writes that pile up behind one another in
// a single call, which lets writes keep up with a high miss rate; other
// backends get one Set per write.
//
// Contract:
//   - Each item is stored as Set would store it (TTL 0: no expiry; a
//     negative TTL fails that item only).
//   - Writes of one key are applied in the order of items: a later item
//     is never overtaken by an earlier one of the same key.
//   - SetMulti returns one error per item (nil: that item was stored), in
//     the order of items; a failure of the whole call (no connection, the
//     context ended) is that error for every item not known to be stored.
//   - ctx bounds the whole call. The backend must not retain the values
//     after SetMulti returns.
type MultiSetter interface {
	SetMulti(ctx context.Context, items []SetItem) []error
}

// SetItem is one write of MultiSetter.SetMulti.
type SetItem struct {
	Key   string
	Value []byte
	TTL   time.Duration
}

// ErrEmptyPrefix is matched (errors.Is) by the error a PrefixDeleter returns
// for prefix "".
var ErrEmptyPrefix = errors.New("backend: empty prefix refused (it would delete every entry)")

// StatsReporter is implemented by backends that pass the calling cache's
// hit and miss counters on to their server (the CacheKit API's metrics
// headers). A cache built on such a backend attaches its counters once, when
// it is created; f == nil detaches them.
type StatsReporter interface {
	AttachStats(f func() Stats)
}

// Stats is a snapshot of a cache's counters, as a StatsReporter reads it.
type Stats struct {
	L1Hits, L2Hits, Misses uint64
	// L1Status is "hit", "miss" or "disabled"; empty means "miss".
	L1Status string
}

// Health detail keys every backend reports.
const (
	DetailBackendType = "backend_type"
	DetailLatencyMS   = "latency_ms"
	DetailError       = "error"
)

// Package store holds the storage engines behind cachekitd: the Store
// interface the HTTP layer talks to, an embedded in-memory store (the default,
// so the server runs with nothing else installed) and a Redis/Valkey store
// (standalone or Cluster) that lets several cachekitd replicas share entries
// and locks.
//
// Decisions, and why:
//
//   - Every operation takes the tenant explicitly. A store never sees an API
//     key, only the tenant id the server resolved from it, and keeps each
//     tenant's entries, locks and TTLs in a separate namespace, so no request
//     can name another tenant's data.
//   - Values are opaque bytes. A store copies a value on Set and hands out
//     the stored slice on Get; callers must treat returned values as
//     read-only. This keeps GET hits allocation-free in the memory store.
//   - Stale serving is a property of an entry: Set takes a fresh TTL and a
//     stale window. After the fresh TTL the entry is still returned, marked
//     stale, until the window ends. TTL inspection reports the remaining fresh
//     time; RefreshTTL sets a new fresh TTL and keeps the entry's window.
//   - A TTL of 0 in Set stores the entry without expiry (Info.NoExpiry); it
//     never turns stale, so a stale window is meaningless and ignored.
//     RefreshTTL gives such an entry an expiry again.
//   - Per-tenant limits (entries, bytes) evict the tenant's own entries, so
//     one tenant filling its quota never pushes out another tenant's data.
//     The memory store enforces them exactly; the Redis store approximately
//     (see RedisOptions).
//   - Locks are leases: a random id, an expiry, release only by that id. A
//     contested lock is not an error (ok == false).
//   - Relaying invalidation events between replicas is an optional
//     capability (Relay), not part of Store: only a store that several
//     replicas share needs it. The Redis store implements it with plain
//     PUBLISH/SUBSCRIBE on one channel, `<prefix>:relay`, on standalone and
//     Cluster alike (see Redis.SubscribeRelay for why not sharded Pub/Sub);
//     the memory store does not, and the server then relays nothing. A
//     relay carries tenant, sender and keys, never values, and reports a
//     lost subscription so that the server can treat it as lost events.
package store

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors callers branch on (with errors.Is).
var (
	// ErrTooLarge means a value can never fit: it is larger than the tenant's
	// byte limit or the store's total capacity.
	ErrTooLarge = errors.New("store: value larger than the storage limit")
	// ErrTooManyLocks means the tenant holds the maximum number of live locks.
	ErrTooManyLocks = errors.New("store: too many live locks for this tenant")
	// ErrClosed is returned by a store after Close.
	ErrClosed = errors.New("store: closed")
)

// Info describes an entry without its value.
type Info struct {
	// Size is the value's length in bytes.
	Size int
	// TTL is the remaining fresh lifetime, rounded down to the millisecond;
	// zero when the entry is stale or has no expiry.
	TTL time.Duration
	// NoExpiry reports an entry stored without expiry (Set with ttl 0).
	NoExpiry bool
	// HasStaleWindow reports whether the entry was stored with a stale
	// window, that is whether freshness is worth reporting for it.
	HasStaleWindow bool
	// Stale reports that the fresh TTL has passed and the entry is being
	// served from its stale window.
	Stale bool
}

// Entry is a value with its metadata. Value must not be modified.
type Entry struct {
	Info
	Value []byte
}

// Limits bound what one tenant may keep. Zero means unlimited.
type Limits struct {
	// MaxEntries is the largest number of entries per tenant; inserting one
	// more evicts the tenant's least recently used (memory) or soonest to
	// expire (Redis) entry.
	MaxEntries int64
	// MaxBytes bounds the bytes (keys, values, locks and bookkeeping) per tenant,
	// with the same eviction.
	MaxBytes int64
}

// Stats is a snapshot of a store's counters, for metrics.
type Stats struct {
	Entries   int64 // live entries (the memory store; -1 when unknown)
	Bytes     int64 // accounted bytes, entries and locks (the memory store; -1 when unknown)
	Evictions int64 // entries removed to respect limits
	Expired   int64 // entries removed because their lifetime ended
}

// Store is what cachekitd keeps entries and locks in. Implementations are safe
// for concurrent use and honour ctx.
type Store interface {
	// Get returns the entry under (tenant, key); found is false for a missing
	// or fully expired entry.
	Get(ctx context.Context, tenant, key string) (e Entry, found bool, err error)
	// Stat is Get without the value.
	Stat(ctx context.Context, tenant, key string) (info Info, found bool, err error)
	// Set stores a copy of value for ttl (> 0), then keeps it available as
	// stale for staleTTL (>= 0) more. A ttl of 0 stores it without expiry
	// (staleTTL is then ignored). created reports that no entry existed.
	Set(ctx context.Context, tenant, key string, value []byte, ttl, staleTTL time.Duration) (created bool, err error)
	// Delete removes the entry and reports whether one existed.
	Delete(ctx context.Context, tenant, key string) (deleted bool, err error)
	// RefreshTTL gives an existing entry a new fresh TTL (> 0), keeping its
	// stale window. It reports false when the entry does not exist.
	RefreshTTL(ctx context.Context, tenant, key string, ttl time.Duration) (found bool, err error)
	// AcquireLock takes the lock on (tenant, key) for hold unless someone
	// holds it; ok is false when contested.
	AcquireLock(ctx context.Context, tenant, key string, hold time.Duration) (lockID string, ok bool, err error)
	// ReleaseLock releases the lock if lockID is the live holder's id.
	ReleaseLock(ctx context.Context, tenant, key, lockID string) (released bool, err error)
	// Ping checks that the store can serve requests.
	Ping(ctx context.Context) error
	// Stats returns counters for metrics.
	Stats() Stats
	// Name is a short label ("memory", "redis") for health and metrics.
	Name() string
	// Close releases the store's resources.
	Close() error
}

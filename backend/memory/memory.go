// Package memory is an in-process Backend: a byte-bounded map with a TTL per
// entry, distributed-lock, TTL-inspection and value-plus-TTL (backend.TTLGetter) capabilities, and per-operation
// timeouts. It is meant for tests (run the full cache pipeline, including the
// stored bytes, without a server) and for single-process programs that want
// the backend semantics of cachekit without a network.
//
// Decisions:
//   - Storage is the same S3-FIFO, byte-bounded structure as cachekit's L1
//     (internal/l1). When the budget is full, old entries are evicted, like a
//     Redis with maxmemory-policy set to evict; Set fails with a Permanent
//     error only for a value that can never fit (larger than one shard).
//   - Values are copied on Set and on Get, so neither side can change stored
//     bytes afterwards.
//   - Locks are real: AcquireLock is exclusive per key until released or
//     expired, and ReleaseLock honours the lock id.
//   - DeletePrefix removes every key with a prefix; cachekit's Clear uses it.
package memory

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/cachekit-go/cachekit/backend"
	"github.com/cachekit-go/cachekit/internal/l1"
)

// DefaultMaxBytes is the default byte budget of a memory backend (100 MiB).
const DefaultMaxBytes = 100 << 20

// lockSweepThreshold is the number of lock records above which AcquireLock
// drops expired ones, so abandoned locks cannot pile up.
const lockSweepThreshold = 1024

// Name is the backend name used in errors and health details.
const Name = "memory"

// ErrValueTooLarge is the cause of the Permanent error Set returns for a
// value larger than the backend can ever hold.
var ErrValueTooLarge = errors.New("memory: value larger than the backend budget")

// Options configure a memory backend. The zero value is valid.
type Options struct {
	// MaxBytes bounds the bytes held (keys, values and a fixed per-entry
	// overhead). 0 means DefaultMaxBytes.
	MaxBytes int64
	// Now overrides the clock (tests); nil means time.Now.
	Now func() time.Time
}

type store struct {
	data  *l1.Cache[[]byte]
	now   func() time.Time
	mu    sync.Mutex
	locks map[string]lock
}

type lock struct {
	id      string
	expires time.Time
}

// Backend is an in-memory backend. It is safe for concurrent use.
type Backend struct {
	s       *store
	timeout time.Duration
}

var (
	_ backend.Backend       = (*Backend)(nil)
	_ backend.Locker        = (*Backend)(nil)
	_ backend.TTLInspector  = (*Backend)(nil)
	_ backend.TTLGetter     = (*Backend)(nil)
	_ backend.TimeoutSetter = (*Backend)(nil)
)

// New returns an empty memory backend.
func New(o Options) *Backend {
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	now := o.Now
	return &Backend{s: &store{
		data:  l1.New[[]byte](l1.Options{MaxBytes: o.MaxBytes, Now: func() int64 { return now().UnixNano() }}),
		now:   now,
		locks: make(map[string]lock),
	}}
}

// WithTimeout returns a Backend sharing this one's data whose operations fail
// with a Timeout error once d has passed (d <= 0: no timeout).
func (b *Backend) WithTimeout(d time.Duration) backend.Backend {
	return &Backend{s: b.s, timeout: d}
}

func (b *Backend) begin(ctx context.Context, op, key string) (context.Context, context.CancelFunc, error) {
	cancel := context.CancelFunc(func() {})
	// A caller's deadline within the timeout already bounds the operation.
	if dl, ok := ctx.Deadline(); b.timeout > 0 && (!ok || time.Until(dl) > b.timeout) {
		ctx, cancel = context.WithTimeout(ctx, b.timeout)
	}
	if err := ctx.Err(); err != nil {
		cancel()
		return ctx, nil, backend.NewError(backend.Unknown, Name, op, key, err)
	}
	return ctx, cancel, nil
}

// expiry returns the Unix-nanosecond expiry of an entry written now with
// ttl: 0 (never) for ttl 0 and for lifetimes past the year 2262, which
// UnixNano cannot represent (a TTL of centuries means no expiry).
func (b *Backend) expiry(ttl time.Duration) int64 {
	if ttl == 0 {
		return 0
	}
	now := b.s.now().UnixNano()
	if int64(ttl) > math.MaxInt64-now {
		return 0
	}
	return now + int64(ttl)
}

// Get returns a copy of the value stored under key.
func (b *Backend) Get(ctx context.Context, key string) ([]byte, bool, error) {
	_, cancel, err := b.begin(ctx, "get", key)
	if err != nil {
		return nil, false, err
	}
	defer cancel()
	v, ok := b.s.data.Get(key)
	if !ok {
		return nil, false, nil
	}
	return append([]byte(nil), v...), true, nil
}

// Set stores a copy of value under key; ttl 0 means no expiry.
func (b *Backend) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	_, cancel, err := b.begin(ctx, "set", key)
	if err != nil {
		return err
	}
	defer cancel()
	if ttl < 0 {
		return backend.NewError(backend.Permanent, Name, "set", key, errors.New("negative ttl"))
	}
	// Set also refuses an entry that is expired by the time it is written
	// (a TTL of a few nanoseconds): that is a write that expired at once,
	// not an error.
	if !b.s.data.Set(key, append([]byte(nil), value...), int64(len(value)), b.expiry(ttl)) &&
		int64(len(value))+int64(len(key))+b.s.data.EntryOverhead() > b.s.data.ShardBytes() {
		return backend.NewError(backend.Permanent, Name, "set", key, ErrValueTooLarge)
	}
	return nil
}

// Delete removes key and reports whether it existed.
func (b *Backend) Delete(ctx context.Context, key string) (bool, error) {
	_, cancel, err := b.begin(ctx, "delete", key)
	if err != nil {
		return false, err
	}
	defer cancel()
	return b.s.data.Delete(key), nil
}

// Exists reports whether key holds an unexpired value.
func (b *Backend) Exists(ctx context.Context, key string) (bool, error) {
	_, cancel, err := b.begin(ctx, "exists", key)
	if err != nil {
		return false, err
	}
	defer cancel()
	_, _, ok := b.s.data.GetWithExpiry(key)
	return ok, nil
}

// DeletePrefix removes every key starting with prefix and returns how many
// unexpired entries it removed. prefix "" is refused (backend.ErrEmptyPrefix).
func (b *Backend) DeletePrefix(ctx context.Context, prefix string) (int, error) {
	_, cancel, err := b.begin(ctx, "delete_prefix", prefix)
	if err != nil {
		return 0, err
	}
	defer cancel()
	if prefix == "" {
		return 0, backend.NewError(backend.Permanent, Name, "delete_prefix", "", backend.ErrEmptyPrefix)
	}
	return b.s.data.DeleteFunc(func(k string, _ []byte) bool { return strings.HasPrefix(k, prefix) }), nil
}

// HealthCheck always reports healthy unless ctx is done.
func (b *Backend) HealthCheck(ctx context.Context) (bool, map[string]any) {
	start := time.Now()
	details := map[string]any{backend.DetailBackendType: Name}
	_, cancel, err := b.begin(ctx, "health", "")
	if err != nil {
		details[backend.DetailError] = err.Error()
		details[backend.DetailLatencyMS] = 0.0
		return false, details
	}
	defer cancel()
	details["entries"] = b.s.data.Len()
	details["bytes"] = b.s.data.Bytes()
	details[backend.DetailLatencyMS] = float64(time.Since(start).Microseconds()) / 1000
	return true, details
}

// TTL returns the remaining lifetime of key (0 with found == true: no expiry).
func (b *Backend) TTL(ctx context.Context, key string) (time.Duration, bool, error) {
	_, rem, found, err := b.lookup(ctx, "ttl", key, false)
	return rem, found, err
}

// GetWithTTL returns a copy of the value stored under key and its remaining
// lifetime (0: no expiry), read together.
func (b *Backend) GetWithTTL(ctx context.Context, key string) ([]byte, time.Duration, bool, error) {
	return b.lookup(ctx, "get", key, true)
}

// lookup reads key's entry and remaining lifetime, and a copy of its value
// when withValue is set.
func (b *Backend) lookup(ctx context.Context, op, key string, withValue bool) ([]byte, time.Duration, bool, error) {
	_, cancel, err := b.begin(ctx, op, key)
	if err != nil {
		return nil, 0, false, err
	}
	defer cancel()
	v, exp, ok := b.s.data.GetWithExpiry(key)
	if !ok {
		return nil, 0, false, nil
	}
	var rem time.Duration
	if exp != 0 {
		if rem = time.Duration(exp - b.s.now().UnixNano()); rem <= 0 {
			return nil, 0, false, nil
		}
	}
	if withValue {
		v = append([]byte{}, v...)
	} else {
		v = nil
	}
	return v, rem, true, nil
}

// RefreshTTL gives an existing key a new lifetime (0 = no expiry).
func (b *Backend) RefreshTTL(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	_, cancel, err := b.begin(ctx, "refresh_ttl", key)
	if err != nil {
		return false, err
	}
	defer cancel()
	if ttl < 0 {
		return false, backend.NewError(backend.Permanent, Name, "refresh_ttl", key, errors.New("negative ttl"))
	}
	return b.s.data.SetExpiry(key, b.expiry(ttl)), nil
}

// AcquireLock takes the lock for key for at most hold, unless another holder
// has it.
func (b *Backend) AcquireLock(ctx context.Context, key string, hold time.Duration) (string, bool, error) {
	_, cancel, err := b.begin(ctx, "lock", key)
	if err != nil {
		return "", false, err
	}
	defer cancel()
	if hold <= 0 {
		return "", false, backend.NewError(backend.Permanent, Name, "lock", key, errors.New("non-positive hold"))
	}
	var raw [16]byte
	_, _ = rand.Read(raw[:])
	id := hex.EncodeToString(raw[:])
	now := b.s.now()
	b.s.mu.Lock()
	defer b.s.mu.Unlock()
	if l, ok := b.s.locks[key]; ok && now.Before(l.expires) {
		return "", false, nil
	}
	if len(b.s.locks) >= lockSweepThreshold {
		for k, l := range b.s.locks {
			if !now.Before(l.expires) {
				delete(b.s.locks, k)
			}
		}
	}
	b.s.locks[key] = lock{id: id, expires: now.Add(hold)}
	return id, true, nil
}

// ReleaseLock releases the lock for key if lockID holds it.
func (b *Backend) ReleaseLock(ctx context.Context, key, lockID string) (bool, error) {
	_, cancel, err := b.begin(ctx, "unlock", key)
	if err != nil {
		return false, err
	}
	defer cancel()
	now := b.s.now()
	b.s.mu.Lock()
	defer b.s.mu.Unlock()
	l, ok := b.s.locks[key]
	if !ok || l.id != lockID || !now.Before(l.expires) {
		if ok && !now.Before(l.expires) {
			delete(b.s.locks, key)
		}
		return false, nil
	}
	delete(b.s.locks, key)
	return true, nil
}

// HonoursContext reports that this backend's reads return once their context
// ends (backend.ContextHonourer): they never wait on anything but locks held
// for a map operation.
func (b *Backend) HonoursContext() bool { return true }

// ReadBudget is the default read budget the cache gives this backend
// (backend.ReadBudgeter): backend.LocalReadBudget.
func (b *Backend) ReadBudget() time.Duration { return backend.LocalReadBudget }

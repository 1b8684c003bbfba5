package backendtest_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/backend"
	"github.com/cachekit-go/cachekit/backend/backendtest"
)

// memStore is the state behind a MemBackend; WithTimeout copies share it.
type memStore struct {
	mu      sync.Mutex
	entries map[string]memEntry
	locks   map[string]memEntry // value holds the lock id
}

type memEntry struct {
	value   []byte
	expires time.Time // zero: never
}

func (e memEntry) live(now time.Time) bool { return e.expires.IsZero() || now.Before(e.expires) }

// MemBackend is a user's backend: an in-memory map with expiry, locks, TTL
// inspection, value-plus-TTL reads, per-operation timeouts and deletion by
// prefix.
type MemBackend struct {
	store   *memStore
	timeout time.Duration // 0: none
}

// NewMemBackend returns an empty MemBackend.
func NewMemBackend() *MemBackend {
	return &MemBackend{store: &memStore{entries: map[string]memEntry{}, locks: map[string]memEntry{}}}
}

// begin applies the timeout and reports a context that is already done, as
// the *backend.Error the contract asks for.
func (m *MemBackend) begin(ctx context.Context, op, key string) (context.CancelFunc, error) {
	cancel := context.CancelFunc(func() {})
	if m.timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, m.timeout)
	}
	if err := ctx.Err(); err != nil {
		cancel()
		return nil, backend.NewError(backend.Unknown, "mem", op, key, err)
	}
	return cancel, nil
}

func expiry(ttl time.Duration) time.Time {
	if ttl == 0 {
		return time.Time{}
	}
	return time.Now().Add(ttl)
}

func (m *MemBackend) Get(ctx context.Context, key string) ([]byte, bool, error) {
	cancel, err := m.begin(ctx, "get", key)
	if err != nil {
		return nil, false, err
	}
	defer cancel()
	m.store.mu.Lock()
	defer m.store.mu.Unlock()
	e, ok := m.store.entries[key]
	if !ok || !e.live(time.Now()) {
		return nil, false, nil
	}
	return append([]byte{}, e.value...), true, nil // the caller owns the copy
}

func (m *MemBackend) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	cancel, err := m.begin(ctx, "set", key)
	if err != nil {
		return err
	}
	defer cancel()
	if ttl < 0 {
		return backend.NewError(backend.Permanent, "mem", "set", key, errors.New("negative ttl"))
	}
	m.store.mu.Lock()
	defer m.store.mu.Unlock()
	m.store.entries[key] = memEntry{value: append([]byte{}, value...), expires: expiry(ttl)} // never keep the caller's slice
	return nil
}

func (m *MemBackend) Delete(ctx context.Context, key string) (bool, error) {
	cancel, err := m.begin(ctx, "delete", key)
	if err != nil {
		return false, err
	}
	defer cancel()
	m.store.mu.Lock()
	defer m.store.mu.Unlock()
	e, ok := m.store.entries[key]
	delete(m.store.entries, key)
	return ok && e.live(time.Now()), nil
}

func (m *MemBackend) Exists(ctx context.Context, key string) (bool, error) {
	_, found, err := m.Get(ctx, key)
	return found, err
}

func (m *MemBackend) HealthCheck(ctx context.Context) (bool, map[string]any) {
	start := time.Now()
	_, err := m.Exists(ctx, "health")
	details := map[string]any{
		backend.DetailBackendType: "mem",
		backend.DetailLatencyMS:   float64(time.Since(start).Microseconds()) / 1000,
	}
	if err != nil {
		details[backend.DetailError] = err.Error()
	}
	return err == nil, details
}

func (m *MemBackend) AcquireLock(ctx context.Context, key string, hold time.Duration) (string, bool, error) {
	cancel, err := m.begin(ctx, "lock", key)
	if err != nil {
		return "", false, err
	}
	defer cancel()
	m.store.mu.Lock()
	defer m.store.mu.Unlock()
	if l, ok := m.store.locks[key]; ok && l.live(time.Now()) {
		return "", false, nil
	}
	id := rand.Text()
	m.store.locks[key] = memEntry{value: []byte(id), expires: time.Now().Add(hold)}
	return id, true, nil
}

func (m *MemBackend) ReleaseLock(ctx context.Context, key, lockID string) (bool, error) {
	cancel, err := m.begin(ctx, "unlock", key)
	if err != nil {
		return false, err
	}
	defer cancel()
	m.store.mu.Lock()
	defer m.store.mu.Unlock()
	l, ok := m.store.locks[key]
	if !ok || !l.live(time.Now()) || string(l.value) != lockID {
		return false, nil
	}
	delete(m.store.locks, key)
	return true, nil
}

func (m *MemBackend) TTL(ctx context.Context, key string) (time.Duration, bool, error) {
	cancel, err := m.begin(ctx, "ttl", key)
	if err != nil {
		return 0, false, err
	}
	defer cancel()
	m.store.mu.Lock()
	defer m.store.mu.Unlock()
	e, ok := m.store.entries[key]
	now := time.Now()
	if !ok || !e.live(now) {
		return 0, false, nil
	}
	if e.expires.IsZero() {
		return 0, true, nil
	}
	return e.expires.Sub(now), true, nil
}

func (m *MemBackend) GetWithTTL(ctx context.Context, key string) ([]byte, time.Duration, bool, error) {
	cancel, err := m.begin(ctx, "get", key)
	if err != nil {
		return nil, 0, false, err
	}
	defer cancel()
	m.store.mu.Lock()
	defer m.store.mu.Unlock()
	e, ok := m.store.entries[key]
	now := time.Now()
	if !ok || !e.live(now) {
		return nil, 0, false, nil
	}
	var rem time.Duration
	if !e.expires.IsZero() {
		rem = e.expires.Sub(now)
	}
	return append([]byte{}, e.value...), rem, true, nil
}

func (m *MemBackend) RefreshTTL(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	cancel, err := m.begin(ctx, "refresh_ttl", key)
	if err != nil {
		return false, err
	}
	defer cancel()
	if ttl < 0 {
		return false, backend.NewError(backend.Permanent, "mem", "refresh_ttl", key, errors.New("negative ttl"))
	}
	m.store.mu.Lock()
	defer m.store.mu.Unlock()
	e, ok := m.store.entries[key]
	if !ok || !e.live(time.Now()) {
		return false, nil
	}
	e.expires = expiry(ttl)
	m.store.entries[key] = e
	return true, nil
}

func (m *MemBackend) DeletePrefix(ctx context.Context, prefix string) (int, error) {
	cancel, err := m.begin(ctx, "delete_prefix", prefix)
	if err != nil {
		return 0, err
	}
	defer cancel()
	if prefix == "" {
		return 0, backend.NewError(backend.Permanent, "mem", "delete_prefix", "", backend.ErrEmptyPrefix)
	}
	m.store.mu.Lock()
	defer m.store.mu.Unlock()
	now, n := time.Now(), 0
	for k, e := range m.store.entries {
		if strings.HasPrefix(k, prefix) {
			if e.live(now) {
				n++
			}
			delete(m.store.entries, k)
		}
	}
	return n, nil
}

func (m *MemBackend) WithTimeout(d time.Duration) backend.Backend {
	return &MemBackend{store: m.store, timeout: d}
}

// Example runs the conformance suite against a user's own backend, here
// MemBackend. In your module it is a test function in a _test.go file; the
// options describe what the store legitimately cannot do.
func Example() {
	testMemBackend := func(t *testing.T) {
		backendtest.Run(t, func(t *testing.T) backend.Backend {
			return NewMemBackend()
		}, backendtest.WithKeyPrefix("myapp:test:"))
	}
	// A real _test.go file declares: func TestMemBackend(t *testing.T) { ... }
	fmt.Printf("%T\n", testMemBackend)
	// Output: func(*testing.T)
}

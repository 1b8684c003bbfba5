// Package backendtest is the conformance suite for cachekit-go backends. One
// call, Run, checks that any backend (ours or a user's) honours the contract of
// package backend:
//
//   - Core (never skipped): Set/Get round trips, overwrite, Delete (a missing
//     key is (false, nil), not an error), Exists, Get of a missing key
//     (nil, false, nil), TTL expiry (and that ttl 0 means "never expires"), a
//     negative TTL is an error and stores nothing, binary values (every byte
//     value 0..255, protocol-looking bytes, the empty and nil value), a value
//     larger than 1 MiB (or the largest the backend allows), values above that
//     limit are rejected or stored intact but never corrupted, unicode, special
//     and long keys that must not collide, Set does not retain the caller's
//     slice, Get hands out a slice the caller owns, many goroutines on distinct
//     and shared keys (no torn values), an already cancelled or expired context
//     returns promptly with an error matching context.Canceled or a Timeout
//     kind and stores nothing, and HealthCheck details (backend_type string,
//     latency_ms float64).
//   - Locker, when implemented: exclusivity (also under contention), release
//     with a wrong id fails and keeps the lock, release and re-acquire with a
//     fresh id, a lock expires after its hold time and the old holder's id is
//     then worthless, and the lock does not touch the value stored under the
//     same key.
//   - TTLInspector, when implemented: TTL close to what was set, a missing key,
//     entries without expiry (also after overwriting an expiring entry with
//     ttl 0), RefreshTTL extends and shortens, keeps the value, does not create
//     missing keys and rejects a negative ttl.
//   - TTLGetter, when implemented: GetWithTTL returns the value with a
//     remaining lifetime close to the TTL that was set (and to what
//     TTLInspector.TTL reports, when both exist), 0 for entries without
//     expiry, (nil, 0, false, nil) for missing, deleted and expired keys,
//     large and empty values intact, a slice the caller owns, and an error
//     matching context.Canceled (or a Timeout kind) for a done context.
//   - TimeoutSetter, when implemented: WithTimeout returns a new backend that
//     shares the store, the receiver keeps working unchanged, and a tiny
//     timeout makes operations either succeed or fail with a Timeout-kind
//     error (both outcomes are accepted, so the check cannot flake on a fast
//     machine).
//   - MultiSetter, when implemented: every item stored as Set stores it
//     (many keys, with and without expiry, empty and large values), one
//     key's items applied in order (the last stays), a negative TTL fails
//     its item only, an empty call, values the caller may change afterwards,
//     and a done context failing every item.
//   - PrefixDeleter, when implemented: exactly the keys starting with the
//     prefix are removed (also entries without expiry, and more than one
//     small batch of them) and counted, keys sharing only a shorter prefix or
//     holding it elsewhere survive, glob, regexp and LIKE metacharacters in
//     the prefix match only themselves, a second call removes 0, prefix ""
//     is refused with backend.ErrEmptyPrefix and removes nothing, locks are
//     not removed (when the backend is also a Locker), and a cancelled
//     context returns promptly with an error matching context.Canceled.
//
// A capability the backend does not implement is reported by a skipped
// subtest whose message says "not implemented"; the core contract is never
// skipped.
//
// Decisions: all subtests run in parallel inside one blocking subtest named
// "contract", so the suite takes about as long as its slowest check (a TTL or
// lock expiry of one to two seconds, polled rather than slept) and has
// finished when Run returns, before the caller's deferred clean-ups. Keys are
// made unique per Run and per subtest (a random run id plus the subtest name),
// so several backends, runs or packages may share one server. Values written
// with a TTL get a long one (DefaultValueTTL) so a killed run leaves nothing
// behind for long; entries written without expiry are deleted at the end.
// Options describe legitimate limits of a store (value size, key length, TTL
// granularity, key alphabet); they never turn a core check off.
package backendtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/backend"
)

// Defaults of the suite. Options override them.
const (
	// DefaultLargeValueSize is the size of the large-value check when the
	// backend has no size limit: just over 1 MiB.
	DefaultLargeValueSize = 1<<20 + 4096
	// DefaultLongKeyLength is the length in bytes of the long-key check when
	// no WithMaxKeyLength is given.
	DefaultLongKeyLength = 1024
	// DefaultTTLResolution is the expiry granularity assumed when no
	// WithTTLResolution is given.
	DefaultTTLResolution = time.Millisecond
	// DefaultOpTimeout bounds every single operation the suite performs, so a
	// hanging backend fails the suite instead of stalling it.
	DefaultOpTimeout = 10 * time.Second
	// DefaultValueTTL is the TTL of values whose lifetime is not under test.
	DefaultValueTTL = 10 * time.Minute
	// PlainKeyAlphabet is the alphabet of keys under WithPlainKeys (the
	// CacheKit HTTP API's key charset).
	PlainKeyAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:-"
)

// Option adjusts the suite for what a backend can legitimately not do.
type Option func(*config)

type config struct {
	maxValueSize     int
	maxKeyLength     int
	ttlResolution    time.Duration
	keyPrefix        string
	plainKeys        bool
	opTimeout        time.Duration
	zeroTTLIsDefault bool
}

// WithMaxValueSize declares the largest value (in bytes) the backend stores,
// for stores with a hard limit (memcached: 1 MiB including item overhead, so
// pass a little less). The large-value check then stores exactly n bytes, and
// a value of 2n+1 bytes must be rejected or stored intact. Without it the suite
// stores DefaultLargeValueSize bytes.
func WithMaxValueSize(n int) Option { return func(c *config) { c.maxValueSize = n } }

// WithMaxKeyLength declares the longest key (in bytes, prefix included) the
// backend accepts; the long-key check uses keys of exactly n bytes. Without it
// the suite uses DefaultLongKeyLength.
func WithMaxKeyLength(n int) Option { return func(c *config) { c.maxKeyLength = n } }

// WithTTLResolution declares the granularity of expiry, e.g. time.Second for
// stores that keep TTLs in whole seconds. TTL and lock-expiry checks then use
// lifetimes of at least twice d and allow d of rounding.
func WithTTLResolution(d time.Duration) Option { return func(c *config) { c.ttlResolution = d } }

// WithKeyPrefix puts prefix in front of every key the suite uses, to keep
// its keys apart from other data in a shared store. Keys are unique per run
// even without it.
func WithKeyPrefix(prefix string) Option { return func(c *config) { c.keyPrefix = prefix } }

// WithPlainKeys declares that the backend accepts only keys made of
// PlainKeyAlphabet, without ".." (like the CacheKit HTTP API). The unicode and
// special-character key checks then use keys from that alphabet only.
func WithPlainKeys() Option { return func(c *config) { c.plainKeys = true } }

// WithZeroTTLServerDefault declares that Set with ttl 0 stores the entry
// with the server's default lifetime rather than without expiry, as the
// CacheKit HTTP API does (a PUT without a TTL header gets the tenant's
// default TTL). The no-expiry TTL check then reports the capability as not
// implemented instead of failing.
func WithZeroTTLServerDefault() Option { return func(c *config) { c.zeroTTLIsDefault = true } }

// WithOpTimeout changes DefaultOpTimeout, the bound on each operation, for
// backends that are slow by nature (a remote API across the internet).
func WithOpTimeout(d time.Duration) Option { return func(c *config) { c.opTimeout = d } }

// suite is the state shared by all subtests of one Run.
type suite struct {
	cfg        config
	runID      string
	newBackend func(t *testing.T) backend.Backend
}

// Run runs the full contract against backends made by newBackend. newBackend is
// called once per subtest and must return a ready backend; the suite uses keys
// unique to each subtest, so backends may share one store. All checks run as
// parallel subtests of one subtest named "contract", which has finished when
// Run returns.
func Run(t *testing.T, newBackend func(t *testing.T) backend.Backend, opts ...Option) {
	t.Helper()
	cfg := config{
		ttlResolution: DefaultTTLResolution,
		opTimeout:     DefaultOpTimeout,
	}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.ttlResolution <= 0 {
		cfg.ttlResolution = DefaultTTLResolution
	}
	if cfg.opTimeout <= 0 {
		cfg.opTimeout = DefaultOpTimeout
	}
	if cfg.maxValueSize < 0 || cfg.maxKeyLength < 0 {
		t.Fatalf("backendtest: negative WithMaxValueSize or WithMaxKeyLength")
	}
	var id [4]byte
	if _, err := rand.Read(id[:]); err != nil {
		t.Fatalf("backendtest: run id: %v", err)
	}
	s := &suite{cfg: cfg, runID: hex.EncodeToString(id[:]), newBackend: newBackend}
	t.Run("contract", func(t *testing.T) {
		s.core(t)
		s.locker(t)
		s.ttlInspector(t)
		s.ttlGetter(t)
		s.timeoutSetter(t)
		s.prefixDeleter(t)
		s.multiSetter(t)
	})
}

// check is one subtest: a name and its body, which gets a fresh backend.
type check struct {
	name string
	fn   func(t *testing.T, b backend.Backend)
}

// runChecks runs checks as parallel subtests of t, each with its own backend.
func (s *suite) runChecks(t *testing.T, checks []check) {
	t.Helper()
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b := s.newBackend(t)
			if b == nil {
				t.Fatal("newBackend returned nil")
			}
			c.fn(t, b)
		})
	}
}

// key returns a key unique to this run and subtest, ending in suffix.
func (s *suite) key(t *testing.T, suffix string) string {
	name := t.Name()
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		name = name[i+1:]
	}
	return s.cfg.keyPrefix + "bt" + s.runID + ":" + plain(name) + ":" + suffix
}

// plain maps every byte outside PlainKeyAlphabet to '_'.
func plain(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 128 && strings.ContainsRune(PlainKeyAlphabet, r) {
			return r
		}
		return '_'
	}, s)
}

// ctx returns a context bounded by the per-operation timeout.
func (s *suite) ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), s.cfg.opTimeout)
	t.Cleanup(cancel)
	return ctx
}

// shortTTL is the lifetime used by expiry checks: at least one second and at
// least twice the TTL resolution, so an entry is surely alive right after it
// was written.
func (s *suite) shortTTL() time.Duration {
	return max(time.Second, 2*s.cfg.ttlResolution)
}

// expiryDeadline is how long an expiry check waits for an entry with
// lifetime ttl to disappear: the lifetime, one resolution of rounding and a
// generous margin for slow machines.
func (s *suite) expiryDeadline(ttl time.Duration) time.Duration {
	return ttl + s.cfg.ttlResolution + 5*time.Second
}

// pollInterval is how often expiry checks poll.
const pollInterval = 50 * time.Millisecond

// eventually polls cond until it reports true or within elapses.
func eventually(t *testing.T, within time.Duration, cond func() (bool, error)) bool {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, err := cond()
		if err != nil {
			t.Fatalf("while polling: %v", err)
		}
		if ok {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		select {
		case <-t.Context().Done():
			return false
		case <-time.After(pollInterval):
		}
	}
}

// mustSet stores value under key with DefaultValueTTL.
func (s *suite) mustSet(t *testing.T, b backend.Backend, key string, value []byte) {
	t.Helper()
	if err := b.Set(s.ctx(t), key, value, DefaultValueTTL); err != nil {
		t.Fatalf("Set(%q, %d bytes): %v", key, len(value), err)
	}
}

// setForever stores value under key without expiry and deletes it when the
// test ends.
func (s *suite) setForever(t *testing.T, b backend.Backend, key string, value []byte) {
	t.Helper()
	if err := b.Set(s.ctx(t), key, value, 0); err != nil {
		t.Fatalf("Set(%q, %d bytes, ttl 0): %v", key, len(value), err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.opTimeout)
		defer cancel()
		_, _ = b.Delete(ctx, key)
	})
}

// mustGet asserts that key holds want.
func (s *suite) mustGet(t *testing.T, b backend.Backend, key string, want []byte) {
	t.Helper()
	got, found, err := b.Get(s.ctx(t), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	if !found {
		t.Fatalf("Get(%q): not found, want %s", key, describe(want))
	}
	if string(got) != string(want) {
		t.Fatalf("Get(%q) = %s, want %s", key, describe(got), describe(want))
	}
}

// mustMiss asserts that key holds nothing.
func (s *suite) mustMiss(t *testing.T, b backend.Backend, key string) {
	t.Helper()
	got, found, err := b.Get(s.ctx(t), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	if found || got != nil {
		t.Fatalf("Get(%q) = (%s, %v), want (nil, false)", key, describe(got), found)
	}
}

// describe shows a value briefly in failure messages.
func describe(v []byte) string {
	if v == nil {
		return "nil"
	}
	if len(v) <= 32 {
		return fmt.Sprintf("%q", v)
	}
	return fmt.Sprintf("%d bytes starting %q", len(v), v[:32])
}

// within runs fn and fails the test if it has not returned after limit: it
// catches operations that ignore their context and hang.
func within(t *testing.T, limit time.Duration, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
	case <-time.After(limit):
		t.Fatalf("%s did not return within %v", what, limit)
	}
}

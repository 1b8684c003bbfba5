package backendtest

import (
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/backend"
)

// capability runs checks as subtests of a subtest named name when the
// backend implements the capability (has reports that), and otherwise skips
// that subtest with a message saying it is not implemented.
func (s *suite) capability(t *testing.T, name, iface string, has func(backend.Backend) bool, checks []check) {
	t.Run(name, func(t *testing.T) {
		t.Parallel()
		if !has(s.newBackend(t)) {
			t.Skipf("%s not implemented by this backend: its checks did not run", iface)
		}
		s.runChecks(t, checks)
	})
}

// asLocker returns b's Locker; the caller has checked that it is one.
func asLocker(t *testing.T, b backend.Backend) backend.Locker {
	t.Helper()
	l, ok := b.(backend.Locker)
	if !ok {
		t.Fatalf("newBackend returned a %T that is not a backend.Locker, although an earlier one was", b)
	}
	return l
}

func (s *suite) locker(t *testing.T) {
	s.capability(t, "Locker", "backend.Locker", func(b backend.Backend) bool {
		_, ok := b.(backend.Locker)
		return ok
	}, []check{
		{"Exclusive", s.testLockExclusive},
		{"Contended", s.testLockContended},
		{"WrongID", s.testLockWrongID},
		{"ReleaseReacquire", s.testLockReacquire},
		{"Expires", s.testLockExpires},
		{"IndependentOfValue", s.testLockValue},
	})
}

// lockHold is the hold time of locks that must not expire during a check.
const lockHold = 30 * time.Second

// mustAcquire takes the lock on key or fails.
func (s *suite) mustAcquire(t *testing.T, l backend.Locker, key string, hold time.Duration) string {
	t.Helper()
	id, ok, err := l.AcquireLock(s.ctx(t), key, hold)
	if err != nil || !ok {
		t.Fatalf("AcquireLock(%q, %v) on a free lock = (%q, %v, %v), want ok", key, hold, id, ok, err)
	}
	if id == "" {
		t.Fatalf("AcquireLock(%q) returned an empty lock id", key)
	}
	return id
}

// mustBeHeld asserts that a second AcquireLock on key fails without error.
func (s *suite) mustBeHeld(t *testing.T, l backend.Locker, key string) {
	t.Helper()
	id, ok, err := l.AcquireLock(s.ctx(t), key, lockHold)
	if err != nil {
		t.Fatalf("AcquireLock(%q) on a held lock: %v (contention is ok == false, not an error)", key, err)
	}
	if ok {
		t.Fatalf("AcquireLock(%q) on a held lock succeeded with id %q", key, id)
	}
}

// mustRelease asserts ReleaseLock(key, id) == want.
func (s *suite) mustRelease(t *testing.T, l backend.Locker, key, id string, want bool) {
	t.Helper()
	released, err := l.ReleaseLock(s.ctx(t), key, id)
	if err != nil || released != want {
		t.Fatalf("ReleaseLock(%q, %q) = (%v, %v), want (%v, nil)", key, id, released, err, want)
	}
}

func (s *suite) testLockExclusive(t *testing.T, b backend.Backend) {
	l := asLocker(t, b)
	k := s.key(t, "k")
	id := s.mustAcquire(t, l, k, lockHold)
	s.mustBeHeld(t, l, k)
	// Locks on other keys are independent.
	other := s.mustAcquire(t, l, s.key(t, "other"), lockHold)
	s.mustRelease(t, l, s.key(t, "other"), other, true)
	s.mustRelease(t, l, k, id, true)
}

func (s *suite) testLockContended(t *testing.T, b backend.Backend) {
	l := asLocker(t, b)
	k := s.key(t, "k")
	const contenders = 8
	var wins atomic.Int32
	var winner atomic.Value
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range contenders {
		wg.Go(func() {
			<-start
			id, ok, err := l.AcquireLock(s.ctx(t), k, lockHold)
			if err != nil {
				t.Errorf("AcquireLock(%q) under contention: %v", k, err)
				return
			}
			if ok {
				wins.Add(1)
				winner.Store(id)
			}
		})
	}
	close(start)
	wg.Wait()
	if n := wins.Load(); n != 1 {
		t.Fatalf("%d of %d concurrent AcquireLock calls succeeded, want exactly 1", n, contenders)
	}
	s.mustRelease(t, l, k, winner.Load().(string), true)
}

func (s *suite) testLockWrongID(t *testing.T, b backend.Backend) {
	l := asLocker(t, b)
	k := s.key(t, "k")
	id := s.mustAcquire(t, l, k, lockHold)
	for _, wrong := range []string{id + "x", "not-the-id", ""} {
		s.mustRelease(t, l, k, wrong, false)
	}
	s.mustBeHeld(t, l, k)
	// Releasing a lock that was never taken is false, not an error.
	s.mustRelease(t, l, s.key(t, "never-locked"), id, false)
	s.mustRelease(t, l, k, id, true)
}

func (s *suite) testLockReacquire(t *testing.T, b backend.Backend) {
	l := asLocker(t, b)
	k := s.key(t, "k")
	id1 := s.mustAcquire(t, l, k, lockHold)
	s.mustRelease(t, l, k, id1, true)
	s.mustRelease(t, l, k, id1, false)
	id2 := s.mustAcquire(t, l, k, lockHold)
	if id2 == id1 {
		t.Fatalf("re-acquired lock has the same id %q as the released one: ids must be unique", id1)
	}
	// The first holder's id no longer releases the lock.
	s.mustRelease(t, l, k, id1, false)
	s.mustBeHeld(t, l, k)
	s.mustRelease(t, l, k, id2, true)
}

func (s *suite) testLockExpires(t *testing.T, b backend.Backend) {
	l := asLocker(t, b)
	k := s.key(t, "k")
	hold := s.shortTTL()
	id1 := s.mustAcquire(t, l, k, hold)
	// Held right after: hold is at least twice the resolution.
	s.mustBeHeld(t, l, k)
	var id2 string
	got := eventually(t, s.expiryDeadline(hold), func() (bool, error) {
		id, ok, err := l.AcquireLock(s.ctx(t), k, lockHold)
		id2 = id
		return ok, err
	})
	if !got {
		t.Fatalf("lock held for %v still not free after %v", hold, s.expiryDeadline(hold))
	}
	// The expired holder must not release the new holder's lock.
	s.mustRelease(t, l, k, id1, false)
	s.mustBeHeld(t, l, k)
	s.mustRelease(t, l, k, id2, true)
}

func (s *suite) testLockValue(t *testing.T, b backend.Backend) {
	l := asLocker(t, b)
	k, bare := s.key(t, "k"), s.key(t, "bare")
	s.mustSet(t, b, k, []byte("value"))
	id := s.mustAcquire(t, l, k, lockHold)
	s.mustGet(t, b, k, []byte("value"))
	s.mustRelease(t, l, k, id, true)
	s.mustGet(t, b, k, []byte("value"))
	// A lock alone is not a value.
	bareID := s.mustAcquire(t, l, bare, lockHold)
	s.mustMiss(t, b, bare)
	mustExist(t, s, b, bare, false)
	s.mustRelease(t, l, bare, bareID, true)
}

// asInspector returns b's TTLInspector; the caller has checked that it is one.
func asInspector(t *testing.T, b backend.Backend) backend.TTLInspector {
	t.Helper()
	i, ok := b.(backend.TTLInspector)
	if !ok {
		t.Fatalf("newBackend returned a %T that is not a backend.TTLInspector, although an earlier one was", b)
	}
	return i
}

func (s *suite) ttlInspector(t *testing.T) {
	s.capability(t, "TTLInspector", "backend.TTLInspector", func(b backend.Backend) bool {
		_, ok := b.(backend.TTLInspector)
		return ok
	}, []check{
		{"Remaining", s.testTTLRemaining},
		{"Missing", s.testTTLMissing},
		{"NoExpiry", s.testTTLNoExpiry},
		{"Refresh", s.testTTLRefresh},
		{"RefreshMissing", s.testTTLRefreshMissing},
		{"RefreshNegative", s.testTTLRefreshNegative},
	})
}

// ttlSlack is how far a reported TTL may lag behind what was set: one
// resolution of rounding plus time spent between the write and the read on a
// slow machine.
func (s *suite) ttlSlack() time.Duration { return s.cfg.ttlResolution + 5*time.Second }

// mustTTLAbout asserts that key's remaining lifetime is in (set-slack, set].
func (s *suite) mustTTLAbout(t *testing.T, in backend.TTLInspector, key string, set time.Duration) {
	t.Helper()
	rem, found, err := in.TTL(s.ctx(t), key)
	if err != nil || !found {
		t.Fatalf("TTL(%q) = (%v, %v, %v), want about %v", key, rem, found, err, set)
	}
	if rem > set || rem <= set-s.ttlSlack() {
		t.Fatalf("TTL(%q) = %v, want in (%v, %v]", key, rem, set-s.ttlSlack(), set)
	}
}

func (s *suite) testTTLRemaining(t *testing.T, b backend.Backend) {
	in := asInspector(t, b)
	k := s.key(t, "k")
	const ttl = time.Minute
	if err := b.Set(s.ctx(t), k, []byte("v"), ttl); err != nil {
		t.Fatalf("Set(%q, ttl %v): %v", k, ttl, err)
	}
	s.mustTTLAbout(t, in, k, ttl)
}

func (s *suite) testTTLMissing(t *testing.T, b backend.Backend) {
	in := asInspector(t, b)
	k := s.key(t, "never-set")
	rem, found, err := in.TTL(s.ctx(t), k)
	if err != nil || found || rem != 0 {
		t.Fatalf("TTL(missing %q) = (%v, %v, %v), want (0, false, nil)", k, rem, found, err)
	}
}

func (s *suite) testTTLNoExpiry(t *testing.T, b backend.Backend) {
	in := asInspector(t, b)
	if s.cfg.zeroTTLIsDefault {
		t.Skip("not implemented: ttl 0 means the server's default TTL for this backend (WithZeroTTLServerDefault)")
	}
	mustForever := func(key string) {
		t.Helper()
		rem, found, err := in.TTL(s.ctx(t), key)
		if err != nil || !found || rem != 0 {
			t.Fatalf("TTL(%q) of an entry without expiry = (%v, %v, %v), want (0, true, nil)", key, rem, found, err)
		}
	}
	k := s.key(t, "forever")
	s.setForever(t, b, k, []byte("v"))
	mustForever(k)
	// Overwriting an expiring entry with ttl 0 removes the expiry.
	k2 := s.key(t, "was-expiring")
	s.mustSet(t, b, k2, []byte("v"))
	s.setForever(t, b, k2, []byte("v2"))
	mustForever(k2)
}

func (s *suite) testTTLRefresh(t *testing.T, b backend.Backend) {
	in := asInspector(t, b)
	k := s.key(t, "k")
	if err := b.Set(s.ctx(t), k, []byte("value"), time.Minute); err != nil {
		t.Fatalf("Set(%q): %v", k, err)
	}
	for _, ttl := range []time.Duration{time.Hour, 30 * time.Second, 2 * time.Hour} {
		ok, err := in.RefreshTTL(s.ctx(t), k, ttl)
		if err != nil || !ok {
			t.Fatalf("RefreshTTL(%q, %v) = (%v, %v), want (true, nil)", k, ttl, ok, err)
		}
		s.mustTTLAbout(t, in, k, ttl)
	}
	s.mustGet(t, b, k, []byte("value"))
}

func (s *suite) testTTLRefreshMissing(t *testing.T, b backend.Backend) {
	in := asInspector(t, b)
	k := s.key(t, "never-set")
	ok, err := in.RefreshTTL(s.ctx(t), k, time.Minute)
	if err != nil || ok {
		t.Fatalf("RefreshTTL(missing %q) = (%v, %v), want (false, nil)", k, ok, err)
	}
	s.mustMiss(t, b, k)
}

func (s *suite) testTTLRefreshNegative(t *testing.T, b backend.Backend) {
	in := asInspector(t, b)
	k := s.key(t, "k")
	s.mustSet(t, b, k, []byte("v"))
	if _, err := in.RefreshTTL(s.ctx(t), k, -time.Second); err == nil {
		t.Fatalf("RefreshTTL(%q, -1s) succeeded, want an error", k)
	}
	s.mustGet(t, b, k, []byte("v"))
}

func (s *suite) timeoutSetter(t *testing.T) {
	s.capability(t, "TimeoutSetter", "backend.TimeoutSetter", func(b backend.Backend) bool {
		_, ok := b.(backend.TimeoutSetter)
		return ok
	}, []check{
		{"NewInstance", s.testTimeoutNewInstance},
		{"TinyTimeout", s.testTinyTimeout},
	})
}

// asTimeoutSetter returns b's TimeoutSetter; the caller has checked that it is one.
func asTimeoutSetter(t *testing.T, b backend.Backend) backend.TimeoutSetter {
	t.Helper()
	ts, ok := b.(backend.TimeoutSetter)
	if !ok {
		t.Fatalf("newBackend returned a %T that is not a backend.TimeoutSetter, although an earlier one was", b)
	}
	return ts
}

// samePointer reports whether a and b are the same pointer (false for
// non-pointer types, whose identity cannot be told).
func samePointer(a, b any) bool {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	return va.Kind() == reflect.Pointer && vb.Kind() == reflect.Pointer && va.Type() == vb.Type() && va.Pointer() == vb.Pointer()
}

func (s *suite) testTimeoutNewInstance(t *testing.T, b backend.Backend) {
	ts := asTimeoutSetter(t, b)
	b2 := ts.WithTimeout(time.Minute)
	if b2 == nil {
		t.Fatal("WithTimeout returned nil")
	}
	if samePointer(b, b2) {
		t.Fatal("WithTimeout returned its receiver; it must return a new backend")
	}
	// Both share one store.
	k := s.key(t, "k")
	s.mustSet(t, b2, k, []byte("via copy"))
	s.mustGet(t, b, k, []byte("via copy"))
	s.mustSet(t, b, k, []byte("via receiver"))
	s.mustGet(t, b2, k, []byte("via receiver"))
}

func (s *suite) testTinyTimeout(t *testing.T, b backend.Backend) {
	ts := asTimeoutSetter(t, b)
	tiny := ts.WithTimeout(time.Nanosecond)
	k := s.key(t, "k")
	// Either outcome is fine, so the check cannot flake: an operation that
	// beat the timeout succeeded; one that did not must say Timeout.
	var failed int
	for i := range 10 {
		var err error
		within(t, promptly, "Set through WithTimeout(1ns)", func() {
			err = tiny.Set(s.ctx(t), k, fmt.Appendf(nil, "v%d", i), DefaultValueTTL)
		})
		if err != nil {
			failed++
			if kind := backend.KindOf(err); kind != backend.Timeout {
				t.Errorf("Set through WithTimeout(1ns) failed with kind %v, want timeout: %v", kind, err)
			}
			if errors.Is(err, backend.ErrTransient) || errors.Is(err, backend.ErrPermanent) {
				t.Errorf("timeout error %v also matches another kind", err)
			}
		}
		within(t, promptly, "Get through WithTimeout(1ns)", func() { _, _, err = tiny.Get(s.ctx(t), k) })
		if err != nil {
			failed++
			if kind := backend.KindOf(err); kind != backend.Timeout {
				t.Errorf("Get through WithTimeout(1ns) failed with kind %v, want timeout: %v", kind, err)
			}
		}
	}
	t.Logf("WithTimeout(1ns): %d of 20 operations timed out, the rest finished in time", failed)
	// The receiver is unchanged: its operations still succeed.
	s.mustSet(t, b, k, []byte("receiver still works"))
	s.mustGet(t, b, k, []byte("receiver still works"))
	healthy, details := b.HealthCheck(s.ctx(t))
	if !healthy {
		t.Errorf("receiver unhealthy after WithTimeout(1ns) was used: %v", details)
	}
	within(t, promptly, "HealthCheck through WithTimeout(1ns)", func() {
		_, details := tiny.HealthCheck(s.ctx(t))
		if _, ok := details[backend.DetailBackendType].(string); !ok {
			t.Errorf("HealthCheck through WithTimeout(1ns): details %v lack %q", details, backend.DetailBackendType)
		}
	})
}

package backendtest

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/backend"
)

func (s *suite) ttlGetter(t *testing.T) {
	s.capability(t, "TTLGetter", "backend.TTLGetter", func(b backend.Backend) bool {
		_, ok := b.(backend.TTLGetter)
		return ok
	}, []check{
		{"Remaining", s.testGetWithTTLRemaining},
		{"NoExpiry", s.testGetWithTTLNoExpiry},
		{"Missing", s.testGetWithTTLMissing},
		{"Expired", s.testGetWithTTLExpired},
		{"LargeValue", s.testGetWithTTLLarge},
		{"EmptyValue", s.testGetWithTTLEmpty},
		{"Owned", s.testGetWithTTLOwned},
		{"Cancelled", s.testGetWithTTLCancelled},
	})
}

// asTTLGetter returns b's TTLGetter; the caller has checked that it is one.
func asTTLGetter(t *testing.T, b backend.Backend) backend.TTLGetter {
	t.Helper()
	g, ok := b.(backend.TTLGetter)
	if !ok {
		t.Fatalf("newBackend returned a %T that is not a backend.TTLGetter, although an earlier one was", b)
	}
	return g
}

// mustGetWithTTL asserts that key holds want and returns its remaining
// lifetime.
func (s *suite) mustGetWithTTL(t *testing.T, g backend.TTLGetter, key string, want []byte) time.Duration {
	t.Helper()
	got, rem, found, err := g.GetWithTTL(s.ctx(t), key)
	if err != nil || !found {
		t.Fatalf("GetWithTTL(%q) = (%s, %v, %v, %v), want %s", key, describe(got), rem, found, err, describe(want))
	}
	if !bytes.Equal(got, want) || got == nil {
		t.Fatalf("GetWithTTL(%q) value = %s, want %s", key, describe(got), describe(want))
	}
	if rem < 0 {
		t.Fatalf("GetWithTTL(%q) remaining = %v, want >= 0", key, rem)
	}
	return rem
}

// mustRemainAbout asserts that rem is in (set-slack, set] (one resolution of
// rounding up is allowed for stores that report whole seconds).
func (s *suite) mustRemainAbout(t *testing.T, what string, rem, set time.Duration) {
	t.Helper()
	if rem > set+s.cfg.ttlResolution-time.Nanosecond || rem <= set-s.ttlSlack() {
		t.Fatalf("%s remaining = %v, want in (%v, %v]", what, rem, set-s.ttlSlack(), set)
	}
}

func (s *suite) testGetWithTTLRemaining(t *testing.T, b backend.Backend) {
	g := asTTLGetter(t, b)
	for _, ttl := range []time.Duration{time.Minute, 2 * time.Hour} {
		k := s.key(t, ttl.String())
		v := []byte("value for " + ttl.String())
		if err := b.Set(s.ctx(t), k, v, ttl); err != nil {
			t.Fatalf("Set(%q, ttl %v): %v", k, ttl, err)
		}
		rem := s.mustGetWithTTL(t, g, k, v)
		s.mustRemainAbout(t, "GetWithTTL("+k+")", rem, ttl)
		// The same entry through TTLInspector, when there is one, tells the
		// same lifetime (up to the time between the two reads).
		if in, ok := b.(backend.TTLInspector); ok {
			r2, found, err := in.TTL(s.ctx(t), k)
			if err != nil || !found {
				t.Fatalf("TTL(%q) = (%v, %v, %v) after GetWithTTL found it", k, r2, found, err)
			}
			if d := (rem - r2).Abs(); d > s.ttlSlack() {
				t.Fatalf("GetWithTTL(%q) remaining %v but TTL says %v", k, rem, r2)
			}
		}
	}
}

func (s *suite) testGetWithTTLNoExpiry(t *testing.T, b backend.Backend) {
	g := asTTLGetter(t, b)
	if s.cfg.zeroTTLIsDefault {
		t.Skip("not implemented: ttl 0 means the server's default TTL for this backend (WithZeroTTLServerDefault)")
	}
	k := s.key(t, "forever")
	s.setForever(t, b, k, []byte("forever"))
	if rem := s.mustGetWithTTL(t, g, k, []byte("forever")); rem != 0 {
		t.Fatalf("GetWithTTL(%q) of an entry without expiry: remaining %v, want 0", k, rem)
	}
	// Overwriting an expiring entry with ttl 0 removes the expiry.
	k2 := s.key(t, "was-expiring")
	s.mustSet(t, b, k2, []byte("v"))
	s.setForever(t, b, k2, []byte("v2"))
	if rem := s.mustGetWithTTL(t, g, k2, []byte("v2")); rem != 0 {
		t.Fatalf("GetWithTTL(%q) after overwriting with ttl 0: remaining %v, want 0", k2, rem)
	}
}

// mustMissWithTTL asserts that GetWithTTL finds nothing under key.
func (s *suite) mustMissWithTTL(t *testing.T, g backend.TTLGetter, key string) {
	t.Helper()
	got, rem, found, err := g.GetWithTTL(s.ctx(t), key)
	if err != nil || found || got != nil || rem != 0 {
		t.Fatalf("GetWithTTL(%q) = (%s, %v, %v, %v), want (nil, 0, false, nil)", key, describe(got), rem, found, err)
	}
}

func (s *suite) testGetWithTTLMissing(t *testing.T, b backend.Backend) {
	g := asTTLGetter(t, b)
	s.mustMissWithTTL(t, g, s.key(t, "never-set"))
	k := s.key(t, "deleted")
	s.mustSet(t, b, k, []byte("v"))
	if _, err := b.Delete(s.ctx(t), k); err != nil {
		t.Fatalf("Delete(%q): %v", k, err)
	}
	s.mustMissWithTTL(t, g, k)
}

func (s *suite) testGetWithTTLExpired(t *testing.T, b backend.Backend) {
	g := asTTLGetter(t, b)
	k := s.key(t, "k")
	ttl := s.shortTTL()
	if err := b.Set(s.ctx(t), k, []byte("short-lived"), ttl); err != nil {
		t.Fatalf("Set(%q, ttl %v): %v", k, ttl, err)
	}
	// While it lives, remaining never exceeds what was set.
	got, rem, found, err := g.GetWithTTL(s.ctx(t), k)
	if err != nil {
		t.Fatalf("GetWithTTL(%q): %v", k, err)
	}
	if found && (string(got) != "short-lived" || rem <= 0 || rem > ttl+s.cfg.ttlResolution) {
		t.Fatalf("GetWithTTL(%q) right after Set(ttl %v) = (%s, %v), want the value and a remaining in (0, %v]", k, ttl, describe(got), rem, ttl)
	}
	gone := eventually(t, s.expiryDeadline(ttl), func() (bool, error) {
		got, rem, found, err := g.GetWithTTL(s.ctx(t), k)
		if err != nil {
			return false, err
		}
		if found {
			if string(got) != "short-lived" {
				t.Fatalf("GetWithTTL(%q) while expiring = %s", k, describe(got))
			}
			return false, nil
		}
		if got != nil || rem != 0 {
			t.Fatalf("GetWithTTL(%q) of an expired entry = (%s, %v, false), want (nil, 0, false)", k, describe(got), rem)
		}
		return true, nil
	})
	if !gone {
		t.Fatalf("GetWithTTL(%q): entry with ttl %v still found after %v", k, ttl, s.expiryDeadline(ttl))
	}
}

func (s *suite) testGetWithTTLLarge(t *testing.T, b backend.Backend) {
	g := asTTLGetter(t, b)
	n := s.cfg.maxValueSize
	if n == 0 {
		n = DefaultLargeValueSize
	}
	k := s.key(t, "large")
	v := pseudoRandom(n, 3)
	const ttl = 5 * time.Minute
	if err := b.Set(s.ctx(t), k, v, ttl); err != nil {
		t.Fatalf("Set(%q, %d bytes): %v", k, n, err)
	}
	rem := s.mustGetWithTTL(t, g, k, v)
	s.mustRemainAbout(t, "GetWithTTL of a large value", rem, ttl)
}

func (s *suite) testGetWithTTLEmpty(t *testing.T, b backend.Backend) {
	g := asTTLGetter(t, b)
	k := s.key(t, "empty")
	s.mustSet(t, b, k, nil)
	got, rem, found, err := g.GetWithTTL(s.ctx(t), k)
	if err != nil || !found || len(got) != 0 {
		t.Fatalf("GetWithTTL(%q) of the empty value = (%s, %v, %v, %v), want (empty, ~%v, true, nil)", k, describe(got), rem, found, err, DefaultValueTTL)
	}
	s.mustRemainAbout(t, "GetWithTTL of the empty value", rem, DefaultValueTTL)
}

func (s *suite) testGetWithTTLOwned(t *testing.T, b backend.Backend) {
	g := asTTLGetter(t, b)
	k := s.key(t, "k")
	s.mustSet(t, b, k, []byte("original"))
	got, _, _, err := g.GetWithTTL(s.ctx(t), k)
	if err != nil {
		t.Fatalf("GetWithTTL(%q): %v", k, err)
	}
	for i := range got {
		got[i] = 'X'
	}
	s.mustGetWithTTL(t, g, k, []byte("original"))
}

func (s *suite) testGetWithTTLCancelled(t *testing.T, b backend.Backend) {
	g := asTTLGetter(t, b)
	k := s.key(t, "k")
	s.mustSet(t, b, k, []byte("v"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var err error
	within(t, promptly, "GetWithTTL with a cancelled context", func() { _, _, _, err = g.GetWithTTL(ctx, k) })
	if err == nil {
		t.Errorf("GetWithTTL with a cancelled context succeeded, want an error")
	} else if !errors.Is(err, context.Canceled) {
		t.Errorf("GetWithTTL with a cancelled context: error %v does not match context.Canceled", err)
	}
	dctx, dcancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer dcancel()
	within(t, promptly, "GetWithTTL with an expired deadline", func() { _, _, _, err = g.GetWithTTL(dctx, k) })
	if kind := backend.KindOf(err); err == nil || kind != backend.Timeout {
		t.Errorf("GetWithTTL with an expired deadline = %v (kind %v), want a timeout error", err, kind)
	}
}

package backendtest

import (
	"context"
	"errors"
	"testing"

	"github.com/cachekit-go/cachekit/backend"
)

func (s *suite) prefixDeleter(t *testing.T) {
	s.capability(t, "PrefixDeleter", "backend.PrefixDeleter", func(b backend.Backend) bool {
		_, ok := b.(backend.PrefixDeleter)
		return ok
	}, []check{
		{"Deletes", s.testPrefixDeletes},
		{"GlobCharacters", s.testPrefixGlob},
		{"EmptyPrefix", s.testPrefixEmpty},
		{"KeepsLocks", s.testPrefixKeepsLocks},
		{"CancelledContext", s.testPrefixCancelled},
	})
}

// asPrefixDeleter returns b's PrefixDeleter; the caller has checked that it
// is one.
func asPrefixDeleter(t *testing.T, b backend.Backend) backend.PrefixDeleter {
	t.Helper()
	pd, ok := b.(backend.PrefixDeleter)
	if !ok {
		t.Fatalf("newBackend returned a %T that is not a backend.PrefixDeleter, although an earlier one was", b)
	}
	return pd
}

// mustDeletePrefix asserts DeletePrefix(prefix) == (want, nil).
func (s *suite) mustDeletePrefix(t *testing.T, pd backend.PrefixDeleter, prefix string, want int) {
	t.Helper()
	n, err := pd.DeletePrefix(s.ctx(t), prefix)
	if err != nil || n != want {
		t.Fatalf("DeletePrefix(%q) = (%d, %v), want (%d, nil)", prefix, n, err, want)
	}
}

// testPrefixOutcome stores inside and outside, deletes prefix and checks
// that exactly the inside keys are gone and counted.
func (s *suite) testPrefixOutcome(t *testing.T, b backend.Backend, prefix string, inside, outside []string) {
	t.Helper()
	pd := asPrefixDeleter(t, b)
	for i, k := range inside {
		if i == 0 {
			// An entry without expiry is removed as well.
			s.setForever(t, b, k, []byte("in"))
		} else {
			s.mustSet(t, b, k, []byte("in"))
		}
	}
	for _, k := range outside {
		s.mustSet(t, b, k, []byte("out:"+k))
	}
	s.mustDeletePrefix(t, pd, prefix, len(inside))
	for _, k := range inside {
		s.mustMiss(t, b, k)
	}
	for _, k := range outside {
		s.mustGet(t, b, k, []byte("out:"+k))
	}
	// Nothing is left to delete.
	s.mustDeletePrefix(t, pd, prefix, 0)
}

func (s *suite) testPrefixDeletes(t *testing.T, b backend.Backend) {
	base := s.key(t, "")
	prefix := base + "ns:app:func:f:args:"
	inside := []string{prefix + "1", prefix + "2:1s", prefix + "deeper:x:y"}
	outside := []string{
		base + "ns:app:func:f:args",     // the prefix without its last byte
		base + "ns:app:func:f:argsX:1",  // shares a shorter prefix
		base + "ns:app:func:ff:args:1",  // another function, longer name
		base + "ns:app:func:g:args:1",   // another function
		base + "x" + prefix[len(base):], // the prefix inside, not at the start
	}
	// More keys than one small batch, so batching backends loop.
	for i := range 150 {
		inside = append(inside, prefix+"many:"+string(rune('a'+i%26))+string(rune('a'+i/26)))
	}
	s.testPrefixOutcome(t, b, prefix, inside, outside)
}

func (s *suite) testPrefixGlob(t *testing.T, b backend.Backend) {
	if s.cfg.plainKeys {
		t.Skip("not implemented: the backend takes plain keys only (WithPlainKeys), which have no glob characters")
	}
	base := s.key(t, "")
	// Each metacharacter must match only itself: a store that passes the
	// prefix to a glob or regexp unescaped deletes the outside keys too.
	for _, tc := range []struct{ name, meta string }{
		{"star", "*"}, {"question", "?"}, {"class", "[ab]"}, {"backslash", `\`},
		{"open", "["}, {"close", "]"}, {"dot", "."}, {"percent", "%"},
		{"underscore", "_"}, {"anchors", "^$"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := base + "g" + tc.meta + ":"
			s.testPrefixOutcome(t, b, p,
				[]string{p + "1", p + "2"},
				[]string{base + "gX:1", base + "ga:1", base + "g:1", base + `g\` + tc.meta + ":1", base + "gab]:1"})
		})
	}
}

func (s *suite) testPrefixEmpty(t *testing.T, b backend.Backend) {
	pd := asPrefixDeleter(t, b)
	k := s.key(t, "survivor")
	s.mustSet(t, b, k, []byte("kept"))
	n, err := pd.DeletePrefix(s.ctx(t), "")
	if err == nil || n != 0 {
		t.Fatalf(`DeletePrefix("") = (%d, %v), want (0, an error): an empty prefix must never wipe the store`, n, err)
	}
	if !errors.Is(err, backend.ErrEmptyPrefix) {
		t.Errorf(`DeletePrefix("") error %v does not match backend.ErrEmptyPrefix`, err)
	}
	s.mustGet(t, b, k, []byte("kept"))
}

func (s *suite) testPrefixKeepsLocks(t *testing.T, b backend.Backend) {
	pd := asPrefixDeleter(t, b)
	l, ok := b.(backend.Locker)
	if !ok {
		t.Skip("not implemented: the backend is no backend.Locker, so there are no locks to keep")
	}
	prefix := s.key(t, "p:")
	k, bare := prefix+"1", prefix+"bare"
	s.mustSet(t, b, k, []byte("v"))
	id := s.mustAcquire(t, l, k, lockHold)
	bareID := s.mustAcquire(t, l, bare, lockHold)
	s.mustDeletePrefix(t, pd, prefix, 1)
	s.mustMiss(t, b, k)
	// The locks are still held by their holders.
	s.mustBeHeld(t, l, k)
	s.mustBeHeld(t, l, bare)
	s.mustRelease(t, l, k, id, true)
	s.mustRelease(t, l, bare, bareID, true)
}

func (s *suite) testPrefixCancelled(t *testing.T, b backend.Backend) {
	pd := asPrefixDeleter(t, b)
	prefix := s.key(t, "p:")
	k := prefix + "kept"
	s.mustSet(t, b, k, []byte("kept"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var (
		n   int
		err error
	)
	within(t, promptly, "DeletePrefix with a cancelled context", func() { n, err = pd.DeletePrefix(ctx, prefix) })
	if err == nil || n != 0 {
		t.Fatalf("DeletePrefix with a cancelled context = (%d, %v), want (0, an error)", n, err)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("DeletePrefix with a cancelled context: error %v does not match context.Canceled (wrap ctx.Err() with %%w)", err)
	}
	s.mustGet(t, b, k, []byte("kept"))
}

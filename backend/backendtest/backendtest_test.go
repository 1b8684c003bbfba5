package backendtest_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/backend"
	"github.com/cachekit-go/cachekit/backend/backendtest"
)

// TestMemBackend runs the whole suite against the example's in-memory backend,
// which implements every capability.
func TestMemBackend(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backend.Backend { return NewMemBackend() })
}

// TestMemBackendWithLimits runs it with every option set, as a store with
// limits would.
func TestMemBackendWithLimits(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backend.Backend { return NewMemBackend() },
		backendtest.WithMaxValueSize(64<<10),
		backendtest.WithMaxKeyLength(250),
		backendtest.WithTTLResolution(500*time.Millisecond),
		backendtest.WithKeyPrefix("limits:"),
		backendtest.WithPlainKeys(),
		backendtest.WithOpTimeout(5*time.Second),
	)
}

// coreOnly hides every optional capability of MemBackend.
type coreOnly struct{ m *MemBackend }

func (c coreOnly) Get(ctx context.Context, k string) ([]byte, bool, error) { return c.m.Get(ctx, k) }
func (c coreOnly) Set(ctx context.Context, k string, v []byte, ttl time.Duration) error {
	return c.m.Set(ctx, k, v, ttl)
}
func (c coreOnly) Delete(ctx context.Context, k string) (bool, error) { return c.m.Delete(ctx, k) }
func (c coreOnly) Exists(ctx context.Context, k string) (bool, error) { return c.m.Exists(ctx, k) }
func (c coreOnly) HealthCheck(ctx context.Context) (bool, map[string]any) {
	return c.m.HealthCheck(ctx)
}

// TestCoreOnlyBackend checks that a backend without capabilities passes (the
// capability subtests are skipped with a message, never failed).
func TestCoreOnlyBackend(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backend.Backend { return coreOnly{NewMemBackend()} })
}

// Broken backends: each breaks one rule; the suite must fail on it.

type retainsSlice struct{ *MemBackend }

func (r retainsSlice) Set(_ context.Context, k string, v []byte, ttl time.Duration) error {
	r.store.mu.Lock()
	defer r.store.mu.Unlock()
	r.store.entries[k] = memEntry{value: v, expires: expiry(ttl)}
	return nil
}

type sharesGet struct{ *MemBackend }

func (s sharesGet) Get(_ context.Context, k string) ([]byte, bool, error) {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	e, ok := s.store.entries[k]
	return e.value, ok, nil
}

type deleteMissingFails struct{ *MemBackend }

func (d deleteMissingFails) Delete(ctx context.Context, k string) (bool, error) {
	ok, err := d.MemBackend.Delete(ctx, k)
	if err == nil && !ok {
		return false, errors.New("not found")
	}
	return ok, err
}

type ignoresCtx struct{ *MemBackend }

func (i ignoresCtx) Set(_ context.Context, k string, v []byte, ttl time.Duration) error {
	return i.MemBackend.Set(context.Background(), k, v, ttl)
}

type neverExpires struct{ *MemBackend }

func (n neverExpires) Set(ctx context.Context, k string, v []byte, _ time.Duration) error {
	return n.MemBackend.Set(ctx, k, v, 0)
}

type releasesAny struct{ *MemBackend }

func (r releasesAny) ReleaseLock(_ context.Context, k, _ string) (bool, error) {
	r.store.mu.Lock()
	defer r.store.mu.Unlock()
	_, ok := r.store.locks[k]
	delete(r.store.locks, k)
	return ok, nil
}

type collidingKeys struct{ *MemBackend }

func (c collidingKeys) fix(k string) string { return strings.ReplaceAll(k, " ", "_") }
func (c collidingKeys) Get(ctx context.Context, k string) ([]byte, bool, error) {
	return c.MemBackend.Get(ctx, c.fix(k))
}
func (c collidingKeys) Set(ctx context.Context, k string, v []byte, ttl time.Duration) error {
	return c.MemBackend.Set(ctx, c.fix(k), v, ttl)
}

type returnsSelf struct{ *MemBackend }

func (r *returnsSelf) WithTimeout(time.Duration) backend.Backend { return r }

type wrongTimeoutKind struct{ *MemBackend }

func (w wrongTimeoutKind) WithTimeout(time.Duration) backend.Backend {
	return permanentErrors(w)
}

type permanentErrors struct{ *MemBackend }

func (p permanentErrors) Set(context.Context, string, []byte, time.Duration) error {
	return backend.NewError(backend.Permanent, "mem", "set", "", errors.New("always"))
}

type badHealth struct{ *MemBackend }

func (badHealth) HealthCheck(context.Context) (bool, map[string]any) {
	return true, map[string]any{backend.DetailBackendType: "mem", backend.DetailLatencyMS: 3}
}

type emptyPrefixWipes struct{ *MemBackend }

// DeletePrefix forgets to refuse "" (each subtest has its own store, so the
// wipe stays inside the failing subtest).
func (e emptyPrefixWipes) DeletePrefix(_ context.Context, prefix string) (int, error) {
	e.store.mu.Lock()
	defer e.store.mu.Unlock()
	n := 0
	for k := range e.store.entries {
		if strings.HasPrefix(k, prefix) {
			delete(e.store.entries, k)
			n++
		}
	}
	return n, nil
}

type prefixTooShort struct{ *MemBackend }

func (p prefixTooShort) DeletePrefix(ctx context.Context, prefix string) (int, error) {
	return p.MemBackend.DeletePrefix(ctx, prefix[:len(prefix)-1])
}

type prefixAsGlob struct{ *MemBackend }

func (p prefixAsGlob) DeletePrefix(ctx context.Context, prefix string) (int, error) {
	if i := strings.IndexAny(prefix, "*?["); i >= 0 {
		prefix = prefix[:i] // a glob wildcard matches anything from here
	}
	return p.MemBackend.DeletePrefix(ctx, prefix)
}

type staleRemaining struct{ *MemBackend }

// GetWithTTL reports the lifetime the entry was written with (here: always
// an hour) instead of what is left of it.
func (r staleRemaining) GetWithTTL(ctx context.Context, k string) ([]byte, time.Duration, bool, error) {
	v, _, found, err := r.MemBackend.GetWithTTL(ctx, k)
	if !found {
		return v, 0, found, err
	}
	return v, time.Hour, found, err
}

type ttlGetterServesExpired struct{ *MemBackend }

// GetWithTTL forgets to check the expiry.
func (g ttlGetterServesExpired) GetWithTTL(_ context.Context, k string) ([]byte, time.Duration, bool, error) {
	g.store.mu.Lock()
	defer g.store.mu.Unlock()
	e, ok := g.store.entries[k]
	if !ok {
		return nil, 0, false, nil
	}
	return append([]byte{}, e.value...), time.Second, true, nil
}

type brokenCase struct {
	newBackend func() backend.Backend
	subtest    string // the subtest of "contract" that must fail
}

var broken = map[string]brokenCase{
	"retainsSlice":           {func() backend.Backend { return retainsSlice{NewMemBackend()} }, "SetDoesNotRetainSlice"},
	"sharesGet":              {func() backend.Backend { return sharesGet{NewMemBackend()} }, "GetReturnsOwnedSlice"},
	"deleteMissingFails":     {func() backend.Backend { return deleteMissingFails{NewMemBackend()} }, "DeleteMissing"},
	"ignoresCtx":             {func() backend.Backend { return ignoresCtx{NewMemBackend()} }, "CancelledContext"},
	"neverExpires":           {func() backend.Backend { return neverExpires{NewMemBackend()} }, "TTLExpiry"},
	"releasesAny":            {func() backend.Backend { return releasesAny{NewMemBackend()} }, "Locker/WrongID"},
	"collidingKeys":          {func() backend.Backend { return collidingKeys{NewMemBackend()} }, "KeyVariety"},
	"returnsSelf":            {func() backend.Backend { return &returnsSelf{NewMemBackend()} }, "TimeoutSetter/NewInstance"},
	"wrongTimeoutKind":       {func() backend.Backend { return wrongTimeoutKind{NewMemBackend()} }, "TimeoutSetter/TinyTimeout"},
	"badHealth":              {func() backend.Backend { return badHealth{NewMemBackend()} }, "HealthCheck"},
	"emptyPrefixWipes":       {func() backend.Backend { return emptyPrefixWipes{NewMemBackend()} }, "PrefixDeleter/EmptyPrefix"},
	"prefixTooShort":         {func() backend.Backend { return prefixTooShort{NewMemBackend()} }, "PrefixDeleter/Deletes"},
	"prefixAsGlob":           {func() backend.Backend { return prefixAsGlob{NewMemBackend()} }, "PrefixDeleter/GlobCharacters"},
	"staleRemaining":         {func() backend.Backend { return staleRemaining{NewMemBackend()} }, "TTLGetter/Remaining"},
	"ttlGetterServesExpired": {func() backend.Backend { return ttlGetterServesExpired{NewMemBackend()} }, "TTLGetter/Expired"},
}

const brokenEnv = "BACKENDTEST_BROKEN"

// TestBrokenHelper runs the suite against the broken backend named by
// $BACKENDTEST_BROKEN; TestBrokenBackends starts it in a child process and
// expects it to fail.
func TestBrokenHelper(t *testing.T) {
	name := os.Getenv(brokenEnv)
	if name == "" {
		t.Skip("helper for TestBrokenBackends, runs only in its child process")
	}
	c, ok := broken[name]
	if !ok {
		t.Fatalf("unknown broken backend %q", name)
	}
	backendtest.Run(t, func(t *testing.T) backend.Backend { return c.newBackend() })
}

// TestBrokenBackends checks that the suite catches each broken rule: run
// against a backend that breaks it, the matching subtest must fail.
func TestBrokenBackends(t *testing.T) {
	t.Parallel()
	for name, c := range broken {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			pattern := "^TestBrokenHelper$/^contract$"
			for part := range strings.SplitSeq(c.subtest, "/") {
				pattern += "/^" + part + "$"
			}
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run", pattern, "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), brokenEnv+"="+name)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				t.Fatalf("suite against %s: want a failing exit, got %v\n%s", name, err, out)
			}
			want := "--- FAIL: TestBrokenHelper/contract/" + c.subtest + " "
			if !strings.Contains(string(out), want) {
				t.Fatalf("suite against %s: output lacks %q\n%s", name, want, out)
			}
		})
	}
}

package cachekit

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/backend/cachekitio"
	"github.com/cachekit-go/cachekit/backend/file"
	"github.com/cachekit-go/cachekit/backend/memory"
	"github.com/cachekit-go/cachekit/backend/redis"
	"github.com/cachekit-go/cachekit/internal/testenv"
)

func namedFunc(_ context.Context, n int) (int, error) { return n, nil }

func genericFunc[T any](_ context.Context, v T) (T, error) { return v, nil }

type store struct{}

func (*store) Get(_ context.Context, n int) (int, error) { return n, nil }

func TestIdentity(t *testing.T) {
	t.Parallel()
	c, _ := New(quiet())
	s := &store{}
	closure := func(_ context.Context, n int) (int, error) { return n, nil }
	tests := []struct {
		name    string
		fn      func(context.Context, int) (int, error)
		opts    []FuncOption
		want    string
		wantErr error
	}{
		{"named function", namedFunc, nil, "github.com/cachekit-go/cachekit.namedFunc", nil},
		{"explicit name", namedFunc, []FuncOption{Name("users.get")}, "users.get", nil},
		{"closure", closure, nil, "", ErrUnnamedFunction},
		{"named closure", closure, []FuncOption{Name("c")}, "c", nil},
		{"method value", s.Get, nil, "", ErrUnnamedFunction},
		{"generic function", genericFunc[int], nil, "", ErrUnnamedFunction},
		{"closure in interop mode", closure, []FuncOption{Interop("ns", "op")}, "<unnamed>", nil},
		{"nil function", nil, []FuncOption{Name("x")}, "", ErrInvalidOption},
		{"bad interop name", namedFunc, []FuncOption{Interop("Bad NS", "op")}, "", ErrInvalidOption},
		{"bad ratio", namedFunc, []FuncOption{StaleWhileRevalidate(1.5)}, "", ErrInvalidOption},
		{"bad ttl", namedFunc, []FuncOption{TTL(-time.Second)}, "", ErrInvalidOption},
	}
	for _, tt := range tests {
		f, err := Wrap1(c, tt.fn, tt.opts...)
		if tt.wantErr != nil {
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("%s: err %v, want %v", tt.name, err, tt.wantErr)
			}
			continue
		}
		if err != nil || f.Name() != tt.want {
			t.Errorf("%s: %v, identity %q want %q", tt.name, err, f.Name(), tt.want)
		}
	}
	if mv, err := Wrap1(c, s.Get, Name("store.get")); err != nil || mv.Name() != "store.get" {
		t.Errorf("named method value: %v", err)
	}
	var ie *IdentityError
	_, err := Wrap1(c, closure)
	if !errors.As(err, &ie) || !strings.Contains(err.Error(), "cachekit.Name") {
		t.Errorf("closure error should ask for Name: %v", err)
	}
	defer func() {
		if recover() == nil {
			t.Error("MustWrap1 of a closure did not panic")
		}
	}()
	MustWrap1(c, closure)
}

func TestWrappersOfEveryArity(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, _ := New(quiet())
	calls := 0
	f0 := MustWrap0(c, func(context.Context) (int, error) { calls++; return 0, nil }, Name("a0"))
	f2 := MustWrap2(c, func(_ context.Context, a, b int) (int, error) { calls++; return a + b, nil }, Name("a2"))
	f3 := MustWrap3(c, func(_ context.Context, a, b, c int) (int, error) { calls++; return a + b + c, nil }, Name("a3"))
	f4 := MustWrap4(c, func(_ context.Context, a, b, c int, d string) (string, error) { calls++; return d, nil }, Name("a4"))
	for range 2 {
		_, _ = f0.Call(ctx)
		if v, _ := f2.Fn()(ctx, 1, 2); v != 3 {
			t.Fatal(v)
		}
		if v, _ := f3.Call(ctx, 1, 2, 3); v != 6 {
			t.Fatal(v)
		}
		if v, _ := f4.Call(ctx, 1, 2, 3, "x"); v != "x" {
			t.Fatal(v)
		}
	}
	if calls != 4 {
		t.Fatalf("%d calls, want 4", calls)
	}
	k1, _ := f2.Key(1, 2)
	k2, _ := f2.Key(2, 1)
	if k1 == k2 || !strings.HasPrefix(k1, "func:a2:args:") || !strings.HasSuffix(k1, ":1s") {
		t.Fatalf("keys %q %q", k1, k2)
	}
	_ = f3.Invalidate(ctx, 1, 2, 3)
	_, _ = f3.Call(ctx, 1, 2, 3)
	if calls != 5 {
		t.Fatal("Invalidate of a 3-argument call did not remove it")
	}
}

func TestFromEnvBackendResolution(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		env      map[string]string
		opts     []Option
		wantErr  error
		wantVars []string
		backend  bool
	}{
		{"nothing set", nil, nil, nil, nil, false},
		{"empty values are unset", map[string]string{EnvRedisURL: " ", EnvAPIKey: ""}, nil, nil, nil, false},
		{"two backends", map[string]string{EnvAPIKey: "ck_test_x", EnvRedisURLFallback: "redis://127.0.0.1:1"}, nil,
			ErrConflictingBackends, []string{EnvAPIKey, EnvRedisURLFallback}, false},
		{"three backends", map[string]string{EnvMemcachedServers: "127.0.0.1:1", EnvFileCacheDir: "/tmp/x", EnvRedisURL: "redis://127.0.0.1:1"}, nil,
			ErrConflictingBackends, []string{EnvRedisURL, EnvMemcachedServers, EnvFileCacheDir}, false},
		{"explicit backend wins", map[string]string{EnvAPIKey: "ck_test_x", EnvRedisURL: "redis://127.0.0.1:1"},
			[]Option{WithBackend(memory.New(memory.Options{}))}, nil, nil, true},
		{"bad default TTL", map[string]string{EnvDefaultTTL: "soon"}, nil, ErrConfig, []string{EnvDefaultTTL}, false},
		{"negative default TTL", map[string]string{EnvDefaultTTL: "-5"}, nil, ErrConfig, []string{EnvDefaultTTL}, false},
		{"bad max value size", map[string]string{EnvMaxValueSize: "0"}, nil, ErrConfig, []string{EnvMaxValueSize}, false},
		{"memcached bad servers", map[string]string{EnvMemcachedServers: "host:99999"}, nil, ErrConfig, []string{EnvMemcachedServers}, false},
		// Redis down at start is no error (the backend connects in the
		// background); a malformed URL is.
		{"redis down at start", map[string]string{EnvRedisURL: "redis://127.0.0.1:1"}, nil, nil, nil, true},
		{"bad redis URL", map[string]string{EnvRedisURL: "redis://127.0.0.1:notaport"}, nil, ErrConfig, []string{EnvRedisURL}, false},
	}
	for _, tt := range tests {
		c, err := fromEnv(mapEnv(tt.env), append([]Option{quiet()}, tt.opts...)...)
		if tt.wantErr != nil {
			var ce *ConfigError
			if !errors.Is(err, tt.wantErr) || !errors.As(err, &ce) {
				t.Errorf("%s: err %v, want %v", tt.name, err, tt.wantErr)
				continue
			}
			if strings.Join(ce.Vars, ",") != strings.Join(tt.wantVars, ",") {
				t.Errorf("%s: error names %v, want %v", tt.name, ce.Vars, tt.wantVars)
			}
			for _, v := range tt.wantVars {
				if !strings.Contains(err.Error(), v) {
					t.Errorf("%s: message %q does not name %s", tt.name, err, v)
				}
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if (c.Backend() != nil) != tt.backend {
			t.Errorf("%s: backend %T", tt.name, c.Backend())
		}
		_ = c.Close()
	}
	c, err := fromEnv(mapEnv(map[string]string{EnvDefaultTTL: "1.5m", EnvMaxValueSize: "1024", EnvNamespace: "app"}), quiet())
	if err != nil {
		t.Fatal(err)
	}
	if c.ttl != 90*time.Second || c.cfg.maxValueSize != 1024 || c.cfg.namespace != "app" {
		t.Fatalf("ttl %v max %d ns %q", c.ttl, c.cfg.maxValueSize, c.cfg.namespace)
	}
	if c2, _ := fromEnv(mapEnv(map[string]string{EnvDefaultTTL: "300"}), WithTTL(time.Second)); c2.ttl != time.Second {
		t.Fatal("an explicit WithTTL must win over CACHEKIT_DEFAULT_TTL")
	}
}

func TestFromEnvRedis(t *testing.T) {
	addr := testenv.Require(t, "CACHEKIT_TEST_REDIS_ADDR")
	t.Parallel()
	for _, name := range []string{EnvRedisURL, EnvRedisURLFallback} {
		c, err := fromEnv(mapEnv(map[string]string{name: "redis://" + addr}), quiet())
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, ok := c.Backend().(*redis.Backend); !ok {
			t.Fatalf("%s: backend %T", name, c.Backend())
		}
		v, err := Load(context.Background(), c, uniq(t), func(context.Context) (int, error) { return 7, nil })
		if err != nil || v != 7 {
			t.Fatalf("%s: %v %v", name, v, err)
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestFromEnvFile(t *testing.T) {
	t.Parallel()
	c, err := fromEnv(mapEnv(map[string]string{EnvFileCacheDir: t.TempDir()}), quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, ok := c.Backend().(*file.Backend); !ok {
		t.Fatalf("backend %T", c.Backend())
	}
	ctx := context.Background()
	if err := c.Set(ctx, "k", "v", time.Minute); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.Backend().Exists(ctx, "k"); !ok {
		t.Fatal("entry not written to the file backend")
	}
}

func TestPresetsAndOverrides(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		opts  []Option
		check func(*Cache) bool
	}{
		{"minimal", []Option{Minimal()}, func(c *Cache) bool { return !c.cfg.integrity && c.l1 != nil }},
		{"minimal then integrity", []Option{Minimal(), WithIntegrity(true)}, func(c *Cache) bool { return c.cfg.integrity }},
		{"production", []Option{Production()}, func(c *Cache) bool { return c.cfg.backendTimeout == ProductionBackendTimeout }},
		{"production then timeout", []Option{Production(), WithBackendTimeout(time.Second)}, func(c *Cache) bool { return c.cfg.backendTimeout == time.Second }},
		{"dev", []Option{Dev(), quiet()}, func(c *Cache) bool { return c.ttl == time.Minute }},
		{"dev then ttl", []Option{Dev(), WithTTL(time.Hour)}, func(c *Cache) bool { return c.ttl == time.Hour }},
		{"test", []Option{Test()}, func(c *Cache) bool { _, ok := c.Backend().(*memory.Backend); return ok && c.cfg.jitter == 0 }},
		{"test then no backend", []Option{Test(), WithBackend(nil)}, func(c *Cache) bool { return c.Backend() == nil }},
		{"minimal then l1 off", []Option{Minimal(), WithL1(false)}, func(c *Cache) bool { return c.l1 == nil }},
	}
	for _, tt := range tests {
		c, err := New(tt.opts...)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if !tt.check(c) {
			t.Errorf("%s: configuration not applied", tt.name)
		}
		_ = c.Close()
	}
	if _, err := New(Secure()); !errors.Is(err, ErrEncryptionRequired) || !errors.Is(err, ErrConfig) {
		t.Errorf("Secure without a key: %v", err)
	}
	if _, err := New(IO()); !errors.Is(err, ErrConfig) {
		t.Errorf("IO without CACHEKIT_API_KEY: %v", err)
	}
}

func TestInvalidOptions(t *testing.T) {
	t.Parallel()
	for i, o := range []Option{WithL1Size(0), WithTTL(-2), WithMaxValueSize(-1), WithStaleWhileRevalidate(1),
		WithLoaderTimeout(0), WithBackendTimeout(-1), WithL1MaxTTL(0)} {
		if _, err := New(o); !errors.Is(err, ErrInvalidOption) {
			t.Errorf("option %d: %v", i, err)
		}
	}
	c, _ := New(quiet())
	if err := c.Set(context.Background(), "k", 1, -5); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("Set with negative TTL: %v", err)
	}
	if _, err := Load(context.Background(), c, "k", func(context.Context) (int, error) { return 1, nil }, TTL(-3)); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("Load with bad option: %v", err)
	}
}

// Bytes written by Python's default (integrity-off) decorator and by this
// package with integrity on are read by either configuration.
func TestReadsEitherIntegrityMode(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := memory.New(memory.Options{})
	on, _ := New(WithBackend(b), quiet())
	off, _ := New(WithBackend(b), WithIntegrity(false), quiet())
	if err := off.Set(ctx, "raw", []int{1, 2}, 0); err != nil {
		t.Fatal(err)
	}
	if err := on.Set(ctx, "env", []int{3}, 0); err != nil {
		t.Fatal(err)
	}
	on2, _ := New(WithBackend(b), quiet())
	off2, _ := New(WithBackend(b), WithIntegrity(false), quiet())
	if v, ok, err := Get[[]int](ctx, on2, "raw"); err != nil || !ok || v[1] != 2 {
		t.Fatalf("integrity-on reader of raw entry: %v %v %v", v, ok, err)
	}
	if v, ok, err := Get[[]int](ctx, off2, "env"); err != nil || !ok || v[0] != 3 {
		t.Fatalf("integrity-off reader of enveloped entry: %v %v %v", v, ok, err)
	}
}

// A corrupt stored entry is a miss that gets overwritten.
func TestCorruptEntryIsAMiss(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := memory.New(memory.Options{})
	c, _ := New(WithBackend(b), quiet())
	f := MustWrap1(c, namedFunc)
	k, _ := f.Key(5)
	_ = b.Set(ctx, k, []byte("CK\x03garbage"), 0)
	if v, err := f.Call(ctx, 5); err != nil || v != 5 {
		t.Fatalf("%v %v", v, err)
	}
	if f.Info().DecodeErrors != 1 {
		t.Fatalf("info %+v", f.Info())
	}
	flushBackend(t, b)
	stored, _, _ := b.Get(ctx, k)
	if !strings.HasPrefix(string(stored), "CK\x03\x00") {
		t.Fatal("corrupt entry not overwritten")
	}
}

// statsBackend records the statistics function a cache attaches (the hook
// the CacheKit API backend uses for its metrics headers).
type statsBackend struct {
	*memory.Backend
	stats func() cachekitio.Stats
}

func (s *statsBackend) AttachStats(f func() cachekitio.Stats) { s.stats = f }

func TestAttachesStatsToBackend(t *testing.T) {
	t.Parallel()
	sb := &statsBackend{Backend: memory.New(memory.Options{})}
	c, _ := New(WithBackend(sb), quiet())
	if sb.stats == nil {
		t.Fatal("stats not attached")
	}
	f := MustWrap1(c, namedFunc)
	_, _ = f.Call(context.Background(), 1)
	_, _ = f.Call(context.Background(), 1)
	if s := sb.stats(); s.Misses != 1 || s.L1Hits != 1 || s.L1Status != "miss" {
		t.Fatalf("stats %+v", s)
	}
}

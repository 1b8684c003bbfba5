package cachekit

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/backend"
	"github.com/cachekit-go/cachekit/backend/file"
	"github.com/cachekit-go/cachekit/backend/memcached"
	"github.com/cachekit-go/cachekit/backend/memory"
	"github.com/cachekit-go/cachekit/backend/redis"
	"github.com/cachekit-go/cachekit/internal/clock"
	"github.com/cachekit-go/cachekit/internal/testenv"
)

// logRecorder is a slog.Handler counting records by message.
type logRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	line := rec.Message
	rec.Attrs(func(a slog.Attr) bool { line += " " + a.String(); return true })
	r.msgs = append(r.msgs, line)
	return nil
}
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *logRecorder) WithGroup(string) slog.Handler      { return r }

func (r *logRecorder) count(substr string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range r.msgs {
		if strings.Contains(m, substr) {
			n++
		}
	}
	return n
}

func (r *logRecorder) all() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.msgs, "\n")
}

func quiet() Option { return WithLogger(slog.New(slog.DiscardHandler)) }

// faulty wraps a backend and fails the operations switched on (an injected
// fault: the one thing a real server cannot be made to do on demand).
type faulty struct {
	backend.Backend
	failGet, failSet, failDelete atomic.Bool
}

var errInjected = backend.NewError(backend.Transient, "faulty", "op", "", fmt.Errorf("injected fault"))

func (f *faulty) Get(ctx context.Context, key string) ([]byte, bool, error) {
	if f.failGet.Load() {
		return nil, false, errInjected
	}
	return f.Backend.Get(ctx, key)
}

func (f *faulty) Set(ctx context.Context, key string, v []byte, ttl time.Duration) error {
	if f.failSet.Load() {
		return errInjected
	}
	return f.Backend.Set(ctx, key, v, ttl)
}

func (f *faulty) Delete(ctx context.Context, key string) (bool, error) {
	if f.failDelete.Load() {
		return false, errInjected
	}
	return f.Backend.Delete(ctx, key)
}

// counter is a function to wrap that counts its calls and returns a value
// derived from its argument and a version the test can bump.
type counter struct {
	calls   atomic.Int32
	version atomic.Int32
}

func (c *counter) fn(_ context.Context, n int) (string, error) {
	c.calls.Add(1)
	return fmt.Sprintf("v%d:%d", c.version.Load(), n), nil
}

// caches is every Cache the tests made, by backend (testHookNewCache).
var caches struct {
	sync.Mutex
	by map[backend.Backend][]*Cache
}

func init() {
	caches.by = map[backend.Backend][]*Cache{}
	testHookNewCache = func(c *Cache) {
		if c.be == nil {
			return
		}
		caches.Lock()
		caches.by[c.be] = append(caches.by[c.be], c)
		caches.Unlock()
	}
}

// flushBackend waits until the background writes of every cache over b
// have landed, for tests that read b directly after a call.
func flushBackend(t *testing.T, b backend.Backend) {
	t.Helper()
	caches.Lock()
	cs := append([]*Cache(nil), caches.by[b]...)
	caches.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, c := range cs {
		if err := c.Flush(ctx); err != nil {
			t.Fatalf("flushing the write-behind queue: %v", err)
		}
	}
}

// testReadBudget is the read budget of the caches of behaviour tests: they
// run in parallel under -race on busy machines, where a healthy local
// backend can take longer than DefaultLocalReadBudget, and a read that runs
// out of its budget is a miss (the tests that assert budgets set their
// own).
const testReadBudget = 5 * time.Second

// newTestCache returns a quiet cache over b (nil: in-process only) with
// opts, closed when the test ends.
func newTestCache(t *testing.T, b backend.Backend, opts ...Option) *Cache {
	t.Helper()
	c, err := New(append([]Option{WithBackend(b), quiet(), WithReadBudget(testReadBudget)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// wrapCounter wraps cnt.fn in c.
func wrapCounter(t *testing.T, c *Cache, cnt *counter, opts ...FuncOption) *Func1[int, string] {
	t.Helper()
	f, err := Wrap1(c, cnt.fn, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// backendKind names a way to build the backend of a suite run.
type backendKind struct {
	name string
	make func(t *testing.T) backend.Backend // nil result: in-process only
}

func memoryKind() backendKind {
	return backendKind{"memory", func(*testing.T) backend.Backend { return memory.New(memory.Options{}) }}
}

func l1OnlyKind() backendKind {
	return backendKind{"l1-only", func(*testing.T) backend.Backend { return nil }}
}

func redisKind() backendKind {
	return backendKind{"redis", func(t *testing.T) backend.Backend {
		addr := testenv.Require(t, "CACHEKIT_TEST_REDIS_ADDR")
		b, err := redis.NewFromURL("redis://" + addr)
		if err != nil {
			t.Fatalf("redis: %v", err)
		}
		t.Cleanup(b.Close)
		return b
	}}
}

func fileKind() backendKind {
	return backendKind{"file", func(t *testing.T) backend.Backend {
		b, err := file.New(file.Options{Dir: t.TempDir()})
		if err != nil {
			t.Fatalf("file: %v", err)
		}
		return b
	}}
}

func memcachedKind() backendKind {
	return backendKind{"memcached", func(t *testing.T) backend.Backend {
		servers, err := memcached.ParseServers(testenv.Require(t, "CACHEKIT_TEST_MEMCACHED_SERVERS"))
		if err != nil {
			t.Fatal(err)
		}
		b, err := memcached.New(memcached.Options{Servers: servers})
		if err != nil {
			t.Fatalf("memcached: %v", err)
		}
		t.Cleanup(func() { _ = b.Close() })
		return b
	}}
}

func allKinds() []backendKind {
	return []backendKind{l1OnlyKind(), memoryKind(), fileKind(), redisKind(), memcachedKind(), cachekitioKind()}
}

// uniq returns a name unique to the test (keys must not collide on a shared
// Redis across runs and parallel tests).
var uniqSeq atomic.Int64

func uniq(t *testing.T) string {
	return fmt.Sprintf("%s.%d.%d", strings.NewReplacer("/", ".", " ", "_").Replace(t.Name()), time.Now().UnixNano(), uniqSeq.Add(1))
}

func fakeClock() *clock.Fake { return clock.NewFake(time.Unix(1_750_000_000, 0)) }

// eventually polls cond (for background work such as refreshes); it is not
// a timing assertion: the deadline is generous and only bounds a hang.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func slogNew(h slog.Handler) *slog.Logger { return slog.New(h) }

func hexOf(b []byte) string { return fmt.Sprintf("%x", b) }

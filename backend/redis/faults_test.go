//go:build unix

package redis_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/backend"
	"github.com/cachekit-go/cachekit/backend/redis"
	"github.com/cachekit-go/cachekit/internal/testenv"
)

// The tests in this file start their own redis-server processes, to kill,
// stop and replace them. Their time bounds are wide (a loaded, shared test
// machine); the figures they log are the measurement.

// newRedisProc prepares a private redis-server without starting it.
func newRedisProc(t *testing.T, args ...string) *testenv.Process {
	t.Helper()
	return testenv.NewProcess(t, "redis-server", append([]string{"--port", "{port}", "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", "{dir}", "--loglevel", "warning"}, args...)...)
}

// timed runs fn and returns how long it took.
func timed(fn func()) time.Duration {
	start := time.Now()
	fn()
	return time.Since(start)
}

// untilOK polls op until it succeeds and returns how long that took, or
// fails the test after limit.
func untilOK(t *testing.T, limit time.Duration, what string, op func() error) time.Duration {
	t.Helper()
	start := time.Now()
	var err error
	for time.Since(start) < limit {
		if err = op(); err == nil {
			return time.Since(start)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s: still failing after %v: %v", what, limit, err)
	return 0
}

// get is one Get with its own deadline, timed.
func getFor(b *redis.Backend, d time.Duration, key string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var err error
	took := timed(func() { _, _, err = b.Get(ctx, key) })
	return took, err
}

// newOn returns a Backend for addr with the package defaults (no test
// timeout override: the defaults are what is under test).
func newOn(t *testing.T, addr string, o redis.Options) *redis.Backend {
	t.Helper()
	o.Addrs = []string{addr}
	b, err := redis.New(o)
	if err != nil {
		t.Fatalf("redis.New: %v", err)
	}
	t.Cleanup(b.Close)
	return b
}

// TestStartsWithoutServer: New succeeds while nothing listens, operations
// fail at once with a Transient ErrNotConnected, and the backend connects by
// itself once the server is up.
func TestStartsWithoutServer(t *testing.T) {
	t.Parallel()
	p := newRedisProc(t)
	var b *redis.Backend
	took := timed(func() { b = newOn(t, p.Addr(), redis.Options{}) })
	t.Logf("New with nothing listening: %v", took)
	if took > 3*time.Second {
		t.Errorf("New took %v with the server down", took)
	}
	if b.Client() != nil {
		t.Errorf("Client() = %v before any connection, want nil", b.Client())
	}
	for range 3 {
		took, err := getFor(b, 10*time.Second, "k")
		if !errors.Is(err, redis.ErrNotConnected) || backend.KindOf(err) != backend.Transient {
			t.Fatalf("Get before connecting: %v (kind %v), want a transient ErrNotConnected", err, backend.KindOf(err))
		}
		if took > time.Second {
			t.Errorf("Get before connecting took %v", took)
		}
	}
	healthy, details := b.HealthCheck(context.Background())
	if healthy || details[redis.DetailMode] != "standalone" || details[backend.DetailError] == nil {
		t.Errorf("HealthCheck before connecting = %v, %v", healthy, details)
	}
	p.Start()
	up := untilOK(t, 10*time.Second, "Set after the server came up", func() error {
		return b.Set(context.Background(), "k", []byte("v"), time.Minute)
	})
	t.Logf("first success %v after the server came up", up)
	if up > 5*time.Second {
		t.Errorf("connected %v after the server came up, want about a second", up)
	}
	if v, found, err := b.Get(context.Background(), "k"); err != nil || !found || string(v) != "v" {
		t.Fatalf("Get after connecting = %q, %v, %v", v, found, err)
	}
}

// TestBadCredentialsOnceReachable: New succeeds while the server is down;
// once it is up and refuses the password, operations say Authentication.
func TestBadCredentialsOnceReachable(t *testing.T) {
	t.Parallel()
	p := newRedisProc(t, "--requirepass", "the-right-one")
	b := newOn(t, p.Addr(), redis.Options{Password: "a-wrong-one"})
	p.Start()
	took := untilOK(t, 10*time.Second, "an Authentication error", func() error {
		_, _, err := b.Get(context.Background(), "k")
		if backend.KindOf(err) == backend.Authentication {
			return nil
		}
		return errors.New("not yet: " + errString(err))
	})
	t.Logf("Authentication reported %v after the server came up", took)
	_, _, err := b.Get(context.Background(), "k")
	if !errors.Is(err, backend.ErrAuthentication) || strings.Contains(err.Error(), "a-wrong-one") {
		t.Fatalf("Get with a wrong password: %v", err)
	}
	// A server reachable at New: the wrong password fails New itself.
	if _, err := redis.New(redis.Options{Addrs: []string{p.Addr()}, Password: "a-wrong-one"}); backend.KindOf(err) != backend.Authentication {
		t.Fatalf("New against a reachable server with a wrong password: %v, want an Authentication error", err)
	}
}

func errString(err error) string {
	if err == nil {
		return "no error"
	}
	return err.Error()
}

// TestBadURLFailsAtConstruction: a malformed URL is an error at once, also
// when nothing could be reached anyway.
func TestBadURLFailsAtConstruction(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"redis://localhost:notaport", "http://localhost:6379", "redis://h1:1,h2:2?cluster=false"} {
		if b, err := redis.NewFromURL(u); !errors.Is(err, redis.ErrInvalidURL) {
			if b != nil {
				b.Close()
			}
			t.Errorf("NewFromURL(%q) = %v, want ErrInvalidURL", u, err)
		}
	}
}

// TestKilledServerFailsFast: with the server killed, an operation fails in
// milliseconds instead of retrying until its 5 s timeout, and the backend is
// back soon after the server restarts.
func TestKilledServerFailsFast(t *testing.T) {
	t.Parallel()
	p := newRedisProc(t)
	p.Start()
	b := newOn(t, p.Addr(), redis.Options{}) // DefaultTimeout: 5 s
	if err := b.Set(context.Background(), "k", []byte("v"), time.Minute); err != nil {
		t.Fatalf("Set: %v", err)
	}
	p.Kill()
	var worst time.Duration
	for i := range 20 {
		took, err := getFor(b, time.Minute, "k")
		if err == nil || !backend.IsTransient(err) {
			t.Fatalf("Get %d on a killed server: %v, want a transient error", i, err)
		}
		worst = max(worst, took)
	}
	t.Logf("Get on a killed server: worst of 20 took %v", worst)
	if worst > time.Second {
		t.Errorf("Get on a killed server took %v, want milliseconds", worst)
	}
	p.Start()
	back := untilOK(t, 10*time.Second, "Set after the restart", func() error {
		return b.Set(context.Background(), "k", []byte("v2"), time.Minute)
	})
	t.Logf("first success %v after the restart", back)
	if back > 5*time.Second {
		t.Errorf("back %v after the restart, want about a second", back)
	}
}

// TestHungServerHonoursContext: a stopped server (SIGSTOP) costs an
// operation its context and no more, and the backend works again when the
// server resumes.
func TestHungServerHonoursContext(t *testing.T) {
	t.Parallel()
	p := newRedisProc(t)
	p.Start()
	b := newOn(t, p.Addr(), redis.Options{})
	if err := b.Set(context.Background(), "k", []byte("v"), time.Minute); err != nil {
		t.Fatalf("Set: %v", err)
	}
	p.Stop()
	silentFault(t, b, "on a stopped server", func() { p.Cont() })
}

// silentFault checks a backend whose server went silent: for 4 s (long
// enough for the silent connection to be dropped after ConnTimeout and
// redialed), every Get with a 300 ms context fails within its context plus a
// dial; after heal, Gets succeed again within seconds.
func silentFault(t *testing.T, b *redis.Backend, what string, heal func()) {
	t.Helper()
	const budget = 300 * time.Millisecond
	var worst time.Duration
	for end := time.Now().Add(4 * time.Second); time.Now().Before(end); {
		took, err := getFor(b, budget, "k")
		if err == nil {
			t.Fatalf("Get %s succeeded", what)
		}
		worst = max(worst, took)
	}
	t.Logf("Get with a %v context %s: worst %v", budget, what, worst)
	if worst > budget+redis.DefaultDialTimeout+time.Second {
		t.Errorf("Get with a %v context %s took %v", budget, what, worst)
	}
	heal()
	back := untilOK(t, 10*time.Second, "Get after the fault "+what+" ended", func() error {
		_, _, err := b.Get(context.Background(), "k")
		return err
	})
	t.Logf("first success %v after the fault %s ended", back, what)
	if back > 5*time.Second {
		t.Errorf("back %v after the fault %s ended", back, what)
	}
}

// blackhole listens on a free port, accepts connections and never answers.
func blackhole(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	return l.Addr().String()
}

// TestBlackholedServer: a listener that accepts and never answers costs New
// at most about a second, and each operation its context.
func TestBlackholedServer(t *testing.T) {
	t.Parallel()
	addr := blackhole(t)
	var b *redis.Backend
	took := timed(func() { b = newOn(t, addr, redis.Options{}) })
	t.Logf("New against a blackhole: %v", took)
	if took > 3*time.Second {
		t.Errorf("New against a blackhole took %v", took)
	}
	var worst time.Duration
	for range 10 {
		took, err := getFor(b, 300*time.Millisecond, "k")
		if err == nil {
			t.Fatal("Get against a blackhole succeeded")
		}
		worst = max(worst, took)
	}
	t.Logf("Get with a 300ms context against a blackhole: worst %v", worst)
	if worst > 2*time.Second {
		t.Errorf("Get against a blackhole took %v", worst)
	}
}

// gateProxy forwards TCP connections to target while open; closed, it
// forwards nothing in either direction (bytes wait, nothing is lost), like a
// network path that silently drops packets until it heals.
type gateProxy struct {
	mu   sync.Mutex
	open bool
	cond *sync.Cond
}

func startGateProxy(t *testing.T, target string) (*gateProxy, string) {
	t.Helper()
	g := &gateProxy{open: true}
	g.cond = sync.NewCond(&g.mu)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close(); g.set(true) })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				up, err := net.Dial("tcp", target)
				if err != nil {
					c.Close()
					return
				}
				go g.pipe(up, c)
				g.pipe(c, up)
			}()
		}
	}()
	return g, l.Addr().String()
}

func (g *gateProxy) set(open bool) {
	g.mu.Lock()
	g.open = open
	g.mu.Unlock()
	g.cond.Broadcast()
}

// pipe copies src to dst, holding every chunk while the gate is closed.
func (g *gateProxy) pipe(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		g.mu.Lock()
		for !g.open {
			g.cond.Wait()
		}
		g.mu.Unlock()
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// TestBlackholedConnection: a connection whose path goes silent costs each
// operation its context, the silent connection is dropped, and the backend
// is back soon after the path heals.
func TestBlackholedConnection(t *testing.T) {
	t.Parallel()
	p := newRedisProc(t)
	p.Start()
	g, addr := startGateProxy(t, p.Addr())
	b := newOn(t, addr, redis.Options{})
	if err := b.Set(context.Background(), "k", []byte("v"), time.Minute); err != nil {
		t.Fatalf("Set: %v", err)
	}
	g.set(false)
	silentFault(t, b, "through a blackholed path", func() { g.set(true) })
}

// TestGetWithTTLOneRoundTrip counts, on a private server, what one
// GetWithTTL costs Redis: one read event (one round trip) and two commands,
// GET and PTTL; Get followed by TTL costs two read events.
func TestGetWithTTLOneRoundTrip(t *testing.T) {
	t.Parallel()
	p := newRedisProc(t)
	p.Start()
	b := newOn(t, p.Addr(), redis.Options{})
	ctx := context.Background()
	if err := b.Set(ctx, "k", []byte(strings.Repeat("x", 1024)), time.Hour); err != nil {
		t.Fatalf("Set: %v", err)
	}
	c := b.Client()
	info := func() map[string]string {
		m := map[string]string{}
		for _, section := range []string{"stats", "commandstats"} {
			s, err := c.Do(ctx, c.B().Info().Section(section).Build()).ToString()
			if err != nil {
				t.Fatalf("INFO %s: %v", section, err)
			}
			for line := range strings.SplitSeq(s, "\r\n") {
				if k, v, ok := strings.Cut(line, ":"); ok {
					m[k] = v
				}
			}
		}
		return m
	}
	const n = 200
	count := func(name string, op func()) (reads, gets, pttls int) {
		if err := c.Do(ctx, c.B().ConfigResetstat().Build()).Error(); err != nil {
			t.Fatalf("CONFIG RESETSTAT: %v", err)
		}
		for range n {
			op()
		}
		m := info()
		reads, _ = strconv.Atoi(m["total_reads_processed"])
		calls := func(cmd string) int {
			v, _, _ := strings.Cut(strings.TrimPrefix(m["cmdstat_"+cmd], "calls="), ",")
			k, _ := strconv.Atoi(v)
			return k
		}
		t.Logf("%s x%d: %d read events (total_reads_processed), %d GET, %d PTTL", name, n, reads, calls("get"), calls("pttl"))
		return reads, calls("get"), calls("pttl")
	}
	reads, gets, pttls := count("GetWithTTL", func() {
		if v, rem, found, err := b.GetWithTTL(ctx, "k"); err != nil || !found || len(v) != 1024 || rem <= 0 {
			t.Fatalf("GetWithTTL = %d bytes, %v, %v, %v", len(v), rem, found, err)
		}
	})
	// The INFO that reads the figures is one more read event; allow a few.
	if reads > n+3 || gets != n || pttls != n {
		t.Errorf("%d GetWithTTL: %d read events, %d GET, %d PTTL; want %d, %d, %d", n, reads, gets, pttls, n, n, n)
	}
	reads, _, _ = count("Get then TTL", func() {
		_, _, _ = b.Get(ctx, "k")
		_, _, _ = b.TTL(ctx, "k")
	})
	if reads < 2*n {
		t.Errorf("Get then TTL: %d read events, want at least %d (the comparison is void)", reads, 2*n)
	}
}

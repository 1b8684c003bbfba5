package cachekit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/backend/redis"
	"github.com/cachekit-go/cachekit/internal/testenv"
	"github.com/cachekit-go/cachekit/internal/testenv/faultproxy"
)

// These tests put a real Redis behind a fault (a proxy that blackholes the
// connection, a closed port) and assert the bounds of the guarantee with
// wide margins: they are fault-injection tests, not timing tests of a
// healthy path.

func TestHungRedisMissReturnsTheFunctionsResult(t *testing.T) {
	addr := testenv.Require(t, "CACHEKIT_TEST_REDIS_ADDR")
	base := runtime.NumGoroutine()
	p, err := faultproxy.New(addr)
	if err != nil {
		t.Fatal(err)
	}
	b, err := redis.New(redis.Options{Addrs: []string{p.Addr()}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(WithBackend(b), WithL1(false), WithReadBudget(50*time.Millisecond), quiet())
	if err != nil {
		t.Fatal(err)
	}
	work := func(ctx context.Context, n int) (string, error) {
		time.Sleep(10 * time.Millisecond)
		return fmt.Sprint("v", n), nil
	}
	f := MustWrap1(c, work, Name(uniq(t)))
	ctx := context.Background()
	if _, err := f.Call(ctx, 0); err != nil { // healthy: connected and stored
		t.Fatal(err)
	}
	// Healthy long enough for reads to run inline (readInline): the first
	// reads against the hung server are made on the caller's goroutine, and
	// the failure must send the next ones (which may wait on rueidis's
	// reconnect) back to the bounded path.
	for end := time.Now().Add(healthyQuiet + 100*time.Millisecond); time.Now().Before(end); {
		if _, err := f.Call(ctx, 0); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !c.readInline() {
		t.Fatal("reads of a healthy Redis are not inline")
	}
	p.Blackhole() // Redis now never answers: a hung server
	var worst time.Duration
	for i := 1; i <= 20; i++ {
		start := time.Now()
		v, err := f.Call(ctx, i)
		worst = max(worst, time.Since(start))
		if err != nil || v != fmt.Sprint("v", i) {
			t.Fatalf("Call(%d) = %q, %v", i, v, err)
		}
	}
	t.Logf("20 misses against a hung Redis (50 ms budget, 10 ms function): slowest %v", worst)
	if worst > time.Second {
		t.Fatalf("a miss against a hung backend took %v (budget 50 ms)", worst)
	}
	r := c.Info().Resilience
	if r.Breaker != "open" || r.BudgetTimeouts == 0 || r.BreakerSkips == 0 {
		t.Fatalf("resilience %+v", r)
	}
	// A caller with a deadline gets the function's result, never the
	// deadline, when the function alone fits in it.
	f2 := MustWrap1(c, func(ctx context.Context, n int) (string, error) {
		time.Sleep(100 * time.Millisecond)
		return "slow", nil
	}, Name(uniq(t)))
	dctx, cancel := context.WithTimeout(ctx, 400*time.Millisecond)
	v, err := f2.Call(dctx, 1)
	cancel()
	if err != nil || v != "slow" {
		t.Fatalf("deadline call = %q, %v", v, err)
	}

	closeCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() {
		_ = c.Close()
		b.Close()
		_ = p.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-closeCtx.Done():
		t.Fatal("Close hung with a hung backend")
	}
	eventually(t, "goroutines back to baseline", func() bool { return runtime.NumGoroutine() <= base+2 })
}

// forward accepts connections on ln and pipes each to target.
func forward(ln net.Listener, target string) {
	for {
		in, err := ln.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", target)
		if err != nil {
			in.Close()
			continue
		}
		go func() { _, _ = io.Copy(out, in); out.Close() }()
		go func() { _, _ = io.Copy(in, out); in.Close() }()
	}
}

func TestFromEnvStartsWithRedisDown(t *testing.T) {
	addr := testenv.Require(t, "CACHEKIT_TEST_REDIS_ADDR")
	// A port nothing listens on yet: connections are refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := ln.Addr().String()
	ln.Close()
	rec := &logRecorder{}
	c, err := fromEnv(mapEnv(map[string]string{EnvRedisURL: "redis://" + down}), WithLogger(slogNew(rec)), WithL1(false))
	if err != nil {
		t.Fatalf("FromEnv with Redis down: %v", err)
	}
	defer c.Close()
	var cnt counter
	f := wrapCounter(t, c, &cnt, Name(uniq(t)))
	for i := range 10 {
		if v, err := f.Call(context.Background(), i); err != nil || v != fmt.Sprintf("v0:%d", i) {
			t.Fatalf("Call while Redis is down = %q, %v", v, err)
		}
	}
	if r := c.Info().Resilience; r.Breaker != "open" {
		t.Fatalf("breaker %q after 10 calls with the backend unreachable", r.Breaker)
	}
	// Redis comes up on that port.
	ln, err = net.Listen("tcp", down)
	if err != nil {
		t.Skipf("the port was taken meanwhile: %v", err)
	}
	defer ln.Close()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); forward(ln, addr) }()
	start := time.Now()
	eventually(t, "backend hits after Redis came up", func() bool {
		_, _ = f.Call(context.Background(), 2)
		_ = c.Flush(context.Background())
		return f.Info().L2Hits > 0
	})
	t.Logf("first backend hit %v after Redis came up", time.Since(start))
	if rec.count("circuit breaker opened") < 1 || rec.count("circuit breaker closed") < 1 {
		t.Fatalf("log:\n%s", rec.all())
	}
	_ = c.Close()
	ln.Close()
	wg.Wait()
}

func TestFromEnvBadRedisURLIsStillAnError(t *testing.T) {
	t.Parallel()
	_, err := fromEnv(mapEnv(map[string]string{EnvRedisURL: "redis://:bad:url"}), quiet())
	if !errors.Is(err, ErrConfig) {
		t.Fatalf("bad URL: %v", err)
	}
}

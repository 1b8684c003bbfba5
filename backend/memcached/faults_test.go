//go:build unix

package memcached

import (
	"context"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/backend"
	"github.com/cachekit-go/cachekit/internal/testenv"
	"github.com/cachekit-go/cachekit/internal/testenv/faultproxy"
)

// The tests in this file start their own memcached processes, to kill and
// stop them. Their bounds are wide (a loaded, shared test machine); the
// figures they log are the measurement.

// newMemcachedProc prepares a private memcached without starting it.
func newMemcachedProc(t *testing.T) *testenv.Process {
	t.Helper()
	args := []string{"-l", "127.0.0.1", "-p", "{port}", "-U", "0", "-m", "16", "-t", "1"}
	if os.Getuid() == 0 {
		args = append(args, "-u", "root") // memcached refuses root without it
	}
	return testenv.NewProcess(t, "memcached", args...)
}

// timedGet is one Get with its own deadline (0: none but the backend's
// Timeout), timed.
func timedGet(b *Backend, d time.Duration) (time.Duration, error) {
	ctx := context.Background()
	if d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	start := time.Now()
	_, _, err := b.Get(ctx, "k")
	return time.Since(start), err
}

// worstGet runs n Gets, all of which must fail, and returns the slowest.
func worstGet(t *testing.T, b *Backend, n int, d time.Duration, what string) time.Duration {
	t.Helper()
	var worst time.Duration
	for range n {
		took, err := timedGet(b, d)
		if err == nil {
			t.Fatalf("Get %s succeeded", what)
		}
		if !backend.IsTransient(err) {
			t.Fatalf("Get %s: %v, want a transient or timeout error", what, err)
		}
		worst = max(worst, took)
	}
	t.Logf("Get %s (context %v, Timeout %v): worst of %d %v", what, d, DefaultTimeout, n, worst)
	return worst
}

// backAfter polls Set until it succeeds and returns how long that took.
func backAfter(t *testing.T, b *Backend, what string) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		err := b.Set(context.Background(), "k", []byte("v"), time.Minute)
		if err == nil {
			took := time.Since(start)
			t.Logf("first success %v after %s", took, what)
			if took > 5*time.Second {
				t.Errorf("back %v after %s", took, what)
			}
			return took
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("still failing 10s after %s: %v", what, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestFaultStartsWithoutServer: New succeeds with the server down,
// operations fail in milliseconds, and the server is used once it is up.
func TestFaultStartsWithoutServer(t *testing.T) {
	t.Parallel()
	p := newMemcachedProc(t)
	b := newTestBackend(t, Options{Servers: []string{p.Addr()}})
	downThenUp(t, b, p, "with the server down")
}

// downThenUp checks that operations on b fail in milliseconds while p is
// down, then starts p and waits for b to use it.
func downThenUp(t *testing.T, b *Backend, p *testenv.Process, what string) {
	t.Helper()
	if worst := worstGet(t, b, 20, 0, what); worst > time.Second/2 {
		t.Errorf("Get %s took %v, want milliseconds", what, worst)
	}
	p.Start()
	backAfter(t, b, "the server came back")
}

// TestFaultKilledServer: a killed server costs an operation milliseconds,
// and the backend is back once it restarts (its idle connections, closed by
// the crash, are dropped).
func TestFaultKilledServer(t *testing.T) {
	t.Parallel()
	p := newMemcachedProc(t)
	p.Start()
	b := newTestBackend(t, Options{Servers: []string{p.Addr()}})
	backAfter(t, b, "start")
	p.Kill()
	downThenUp(t, b, p, "on a killed server")
}

// TestFaultHungServer: a stopped server (SIGSTOP) costs an operation its
// context, or the backend's Timeout when the context has no deadline, and
// no more; the backend works again when the server resumes.
func TestFaultHungServer(t *testing.T) {
	t.Parallel()
	p := newMemcachedProc(t)
	p.Start()
	b := newTestBackend(t, Options{Servers: []string{p.Addr()}})
	backAfter(t, b, "start")
	p.Stop()
	const budget = 300 * time.Millisecond
	if worst := worstGet(t, b, 5, budget, "on a stopped server"); worst > budget+time.Second {
		t.Errorf("Get with a %v context on a stopped server took %v", budget, worst)
	}
	if worst := worstGet(t, b, 2, 0, "on a stopped server"); worst > DefaultTimeout+time.Second {
		t.Errorf("Get without a deadline on a stopped server took %v, want about the %v Timeout", worst, DefaultTimeout)
	}
	p.Cont()
	backAfter(t, b, "SIGCONT")
}

// TestFaultBlackholedServer: a listener that accepts and never answers
// costs an operation its context and no more.
func TestFaultBlackholedServer(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { _ = c.Close() })
		}
	}()
	b := newTestBackend(t, Options{Servers: []string{l.Addr().String()}})
	const budget = 300 * time.Millisecond
	if worst := worstGet(t, b, 5, budget, "against a blackhole"); worst > budget+time.Second {
		t.Errorf("Get with a %v context against a blackhole took %v", budget, worst)
	}
}

// TestFaultBlackholedIdleConnections: after a blackholed path heals, the
// connections that lived through it stay dead (faultproxy keeps them so,
// like a lost NAT entry). The operation that timed out on one drops the
// idle ones with it, so the first operation after healing dials afresh and
// succeeds instead of waiting out one dead idle connection after another.
func TestFaultBlackholedIdleConnections(t *testing.T) {
	t.Parallel()
	p := newMemcachedProc(t)
	p.Start()
	px, err := faultproxy.New(p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer px.Close()
	b, err := New(Options{Servers: []string{px.Addr()}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Set(context.Background(), "k", []byte("v"), time.Minute); err != nil {
		t.Fatalf("Set: %v", err)
	}
	// Fill the idle list with several connections.
	done := make(chan error)
	for range 8 {
		go func() { _, err := timedGet(b, 5*time.Second); done <- err }()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Fatalf("Get while healthy: %v", err)
		}
	}
	if idle := b.c.pools[0].stats().Idle; idle < 2 {
		t.Fatalf("%d idle connections after 8 concurrent Gets, want several", idle)
	}
	px.Blackhole()
	if _, err := timedGet(b, 200*time.Millisecond); !errors.Is(err, backend.ErrTimeout) {
		t.Fatalf("Get through a blackhole: %v, want a timeout", err)
	}
	px.Heal()
	for i := range 3 {
		if took, err := timedGet(b, time.Second); err != nil {
			t.Fatalf("Get %d after healing: %v after %v (a dead idle connection was reused)", i, err, took)
		}
	}
}

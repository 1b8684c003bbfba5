package cachekitio

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/backend"
)

// tcpProxy is a real TCP proxy between the client and cachekitd that
// injects faults: delayed answers, connection resets, refused connections,
// blackholed connections. TLS passes through it untouched.
type tcpProxy struct {
	ln       net.Listener
	target   atomic.Pointer[string]
	delay    atomic.Int64 // nanoseconds added before each server->client chunk
	resetNew atomic.Int32 // reset this many new connections right after accept
	accepted atomic.Int32
	dark     atomic.Bool // blackhole: connections made now go silent for good

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	silent map[net.Conn]bool // client connections whose bytes are dropped
}

func startProxy(t testing.TB, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, conns: map[net.Conn]struct{}{}, silent: map[net.Conn]bool{}}
	p.target.Store(&target)
	go p.serve()
	t.Cleanup(func() { ln.Close(); p.resetAll() })
	return p
}

func (p *tcpProxy) port() int { return p.ln.Addr().(*net.TCPAddr).Port }

func (p *tcpProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.accepted.Add(1)
		if p.resetNew.Add(-1) >= 0 {
			reset(c)
			continue
		}
		p.resetNew.Store(0)
		go p.pipe(c)
	}
}

// reset closes c with an RST instead of a FIN.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

func (p *tcpProxy) track(c net.Conn, add bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if add {
		p.conns[c] = struct{}{}
	} else {
		delete(p.conns, c)
	}
}

// resetAll resets every open connection, both sides.
// blackhole silences every open connection for good, and every new one
// while on: their bytes are dropped in both directions, nothing is closed,
// like a path whose NAT entry or peer vanished. Off, new connections work
// again; the silenced ones stay silent.
func (p *tcpProxy) blackhole(on bool) {
	p.dark.Store(on)
	if !on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		p.silent[c] = true
	}
}

func (p *tcpProxy) isSilent(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.silent[c]
}

// forward copies src to dst until either fails; bytes of a silenced
// connection (keyed by its client side) are read and dropped.
func (p *tcpProxy) forward(dst, src, client net.Conn, delay bool) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !p.isSilent(client) {
			if d := time.Duration(p.delay.Load()); delay && d > 0 {
				time.Sleep(d)
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *tcpProxy) resetAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		reset(c)
		delete(p.conns, c)
	}
}

func (p *tcpProxy) pipe(client net.Conn) {
	server, err := net.Dial("tcp", *p.target.Load())
	if err != nil {
		reset(client) // the server is down: the client sees a reset
		return
	}
	p.track(client, true)
	p.track(server, true)
	if p.dark.Load() {
		p.mu.Lock()
		p.silent[client] = true
		p.mu.Unlock()
	}
	defer func() {
		p.track(client, false)
		p.track(server, false)
		client.Close()
		server.Close()
	}()
	done := make(chan struct{}, 2)
	go func() { p.forward(server, client, client, false); done <- struct{}{} }()
	go func() { p.forward(client, server, client, true); done <- struct{}{} }()
	<-done
}

func TestLiveFaultSlowResponses(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t, testHost)
	d := startDaemon(t, pki)
	p := startProxy(t, d.addr)
	b := liveBackend(t, pki, p.port(), func(o *Options) { o.Timeout = 500 * time.Millisecond })
	ctx := context.Background()
	if err := b.Set(ctx, "live:slow", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	p.delay.Store(int64(2 * time.Second))
	_, _, err := b.Get(ctx, "live:slow")
	if kindOf(err) != backend.Timeout || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("slow server: err = %v, want a Timeout", err)
	}
	p.delay.Store(0)
	p.resetAll() // drop the connection still blocked in the delayed write
	if v, found, err := b.Get(ctx, "live:slow"); err != nil || !found || string(v) != "v" {
		t.Fatalf("after the slowdown: %q %v %v", v, found, err)
	}
}

func TestLiveFaultConnectionResets(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t, testHost)
	d := startDaemon(t, pki)
	p := startProxy(t, d.addr)
	b := liveBackend(t, pki, p.port(), nil)
	ctx := context.Background()

	// New connections reset twice, then one gets through: the retries
	// must hide it.
	p.resetNew.Store(2)
	if err := b.Set(ctx, "live:reset", []byte("v1"), time.Minute); err != nil {
		t.Fatalf("Set through two resets: %v", err)
	}
	if n := p.accepted.Load(); n < 3 {
		t.Fatalf("%d connections, want at least 3 (two reset, one served)", n)
	}
	// An established, pooled connection reset under the client.
	p.resetAll()
	if v, found, err := b.Get(ctx, "live:reset"); err != nil || !found || string(v) != "v1" {
		t.Fatalf("Get after resetting the pooled connection: %q %v %v", v, found, err)
	}
	// More resets than retries: a Transient error, not a hang.
	p.resetNew.Store(100)
	p.resetAll()
	_, _, err := b.Get(ctx, "live:reset")
	if kindOf(err) != backend.Transient {
		t.Fatalf("persistent resets: err = %v, want Transient", err)
	}
	p.resetNew.Store(0)
}

func TestLiveFaultServerRestart(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t, testHost)
	d := startDaemon(t, pki)
	p := startProxy(t, d.addr)
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	b := liveBackend(t, pki, p.port(), func(o *Options) { o.Timeout = 3 * time.Second; o.Logger = logger })
	ctx := context.Background()

	var ops, failures atomic.Int32
	var badKind atomic.Pointer[error]
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := "live:restart:" + string(rune('a'+w))
			for {
				select {
				case <-stop:
					return
				default:
				}
				err := b.Set(ctx, key, []byte("v"), time.Minute)
				ops.Add(1)
				if err != nil {
					failures.Add(1)
					if k := kindOf(err); k != backend.Transient && k != backend.Timeout {
						badKind.Store(&err)
					}
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	time.Sleep(200 * time.Millisecond)
	// Mid-run: the server dies, its port stays dark for 200 ms (the proxy
	// resets every connection attempt), then it comes back on the same port.
	d.stop()
	p.resetAll()
	time.Sleep(200 * time.Millisecond)
	d.start()
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	if e := badKind.Load(); e != nil {
		t.Fatalf("a failure during the restart was not Transient/Timeout: %v", *e)
	}
	retries := strings.Count(logs.String(), "retrying")
	t.Logf("%d operations, %d retries, %d failed during the restart", ops.Load(), retries, failures.Load())
	if retries == 0 && failures.Load() == 0 {
		t.Fatal("the outage went unnoticed: no retry and no failure")
	}
	// After the restart everything works again (the memory store is empty).
	if err := b.Set(ctx, "live:restart:after", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if v, found, err := b.Get(ctx, "live:restart:after"); err != nil || !found || string(v) != "v" {
		t.Fatalf("after restart: %q %v %v", v, found, err)
	}
}

func TestLiveFaultRateLimited(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t, testHost)
	// One request per second per key: the second request in a row gets
	// 429 with Retry-After, and the client must wait and succeed.
	d := startDaemon(t, pki, "--rate-limit", "1", "--rate-burst", "1")
	b := liveBackend(t, pki, d.port(), nil)
	var mu sync.Mutex
	var statuses []int
	var retryAfter []string
	b.c.onResponse = func(r *http.Response) {
		mu.Lock()
		statuses = append(statuses, r.StatusCode)
		retryAfter = append(retryAfter, r.Header.Get("Retry-After"))
		mu.Unlock()
	}
	ctx := context.Background()
	if err := b.Set(ctx, "live:rl", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	v, found, err := b.Get(ctx, "live:rl")
	if err != nil || !found || string(v) != "v" {
		t.Fatalf("Get behind the rate limit: %q %v %v", v, found, err)
	}
	mu.Lock()
	got, gotRA := append([]int(nil), statuses...), append([]string(nil), retryAfter...)
	mu.Unlock()
	saw429 := false
	for i, s := range got {
		if s == http.StatusTooManyRequests {
			saw429 = true
			if gotRA[i] == "" {
				t.Fatal("429 without Retry-After")
			}
		}
	}
	if !saw429 || got[len(got)-1] != http.StatusOK {
		t.Fatalf("statuses %v: want a 429 and then success", got)
	}
	// With a deadline shorter than Retry-After the client gives up at once.
	short := b.WithTimeout(300 * time.Millisecond).(*Backend)
	_, _, err = short.Get(ctx, "live:rl")
	_, _, err2 := short.Get(ctx, "live:rl")
	if err == nil && err2 == nil {
		t.Fatal("two immediate reads passed a 1/s limit")
	}
	for _, e := range []error{err, err2} {
		if e != nil && !errors.Is(e, ErrRetryAfterTooLong) {
			t.Fatalf("err = %v, want ErrRetryAfterTooLong", e)
		}
	}
}

// TestLiveFaultBlackholedConnection: the pooled HTTP/2 connection goes
// silent (no reset, no answer). Operations end with their context, and once
// the network heals the dead connection is replaced within seconds: the
// transport PINGs a connection that received nothing for a second and drops
// it when the PING goes unanswered for another.
func TestLiveFaultBlackholedConnection(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t, testHost)
	d := startDaemon(t, pki)
	p := startProxy(t, d.addr)
	b := liveBackend(t, pki, p.port(), nil) // DefaultTimeout
	if err := b.Set(context.Background(), "live:dark", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	get := func(d time.Duration) (time.Duration, error) {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		start := time.Now()
		_, _, err := b.Get(ctx, "live:dark")
		return time.Since(start), err
	}
	p.blackhole(true)
	const budget = 300 * time.Millisecond
	var worst time.Duration
	for range 3 {
		took, err := get(budget)
		if err == nil {
			t.Fatal("Get through a blackholed connection succeeded")
		}
		worst = max(worst, took)
	}
	t.Logf("Get with a %v context through a blackholed connection: worst %v", budget, worst)
	if worst > budget+time.Second {
		t.Errorf("Get with a %v context through a blackholed connection took %v", budget, worst)
	}
	p.blackhole(false)
	healed := time.Now()
	for {
		if _, err := get(budget); err == nil {
			break
		}
		if time.Since(healed) > 20*time.Second {
			t.Fatal("still failing 20s after the network healed")
		}
	}
	back := time.Since(healed)
	t.Logf("first success %v after the network healed", back)
	if back > 5*time.Second {
		t.Errorf("the dead connection was replaced only %v after the network healed, want about 2s", back)
	}
}

// TestLiveStartsWithoutServer: New does not contact the server, so it
// succeeds while cachekitd is down; operations fail with a Transient error
// and work once the server is up.
func TestLiveStartsWithoutServer(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t, testHost)
	d := startDaemon(t, pki)
	d.stop()
	b := liveBackend(t, pki, d.port(), nil)
	start := time.Now()
	_, _, err := b.Get(context.Background(), "live:down")
	took := time.Since(start)
	t.Logf("Get with cachekitd down: %v after %v (retries included)", err, took)
	if kindOf(err) != backend.Transient {
		t.Fatalf("Get with cachekitd down: %v, want a Transient error", err)
	}
	if took > 3*time.Second {
		t.Errorf("Get with cachekitd down took %v", took)
	}
	d.start()
	if err := b.Set(context.Background(), "live:down", []byte("v"), time.Minute); err != nil {
		t.Fatalf("Set once cachekitd is up: %v", err)
	}
}

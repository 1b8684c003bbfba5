package cachekitio

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/backend"
	"github.com/cachekit-go/cachekit/backend/backendtest"
	"github.com/cachekit-go/cachekit/internal/testenv/cachekitdtest"
)

// The tests in this file run against the real cachekitd binary (built by
// scripts/services/cachekitd.sh, exported as CACHEKIT_TEST_CACHEKITD_BIN),
// over TLS with HTTP/2 on loopback. The server's certificate is for
// api.cachekit.io, signed by a CA made in the test; the client resolves that
// name to the loopback listener through Options.Resolver. Every SSRF rule on
// the host name stays on (https, the allowlist, certificate verification);
// the only rule relaxed is the private-network opt-in that lets the
// resolved 127.0.0.1 through, and TestLiveSSRFOn shows the same connection
// refused without it.

// daemon is one cachekitd process started by a test (through the shared
// harness), with the short method names the tests here use.
type daemon struct {
	*cachekitdtest.Daemon
	addr string // 127.0.0.1:port, kept across restarts
}

// startDaemon starts cachekitd with a certificate from pki, the test API key
// (the harness default) and extra flags.
func startDaemon(t testing.TB, pki *testPKI, extra ...string) *daemon {
	t.Helper()
	d := cachekitdtest.Start(t, cachekitdtest.Config{PKI: pki, Flags: extra})
	return &daemon{Daemon: d, addr: d.Addr()}
}

func (d *daemon) start()    { d.Restart() }
func (d *daemon) stop()     { d.Stop() }
func (d *daemon) port() int { return d.Port() }

// liveBackend connects to d (or, with port > 0, to a proxy in front of it).
func liveBackend(t testing.TB, pki *testPKI, port int, adjust func(*Options)) *Backend {
	return newTestBackend(t, pki, port, adjust)
}

func TestLiveBackendtest(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t, testHost)
	// --default-ttl 0: writes without a TTL never expire, the contract's ttl 0.
	d := startDaemon(t, pki, "--max-value-bytes", "2MiB", "--default-ttl", "0")
	b := liveBackend(t, pki, d.port(), nil)
	backendtest.Run(t, func(t *testing.T) backend.Backend { return b },
		backendtest.WithPlainKeys(),
		backendtest.WithTTLResolution(time.Second),
		backendtest.WithMaxKeyLength(400),
		backendtest.WithMaxValueSize(2<<20),
	)
}

func TestLiveHTTP2AndHealth(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t, testHost)
	d := startDaemon(t, pki)
	b := liveBackend(t, pki, d.port(), nil)
	var mu sync.Mutex
	protos := map[string]int{}
	b.c.onResponse = func(r *http.Response) {
		mu.Lock()
		protos[r.Proto]++
		mu.Unlock()
	}
	ok, details := b.HealthCheck(context.Background())
	if !ok || details["backend_type"] != "saas" || details["http_protocol"] != "HTTP/2.0" ||
		details["api_url"] != testURL(d.port()) || details["version"] == nil {
		t.Fatalf("health = %v %v", ok, details)
	}
	ctx := context.Background()
	if err := b.Set(ctx, "live:h2", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if v, found, err := b.Get(ctx, "live:h2"); err != nil || !found || string(v) != "v" {
		t.Fatalf("Get = %q %v %v", v, found, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(protos) != 1 || protos["HTTP/2.0"] != 3 {
		t.Fatalf("negotiated protocols %v, want HTTP/2.0 only", protos)
	}
}

func TestLiveSSRFOn(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t, testHost)
	d := startDaemon(t, pki)
	b := liveBackend(t, pki, d.port(), func(o *Options) { o.AllowPrivateNetworks = false })
	err := b.Set(context.Background(), "live:ssrf", []byte("v"), time.Minute)
	if !errors.Is(err, ErrBlockedAddress) || kindOf(err) != backend.Permanent {
		t.Fatalf("err = %v, want ErrBlockedAddress: the name resolves to loopback", err)
	}
	// The same server is reachable with the opt-in: the refusal above was
	// the SSRF rule, not a broken server.
	if err := liveBackend(t, pki, d.port(), nil).Set(context.Background(), "live:ssrf", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
}

func TestLiveErrors(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t, testHost)
	d := startDaemon(t, pki, "--max-value-bytes", "1KiB")
	ctx := context.Background()

	wrong := liveBackend(t, pki, d.port(), func(o *Options) { o.APIKey = "ck_test_wrongwrongwrong" })
	var responses atomic.Int32
	wrong.c.onResponse = func(*http.Response) { responses.Add(1) }
	_, _, err := wrong.Get(ctx, "live:auth")
	if kindOf(err) != backend.Authentication || !errors.Is(err, backend.ErrAuthentication) {
		t.Fatalf("wrong key: %v", err)
	}
	if n := responses.Load(); n != 1 {
		t.Fatalf("an authentication failure was retried (%d responses)", n)
	}

	b := liveBackend(t, pki, d.port(), nil)
	err = b.Set(ctx, "live:big", make([]byte, 2048), time.Minute)
	if !errors.Is(err, ErrValueTooLarge) || kindOf(err) != backend.Permanent {
		t.Fatalf("oversized value: %v", err)
	}
	// A key outside the server's charset is a 400: Permanent.
	if err := b.Set(ctx, "live:bad key", []byte("v"), time.Minute); kindOf(err) != backend.Permanent {
		t.Fatalf("bad key: %v", err)
	}
	// Traversal attempts stay one key.
	if _, _, err := b.Get(ctx, "../../health"); kindOf(err) != backend.Permanent {
		t.Fatalf("traversal key: %v", err)
	}
}

func TestLiveStaleWhileRevalidate(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t, testHost)
	d := startDaemon(t, pki)
	b := liveBackend(t, pki, d.port(), nil)
	ctx := context.Background()
	if err := b.SetWithStale(ctx, "live:swr", []byte("old"), time.Second, time.Minute); err != nil {
		t.Fatal(err)
	}
	e, found, err := b.GetEntry(ctx, "live:swr")
	if err != nil || !found || e.Stale || string(e.Value) != "old" {
		t.Fatalf("fresh read: %+v %v %v", e, found, err)
	}
	// Poll until the server labels it stale (after about a second).
	deadline := time.Now().Add(10 * time.Second)
	for !e.Stale {
		if time.Now().After(deadline) {
			t.Fatal("the entry never became stale")
		}
		time.Sleep(100 * time.Millisecond)
		if e, found, err = b.GetEntry(ctx, "live:swr"); err != nil || !found {
			t.Fatalf("stale read: %v %v", found, err)
		}
	}
	if string(e.Value) != "old" || e.FreshFor != 0 {
		t.Fatalf("stale entry %+v", e)
	}
	// One revalidator wins the lease; a second sees it contested.
	id, ok, err := b.AcquireLock(ctx, "live:swr", 10*time.Second)
	if err != nil || !ok {
		t.Fatalf("lease: %v %v", ok, err)
	}
	if _, ok2, err := b.AcquireLock(ctx, "live:swr", 10*time.Second); err != nil || ok2 {
		t.Fatalf("second lease: %v %v, want contested", ok2, err)
	}
	if err := b.SetWithStale(ctx, "live:swr", []byte("new"), time.Minute, time.Minute); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.ReleaseLock(ctx, "live:swr", id); err != nil || !ok {
		t.Fatalf("release: %v %v", ok, err)
	}
	if e, _, err := b.GetEntry(ctx, "live:swr"); err != nil || e.Stale || string(e.Value) != "new" {
		t.Fatalf("after revalidation: %+v %v", e, err)
	}
}

func TestLiveConnectionPoolBounded(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t, testHost)
	d := startDaemon(t, pki)
	p := startProxy(t, d.addr)
	const pool = 2
	b := liveBackend(t, pki, p.port(), func(o *Options) { o.PoolSize = pool })
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := fmt.Sprintf("live:pool:%d", i%8)
			if err := b.Set(ctx, key, []byte("v"), time.Minute); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := p.accepted.Load(); n < 1 || n > pool {
		t.Fatalf("%d connections for 64 concurrent requests, want 1..%d", n, pool)
	}
}

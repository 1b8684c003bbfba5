package cachekitio

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/backend"
)

// TestSSRFOnRefusesLoopbackDial is the other half of every loopback test:
// the same server, the same allowed name, the same resolver, but without the
// private-network opt-in. The dial-time check must refuse the connection, so
// nothing reaches the server.
func TestSSRFOnRefusesLoopbackDial(t *testing.T) {
	t.Parallel()
	s := &script{last: status(200)}
	pki := newTestPKI(t, testHost)
	port := startTLSServer(t, pki, s)
	for _, target := range []string{"127.0.0.1", "::ffff:127.0.0.1", "10.0.0.1", "169.254.169.254"} {
		b := newTestBackend(t, pki, port, func(o *Options) {
			o.AllowPrivateNetworks = false
			o.Resolver = mapResolver{testHost: []netip.Addr{netip.MustParseAddr(target)}}
		})
		err := b.Set(context.Background(), "k:1", []byte("v"), time.Minute)
		if !errors.Is(err, ErrBlockedAddress) || kindOf(err) != backend.Permanent {
			t.Fatalf("%s: err = %v, want a Permanent ErrBlockedAddress", target, err)
		}
		ok, details := b.HealthCheck(context.Background())
		if ok || !strings.Contains(fmt.Sprint(details["error"]), "blocked address") {
			t.Fatalf("%s: health = %v %v", target, ok, details)
		}
	}
	if n := len(s.requests()); n != 0 {
		t.Fatalf("%d requests reached the loopback server", n)
	}
	// The opt-in does not open the metadata range.
	b := newTestBackend(t, pki, port, func(o *Options) {
		o.Resolver = mapResolver{testHost: []netip.Addr{netip.MustParseAddr("169.254.169.254")}}
	})
	if _, _, err := b.Get(context.Background(), "k:1"); !errors.Is(err, ErrBlockedAddress) {
		t.Fatalf("metadata address under the opt-in: %v", err)
	}
	// The opt-in does not lift the host allowlist either.
	_, err := New(Options{APIKey: testAPIKey, URL: "https://127.0.0.1:443", AllowPrivateNetworks: true})
	if !errors.Is(err, ErrUnsafeURL) {
		t.Fatalf("literal loopback URL without AllowCustomHost: %v", err)
	}
}

func TestUntrustedCertificateRefused(t *testing.T) {
	t.Parallel()
	s := &script{last: status(200)}
	pki := newTestPKI(t, testHost)
	port := startTLSServer(t, pki, s)
	other := newTestPKI(t, testHost) // a different CA
	b := newTestBackend(t, other, port, nil)
	_, _, err := b.Get(context.Background(), "k:1")
	if err == nil || kindOf(err) != backend.Permanent {
		t.Fatalf("err = %v, want a Permanent TLS failure", err)
	}
	// A certificate for another name is refused too.
	wrong := newTestPKI(t, "cache.example.com")
	port2 := startTLSServer(t, wrong, s)
	b2 := newTestBackend(t, wrong, port2, nil)
	if _, _, err := b2.Get(context.Background(), "k:1"); err == nil || kindOf(err) != backend.Permanent {
		t.Fatalf("wrong name: err = %v, want a Permanent TLS failure", err)
	}
	if n := len(s.requests()); n != 0 {
		t.Fatalf("%d requests reached an untrusted server", n)
	}
}

// syncBuffer collects log output from concurrent goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestAPIKeyNeverLeaks drives every failure path it can (server errors,
// retries, timeouts, TLS and SSRF refusals, bad options), logging at debug
// level, and searches every error text, log line, health detail, formatted
// value and recovered panic for the key.
func TestAPIKeyNeverLeaks(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var outputs []string
	record := func(what string, v any) { outputs = append(outputs, what+": "+fmt.Sprint(v)) }

	// A server that echoes the Authorization header into bodies and headers.
	echo := func(code int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Echo", r.Header.Get("Authorization"))
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(code)
			_, _ = w.Write([]byte(`{"error":"` + r.Header.Get("Authorization") + `","lock_id":"` + testAPIKey + `"}`))
		}
	}
	ctx := context.Background()
	for _, code := range []int{400, 401, 403, 413, 429, 500, 503} {
		s := &script{last: echo(code)}
		b := newScripted(t, s, func(o *Options) { o.Logger = logger; o.MaxRetries = 1 })
		_, _, err := b.Get(ctx, "k:leak")
		record("get", err)
		record("set", b.Set(ctx, "k:leak", []byte("v"), time.Second))
		_, _, err = b.AcquireLock(ctx, "k:leak", time.Second)
		record("lock", err)
		ok, details := b.HealthCheck(ctx)
		record("health", fmt.Sprint(ok, details))
		if err == nil {
			t.Fatalf("%d: no error", code)
		}
	}
	// A lock answer carrying the key as its id is refused or returned as the
	// id; it must not end up in an error message.
	s := &script{last: echo(200)}
	b := newScripted(t, s, func(o *Options) { o.Logger = logger })
	_, _, err := b.TTL(ctx, "k:leak")
	record("ttl 200", err)
	// Timeouts, TLS, SSRF.
	slow := newScripted(t, &script{last: stall}, func(o *Options) { o.Logger = logger; o.Timeout = 100 * time.Millisecond })
	_, _, err = slow.Get(ctx, "k:leak")
	record("timeout", err)
	pki := newTestPKI(t, testHost)
	port := startTLSServer(t, pki, &script{})
	blocked := newTestBackend(t, pki, port, func(o *Options) { o.Logger = logger; o.AllowPrivateNetworks = false })
	record("ssrf", blocked.Set(ctx, "k:leak", nil, 0))
	untrusted := newTestBackend(t, newTestPKI(t, testHost), port, func(o *Options) { o.Logger = logger })
	_, err = untrusted.Exists(ctx, "k:leak")
	record("tls", err)
	// Bad options and environments.
	for _, o := range []Options{
		{APIKey: testAPIKey, URL: "http://api.cachekit.io"},
		{APIKey: testAPIKey, URL: "https://" + testAPIKey + "@api.cachekit.io"},
		{APIKey: testAPIKey, URL: "https://" + testAPIKey + ".example.com"},
		{APIKey: testAPIKey + "\n", URL: ""},
		{APIKey: testAPIKey, Timeout: -1},
	} {
		_, err := New(o)
		record("new", err)
	}
	_, err = optionsFromLookup(func(k string) (string, bool) {
		if k == EnvAPIKey {
			return testAPIKey, true
		}
		return testAPIKey, true // the key pasted into every other variable
	})
	record("env", err)
	// Formatting the configuration and the backend.
	opts := Options{APIKey: testAPIKey, URL: DefaultURL}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
		record("fmt "+verb, fmt.Sprintf(verb, opts))
		record("fmt key "+verb, fmt.Sprintf(verb, opts.APIKey))
		record("fmt backend "+verb, fmt.Sprintf(verb, *b))
	}
	js, _ := json.Marshal(opts)
	record("json", string(js))
	logger.Info("options", "opts", opts, "key", opts.APIKey)
	// A panic inside an operation (a nil Backend) and a panic carrying an
	// operation error.
	func() {
		defer func() { record("panic nil", recover()) }()
		var nb *Backend
		_, _, _ = nb.Get(ctx, "k")
	}()
	func() {
		defer func() { record("panic err", recover()) }()
		_, _, err := newScripted(t, &script{last: echo(401)}, nil).Get(ctx, "k")
		panic(err)
	}()

	outputs = append(outputs, "logs: "+logs.String())
	if !strings.Contains(logs.String(), "retrying") {
		t.Fatal("the debug log recorded no retries; the leak check did not exercise the logger")
	}
	for _, out := range outputs {
		if strings.Contains(out, testAPIKey) || strings.Contains(out, "ck_test_G7xQ") {
			t.Errorf("API key leaked in %s", out)
		}
	}
	if !strings.Contains(fmt.Sprintf("%+v", opts), redacted) {
		t.Error("formatted Options do not say [redacted]")
	}
}

func TestOptionsFromEnv(t *testing.T) {
	t.Parallel()
	env := func(m map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	o, err := optionsFromLookup(env(map[string]string{EnvAPIKey: "ck_live_x"}))
	if err != nil || o.APIKey != "ck_live_x" || o.URL != "" || o.Timeout != 0 || o.MaxRetries != 0 || o.PoolSize != 0 {
		t.Fatalf("minimal env: %+v, %v", o, err)
	}
	o, err = optionsFromLookup(env(map[string]string{
		EnvAPIKey: " ck_live_x ", EnvAPIURL: "https://cache.example.com", EnvTimeout: "2.5",
		EnvMaxRetries: "0", EnvPoolSize: "4", EnvAllowCustomHost: "true", EnvAllowPrivateNetworks: "1",
	}))
	if err != nil || o.APIKey != "ck_live_x" || o.URL != "https://cache.example.com" || o.Timeout != 2500*time.Millisecond ||
		o.MaxRetries != NoRetries || o.PoolSize != 4 || !o.AllowCustomHost || !o.AllowPrivateNetworks {
		t.Fatalf("full env: %+v, %v", o, err)
	}
	if o, err := optionsFromLookup(env(map[string]string{EnvAPIKey: "k", EnvTimeout: "750ms"})); err != nil || o.Timeout != 750*time.Millisecond {
		t.Fatalf("duration timeout: %v %v", o.Timeout, err)
	}
	if _, err := optionsFromLookup(env(nil)); !errors.Is(err, ErrMissingAPIKey) || !strings.Contains(err.Error(), "CACHEKIT_API_KEY") {
		t.Fatalf("missing key: %v", err)
	}
	if _, err := optionsFromLookup(env(map[string]string{EnvAPIKey: "  "})); !errors.Is(err, ErrMissingAPIKey) {
		t.Fatalf("blank key: %v", err)
	}
	for name, bad := range map[string]string{
		EnvTimeout: "-1", EnvMaxRetries: "x", EnvPoolSize: "0", EnvAllowCustomHost: "maybe", EnvAllowPrivateNetworks: "2",
	} {
		_, err := optionsFromLookup(env(map[string]string{EnvAPIKey: "k", name: bad}))
		if !errors.Is(err, ErrInvalidOption) || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=%q: %v", name, bad, err)
		}
	}
	for _, v := range []string{"0", "NaN", "Inf", "abc", "-5s", "2h"} {
		if _, err := parseTimeout(v); err == nil {
			t.Errorf("parseTimeout(%q) accepted", v)
		}
	}
}

func TestNewDefaults(t *testing.T) {
	t.Parallel()
	b, err := New(Options{APIKey: "ck_live_x"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if b.URL() != DefaultURL || b.Timeout() != DefaultTimeout || b.c.maxRetries != DefaultMaxRetries ||
		b.c.transport.MaxConnsPerHost != DefaultPoolSize {
		t.Fatalf("defaults: url %s timeout %v retries %d pool %d", b.URL(), b.Timeout(), b.c.maxRetries, b.c.transport.MaxConnsPerHost)
	}
	if !b.c.transport.Protocols.HTTP2() || b.c.transport.Proxy != nil {
		t.Fatal("transport must offer HTTP/2 and ignore proxies")
	}
	if _, err := New(Options{}); !errors.Is(err, ErrMissingAPIKey) {
		t.Fatalf("no key: %v", err)
	}
	for _, o := range []Options{
		{APIKey: "k", Timeout: -time.Second},
		{APIKey: "k", MaxRetries: -5},
		{APIKey: "k", PoolSize: -1},
	} {
		if _, err := New(o); !errors.Is(err, ErrInvalidOption) {
			t.Errorf("%+v: %v", o, err)
		}
	}
}

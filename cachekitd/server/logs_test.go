package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/cachekitd/server"
	"github.com/cachekit-go/cachekit/cachekitd/store"
)

// lockedBuffer is a bytes.Buffer safe for the handler's concurrent writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// failingStore is the injected fault: a store whose writes fail.
type failingStore struct{ store.Store }

var errInjected = errors.New("injected store failure")

func (failingStore) Set(context.Context, string, string, []byte, time.Duration, time.Duration) (bool, error) {
	return false, errInjected
}

// TestLogsAndMetricsCarryNoSecretsKeysOrValues: with debug logging (one
// line per request) and a store failure, every log line is JSON and neither
// the logs nor /metrics contain an API key (good or bad), a cache key, a
// value or a lock id; tenants appear in logs but never as metric labels.
func TestLogsAndMetricsCarryNoSecretsKeysOrValues(t *testing.T) {
	t.Parallel()
	var logs lockedBuffer
	st := store.NewMemory(store.MemoryOptions{})
	t.Cleanup(func() { st.Close() })
	ts := newServer(t, st, func(c *server.Config) {
		c.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		c.RateLimit, c.RateBurst = 1000, 1000
	})
	const (
		cacheKey  = "secret-cache-key:4242"
		value     = "VALUE-that-must-not-be-logged"
		badAPIKey = "ck_test_notregistered0123456789"
	)
	call(t, ts, keyAcme, "PUT", "/v1/cache/"+cacheKey, []byte(value), "X-CacheKit-TTL", "60")
	call(t, ts, keyAcme, "GET", "/v1/cache/"+cacheKey, nil)
	call(t, ts, keyGlobex, "GET", "/v1/cache/"+cacheKey, nil)
	call(t, ts, badAPIKey, "GET", "/v1/cache/"+cacheKey, nil)
	call(t, ts, keyAcme, "PUT", "/v1/cache/"+cacheKey, []byte(value), "X-CacheKit-TTL", "-1")
	id, _ := lockID(t, call(t, ts, keyAcme, "POST", "/v1/cache/"+cacheKey+"/lock", nil))
	call(t, ts, keyAcme, "DELETE", "/v1/cache/"+cacheKey+"/lock", nil, "X-CacheKit-Lock-Id", id)
	metrics := call(t, ts, "", "GET", "/metrics", nil)

	// The store failure path logs at warn.
	failing := newServer(t, failingStore{st}, func(c *server.Config) {
		c.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	if r := call(t, failing, keyAcme, "PUT", "/v1/cache/"+cacheKey, []byte(value)); r.status != 503 || bytes.Contains(r.body, []byte(errInjected.Error())) {
		t.Fatalf("store failure = %d %s, want a 503 without the store's error text", r.status, r.body)
	}

	out := logs.String()
	for _, want := range []string{`"msg":"request"`, `"tenant":"acme"`, `"msg":"store operation failed"`, `"op":"put"`} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %s:\n%s", want, out)
		}
	}
	for i, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if !json.Valid([]byte(line)) {
			t.Errorf("log line %d is not JSON: %s", i, line)
		}
	}
	for _, secret := range []string{keyAcme, keyGlobex, badAPIKey, "ck_test_", "ck_live_", cacheKey, "4242", value, id} {
		if strings.Contains(out, secret) {
			t.Errorf("logs contain %q", secret)
		}
		if bytes.Contains(metrics.body, []byte(secret)) {
			t.Errorf("metrics contain %q", secret)
		}
	}
	if bytes.Contains(metrics.body, []byte("acme")) || bytes.Contains(metrics.body, []byte("globex")) {
		t.Error("metrics carry tenant labels")
	}
}

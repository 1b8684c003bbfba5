package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cachekit-go/cachekit/cachekitd/internal/testenv"
	"github.com/cachekit-go/cachekit/cachekitd/server"
	"github.com/cachekit-go/cachekit/cachekitd/store"
)

// Test API keys of two tenants.
const (
	keyAcme   = "ck_test_acme0123456789abcdef"
	keyGlobex = "ck_live_globex0123456789abcdef"
	// keySDK is a key of the managed service's ck_sdk_ family (tenant initech).
	keySDK = "ck_sdk_initech0123456789abcdef"
)

type storeCase struct {
	name string
	open func(t *testing.T, lim store.Limits) store.Store
}

// stores lists every store the API tests run against: memory always, Redis
// standalone and Cluster from the test command's servers (skipped locally,
// failed under CI=true when missing).
func stores() []storeCase {
	redisStore := func(env string) func(t *testing.T, lim store.Limits) store.Store {
		return func(t *testing.T, lim store.Limits) store.Store {
			addrs := testenv.Require(t, env)
			st, err := store.NewRedis(context.Background(), store.RedisOptions{
				Addrs:  strings.Split(addrs, ","),
				Prefix: "ckdtest-" + strings.ToLower(rand.Text()[:10]),
				Tenant: lim,
			})
			if err != nil {
				t.Fatalf("NewRedis: %v", err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		}
	}
	return []storeCase{
		{"memory", func(t *testing.T, lim store.Limits) store.Store {
			st := store.NewMemory(store.MemoryOptions{Tenant: lim})
			t.Cleanup(func() { st.Close() })
			return st
		}},
		{"redis", redisStore("CACHEKIT_TEST_REDIS_ADDR")},
		{"redis-cluster", redisStore("CACHEKIT_TEST_REDIS_CLUSTER_ADDRS")},
	}
}

// newServer starts the real handler on an httptest server with two tenants.
func newServer(t *testing.T, st store.Store, mod func(*server.Config)) *httptest.Server {
	t.Helper()
	keys := server.NewKeyring()
	if err := keys.Add("acme", keyAcme, 0); err != nil {
		t.Fatal(err)
	}
	if err := keys.Add("globex", keyGlobex, 0); err != nil {
		t.Fatal(err)
	}
	if err := keys.Add("initech", keySDK, 0); err != nil {
		t.Fatal(err)
	}
	cfg := server.Config{Store: st, Keys: keys, ServeMetrics: true, Logger: slog.New(slog.DiscardHandler)}
	if mod != nil {
		mod(&cfg)
	}
	h, err := server.New(cfg)
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	t.Cleanup(func() { h.Close() }) // after ts.Close, before the store's Close
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

// call sends one request; hdr are header pairs; apiKey "" sends no
// Authorization header.
func call(t *testing.T, ts *httptest.Server, apiKey, method, path string, body []byte, hdr ...string) reply {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, ts.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+apiKey)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return reply{resp.StatusCode, resp.Header, b}
}

// storeLimitsNone leaves tenants unlimited.
var storeLimitsNone = store.Limits{}

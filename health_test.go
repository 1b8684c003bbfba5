package cachekit

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/cachekit-go/cachekit/backend/memory"
)

// probe GETs path from h and decodes the JSON answer.
func probe(t *testing.T, h http.Handler, path string) (int, map[string]any) {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

func TestHealthInProcess(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newTestCache(t, nil)
	f := MustWrap1(c, benchUser)
	if _, err := f.Call(ctx, 1); err != nil {
		t.Fatal(err)
	}
	h := c.Health(ctx)
	if h.Backend != "none" || !h.BackendOK || h.Degraded() || h.L1Entries != 1 || h.L1Bytes <= 0 {
		t.Fatalf("%+v", h)
	}
	if code, body := probe(t, c.HealthHandler(ReadyWhenBackendUp), "/readyz"); code != 200 || body["status"] != "ok" {
		t.Fatal(code, body)
	}
	if ok, details := c.HealthCheck(ctx); !ok || details[DetailL1Entries] != 1 {
		t.Fatal(ok, details)
	}
}

func TestHealthBackendUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rec := &eventRecorder{}
	c := newTestCache(t, memory.New(memory.Options{}), WithObserver(rec))
	h := c.Health(ctx)
	if h.Backend != "memory" || !h.BackendOK || h.Breaker != "closed" || h.Degraded() || h.Latency <= 0 {
		t.Fatalf("%+v", h)
	}
	if len(rec.ops) != 1 || rec.ops[0].Op != "health" || rec.ops[0].Outcome != BackendOK {
		t.Fatalf("observed %+v", rec.ops)
	}
	code, body := probe(t, c.HealthHandler(ReadyWhenBackendUp), "/readyz")
	if code != 200 || body["status"] != "ok" || body["backend"] != "memory" || body["breaker"] != "closed" {
		t.Fatal(code, body)
	}
}

// A Redis server that does not answer: the cache is live, serves in
// process, and is ready or not by policy.
func TestHealthBackendDown(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there any more: connections are refused
	// FromEnv starts without the server (connecting in the background).
	c, err := fromEnv(mapEnv(map[string]string{EnvRedisURL: "redis://" + addr}), quiet())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	h := c.Health(ctx)
	if h.Backend != "redis" || h.BackendOK || !h.Degraded() || h.Error == "" {
		t.Fatalf("%+v", h)
	}
	if code, body := probe(t, c.HealthHandler(ReadyWhenServing), "/readyz"); code != 200 || body["status"] != "degraded" || body["backend_ok"] != false {
		t.Fatal(code, body)
	}
	if code, body := probe(t, c.HealthHandler(ReadyWhenBackendUp), "/readyz/"); code != 503 || body["status"] != "unavailable" {
		t.Fatal(code, body)
	}
	if code, body := probe(t, c.HealthHandler(ReadyWhenBackendUp), "/healthz"); code != 200 || body["status"] != "ok" {
		t.Fatal(code, body)
	}
	// Still serving: the function runs.
	f := MustWrap1(c, benchUser)
	if u, err := f.Call(ctx, 3); err != nil || u.ID != 3 {
		t.Fatal(u, err)
	}
	_ = c.Close()
	if code, body := probe(t, c.HealthHandler(ReadyWhenServing), "/healthz"); code != 503 || body["status"] != "closed" {
		t.Fatal(code, body)
	}
}

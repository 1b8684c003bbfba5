package cachekit

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/cachekit-go/cachekit/backend"
)

// Health is the state of a cache as an operator sees it: whether the
// backend answered a round trip just now and how long it took, the circuit
// breaker, and the in-process tier.
type Health struct {
	// Backend names the backend's kind ("redis", "memcached", ...; "none"
	// for an in-process cache).
	Backend string `json:"backend"`
	// BackendOK reports whether the backend answered the health round trip
	// (true without a backend).
	BackendOK bool `json:"backend_ok"`
	// Latency is the round trip's duration.
	Latency time.Duration `json:"-"`
	// LatencyMS is Latency in milliseconds (for JSON).
	LatencyMS float64 `json:"latency_ms"`
	// Error says why the backend failed the check (no keys, no secrets).
	Error string `json:"error,omitempty"`
	// Breaker is the circuit breaker's state: "closed", "open",
	// "half-open", or "" without a backend.
	Breaker string `json:"breaker,omitempty"`
	// L1Entries, L1Bytes and L1Evictions describe the in-process tier.
	L1Entries   int    `json:"l1_entries"`
	L1Bytes     int64  `json:"l1_bytes"`
	L1Evictions uint64 `json:"l1_evictions"`
	// Closed reports that Close was called.
	Closed bool `json:"closed"`
	// Details are the backend's own health details (backend.Detail...).
	Details map[string]any `json:"details,omitempty"`
}

// Degraded reports that the cache serves without its backend (the backend
// failed the check or the breaker is not closed): calls are answered from
// L1 or by the function, so the application works, but slower and with
// more load on what the cache protects.
func (h Health) Degraded() bool {
	return !h.BackendOK || (h.Breaker != "" && h.Breaker != "closed")
}

// Health checks the cache now: one round trip to the backend (its
// HealthCheck: PING for Redis, a version or stats command for memcached, a
// stat of the directory for the file backend, GET /v1/health for the
// CacheKit API), bypassing the circuit breaker so that the check tells
// whether the backend answers even while the breaker keeps the calls away
// from it. The round trip is reported to the Observer as a "health"
// operation.
func (c *Cache) Health(ctx context.Context) Health {
	h := Health{Backend: "none", BackendOK: true, Closed: c.closed.Load()}
	if c.l1 != nil {
		h.L1Entries, h.L1Bytes, h.L1Evictions = c.l1.Len(), c.l1.Bytes(), c.l1.Evictions()
	}
	if c.be == nil {
		return h
	}
	h.Backend = c.guard.kind
	h.Breaker = c.guard.breaker.State().String()
	start := time.Now()
	ok, details := c.be.HealthCheck(ctx)
	h.Latency = time.Since(start)
	h.LatencyMS = float64(h.Latency.Microseconds()) / 1000
	h.BackendOK = ok
	h.Details = details
	if e, found := details[backend.DetailError].(string); found && !ok {
		h.Error = e
	} else if !ok {
		h.Error = "the backend did not answer the health check"
	}
	o := BackendOK
	if !ok {
		o = outcome(ctx.Err(), ctx)
		if o == BackendOK {
			o = BackendError
		}
	}
	c.observeBackend(ctx, "health", o, start, h.Latency)
	return h
}

// HealthCheck probes the backend with one round trip (see Health) and
// reports whether it answered, with the backend's details plus
// DetailCircuitBreaker, latency_ms (measured by the cache when the backend
// does not report it) and the in-process tier (DetailL1Entries,
// DetailL1Bytes). Without a backend it is healthy with backend_type "none".
func (c *Cache) HealthCheck(ctx context.Context) (bool, map[string]any) {
	h := c.Health(ctx)
	details := map[string]any{}
	for k, v := range h.Details {
		details[k] = v
	}
	if c.be == nil {
		details[backend.DetailBackendType] = "none"
	} else {
		details[DetailCircuitBreaker] = h.Breaker
	}
	if _, ok := details[backend.DetailLatencyMS]; !ok {
		details[backend.DetailLatencyMS] = h.LatencyMS
	}
	details[DetailL1Entries] = h.L1Entries
	details[DetailL1Bytes] = h.L1Bytes
	return h.BackendOK, details
}

// HealthCheck details added by the cache.
const (
	DetailL1Entries = "l1_entries"
	DetailL1Bytes   = "l1_bytes"
)

// ReadinessPolicy says when the cache's /readyz handler reports ready.
type ReadinessPolicy uint8

const (
	// ReadyWhenServing, the default, reports ready whenever the cache is
	// open, also while the backend is down: the cache then serves from L1
	// and the function (it fails open), so taking the instance out of the
	// load balancer would only move its traffic to instances that see the
	// same backend. The answer says "degraded" so that it shows.
	ReadyWhenServing ReadinessPolicy = iota
	// ReadyWhenBackendUp reports not ready (503) while the backend fails
	// its health check or the breaker is open: for services whose
	// function is too expensive to run without the shared cache.
	ReadyWhenBackendUp
)

// HealthHandler returns an http.Handler for the probes of an orchestrator:
// mount it at /healthz and /readyz (it looks at the last element of the
// request path; any other path is /healthz).
//
//   - /healthz (liveness) answers 200 unless the cache is closed (503). It
//     never asks the backend: restarting the process does not bring a
//     backend back.
//   - /readyz (readiness) runs Health (one backend round trip, bounded by
//     the request's context and 2 seconds) and answers 200 or 503 by
//     policy (see ReadinessPolicy), with the Health as JSON and a "status"
//     of "ok", "degraded" or "unavailable".
func (c *Cache) HealthHandler(policy ReadinessPolicy) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if !isReadyz(r.URL.Path) {
			closed := c.closed.Load()
			status, code := "ok", http.StatusOK
			if closed {
				status, code = "closed", http.StatusServiceUnavailable
			}
			w.WriteHeader(code)
			_ = json.NewEncoder(w).Encode(map[string]string{"status": status})
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), readyzTimeout)
		defer cancel()
		h := c.Health(ctx)
		status, code := "ok", http.StatusOK
		switch {
		case h.Closed:
			status, code = "closed", http.StatusServiceUnavailable
		case h.Degraded() && policy == ReadyWhenBackendUp:
			status, code = "unavailable", http.StatusServiceUnavailable
		case h.Degraded():
			status = "degraded"
		}
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(struct {
			Status string `json:"status"`
			Health
		}{status, h})
	})
}

// readyzTimeout bounds the backend round trip of a /readyz request.
const readyzTimeout = 2 * time.Second

func isReadyz(path string) bool {
	for len(path) > 1 && path[len(path)-1] == '/' {
		path = path[:len(path)-1]
	}
	const r = "/readyz"
	return len(path) >= len(r) && path[len(path)-len(r):] == r
}

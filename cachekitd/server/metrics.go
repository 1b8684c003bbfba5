package server

import (
	"bufio"
	"fmt"
	"net/http"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/cachekit-go/cachekit/cachekitd/store"
)

// op is an API operation, the "op" label of the request metrics.
type op uint8

const (
	opGet op = iota
	opPut
	opDelete
	opHead
	opLock
	opUnlock
	opTTLGet
	opTTLRefresh
	opHealth
	opOther
	numOps
)

var opNames = [numOps]string{"get", "put", "delete", "head", "lock_acquire", "lock_release", "ttl_get", "ttl_refresh", "health", "other"}

// codes is the closed set of status codes the server answers with; anything
// else is counted as "other".
var codes = [...]int{200, 201, 204, 400, 401, 403, 404, 405, 409, 413, 429, 499, 500, 503}

const numCodes = len(codes) + 1

func codeIndex(c int) int {
	for i, v := range codes {
		if v == c {
			return i
		}
	}
	return len(codes)
}

// latencyBuckets are the upper bounds (seconds) of the request duration
// histogram.
var latencyBuckets = [...]float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}

type histogram struct {
	counts [len(latencyBuckets) + 1]atomic.Uint64
	sumNs  atomic.Uint64
}

func (h *histogram) observe(d time.Duration) {
	s := d.Seconds()
	i := 0
	for i < len(latencyBuckets) && s > latencyBuckets[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sumNs.Add(uint64(max(d, 0)))
}

// Metrics are the server's counters, exposed in the Prometheus text format
// (version 0.0.4) by Handler. Every series is a fixed-size array of atomics, so
// recording costs a few atomic adds and no allocation, and the label sets are
// closed (operations and status codes, never keys or tenants).
type Metrics struct {
	requests      [numOps][numCodes]atomic.Uint64
	durations     [numOps]histogram
	inflight      atomic.Int64
	authFailures  atomic.Uint64
	rateLimited   atomic.Uint64
	storeErrors   atomic.Uint64
	cancelled     atomic.Uint64
	bytesIn       atomic.Uint64
	bytesOut      atomic.Uint64
	relayOn       atomic.Bool
	relayUp       atomic.Bool
	relaySent     atomic.Uint64
	relayReceived atomic.Uint64
	relayDropped  [numDropReasons]atomic.Uint64
	relayResets   atomic.Uint64
	start         time.Time
	store         store.Store
	version       string
}

// NewMetrics returns zeroed metrics.
func NewMetrics() *Metrics { return &Metrics{start: time.Now()} }

func (m *Metrics) record(o op, code int, d time.Duration) {
	m.requests[o][codeIndex(code)].Add(1)
	m.durations[o].observe(d)
}

// Handler serves the metrics in the Prometheus text exposition format.
func (m *Metrics) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		bw := bufio.NewWriter(w)
		m.write(bw)
		_ = bw.Flush()
	})
}

func (m *Metrics) write(w *bufio.Writer) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	p("# HELP cachekitd_requests_total API requests by operation and status code.\n# TYPE cachekitd_requests_total counter\n")
	for o := range numOps {
		for c := range numCodes {
			n := m.requests[o][c].Load()
			if n == 0 {
				continue
			}
			code := "other"
			if c < len(codes) {
				code = strconv.Itoa(codes[c])
			}
			p("cachekitd_requests_total{op=%q,code=%q} %d\n", opNames[o], code, n)
		}
	}
	p("# HELP cachekitd_request_duration_seconds Time from routing a request to the end of its handler.\n# TYPE cachekitd_request_duration_seconds histogram\n")
	for o := range numOps {
		h := &m.durations[o]
		var cum uint64
		for i := range h.counts {
			cum += h.counts[i].Load()
			if i < len(latencyBuckets) {
				p("cachekitd_request_duration_seconds_bucket{op=%q,le=%q} %d\n", opNames[o], strconv.FormatFloat(latencyBuckets[i], 'g', -1, 64), cum)
			} else {
				p("cachekitd_request_duration_seconds_bucket{op=%q,le=\"+Inf\"} %d\n", opNames[o], cum)
			}
		}
		p("cachekitd_request_duration_seconds_sum{op=%q} %g\n", opNames[o], float64(h.sumNs.Load())/1e9)
		p("cachekitd_request_duration_seconds_count{op=%q} %d\n", opNames[o], cum)
	}
	p("# HELP cachekitd_requests_in_flight API requests being handled now.\n# TYPE cachekitd_requests_in_flight gauge\ncachekitd_requests_in_flight %d\n", m.inflight.Load())
	p("# HELP cachekitd_auth_failures_total Requests refused with 401.\n# TYPE cachekitd_auth_failures_total counter\ncachekitd_auth_failures_total %d\n", m.authFailures.Load())
	p("# HELP cachekitd_rate_limited_total Requests refused with 429 by the per-key rate limit.\n# TYPE cachekitd_rate_limited_total counter\ncachekitd_rate_limited_total %d\n", m.rateLimited.Load())
	p("# HELP cachekitd_store_errors_total Store operations that failed (answered 5xx).\n# TYPE cachekitd_store_errors_total counter\ncachekitd_store_errors_total %d\n", m.storeErrors.Load())
	p("# HELP cachekitd_client_cancellations_total Requests their client cancelled or abandoned before the answer (recorded as code 499; not store errors).\n# TYPE cachekitd_client_cancellations_total counter\ncachekitd_client_cancellations_total %d\n", m.cancelled.Load())
	p("# HELP cachekitd_value_bytes_received_total Value bytes accepted by PUT.\n# TYPE cachekitd_value_bytes_received_total counter\ncachekitd_value_bytes_received_total %d\n", m.bytesIn.Load())
	p("# HELP cachekitd_value_bytes_sent_total Value bytes served by GET.\n# TYPE cachekitd_value_bytes_sent_total counter\ncachekitd_value_bytes_sent_total %d\n", m.bytesOut.Load())
	if m.relayOn.Load() {
		up := 0
		if m.relayUp.Load() {
			up = 1
		}
		p("# HELP cachekitd_relay_up Whether the subscription relaying invalidation events between replicas is confirmed (1) or down (0; streams are refused meanwhile).\n# TYPE cachekitd_relay_up gauge\ncachekitd_relay_up %d\n", up)
		p("# HELP cachekitd_relay_messages_sent_total Relay messages published to the other replicas (write events and gap notices).\n# TYPE cachekitd_relay_messages_sent_total counter\ncachekitd_relay_messages_sent_total %d\n", m.relaySent.Load())
		p("# HELP cachekitd_relay_messages_received_total Relay messages received from other replicas and applied to this replica's streams.\n# TYPE cachekitd_relay_messages_received_total counter\ncachekitd_relay_messages_received_total %d\n", m.relayReceived.Load())
		p("# HELP cachekitd_relay_messages_dropped_total Write events not relayed (queue_full: the publisher lagged; publish_failed: the store refused) and received messages that could not be read (invalid).\n# TYPE cachekitd_relay_messages_dropped_total counter\n")
		for i, reason := range dropReasons {
			p("cachekitd_relay_messages_dropped_total{reason=%q} %d\n", reason, m.relayDropped[i].Load())
		}
		p("# HELP cachekitd_relay_stream_resets_total Times this replica ended invalidation streams because relayed events may have been lost (subscription down, a gap notice, an unreadable message).\n# TYPE cachekitd_relay_stream_resets_total counter\ncachekitd_relay_stream_resets_total %d\n", m.relayResets.Load())
	}
	if m.store != nil {
		st := m.store.Stats()
		name := m.store.Name()
		if st.Entries >= 0 {
			p("# HELP cachekitd_store_entries Live entries in the store.\n# TYPE cachekitd_store_entries gauge\ncachekitd_store_entries{store=%q} %d\n", name, st.Entries)
		}
		if st.Bytes >= 0 {
			p("# HELP cachekitd_store_bytes Bytes accounted in the store (entries and locks, with their overhead).\n# TYPE cachekitd_store_bytes gauge\ncachekitd_store_bytes{store=%q} %d\n", name, st.Bytes)
		}
		if st.Evictions >= 0 {
			p("# HELP cachekitd_store_evictions_total Entries evicted to respect limits.\n# TYPE cachekitd_store_evictions_total counter\ncachekitd_store_evictions_total{store=%q} %d\n", name, st.Evictions)
		}
		if st.Expired >= 0 {
			p("# HELP cachekitd_store_expired_total Entries removed because they expired.\n# TYPE cachekitd_store_expired_total counter\ncachekitd_store_expired_total{store=%q} %d\n", name, st.Expired)
		}
	}
	p("# HELP cachekitd_build_info Version of the server.\n# TYPE cachekitd_build_info gauge\ncachekitd_build_info{version=%q,goversion=%q} 1\n", m.version, runtime.Version())
	p("# HELP cachekitd_uptime_seconds Seconds since the server started.\n# TYPE cachekitd_uptime_seconds gauge\ncachekitd_uptime_seconds %g\n", time.Since(m.start).Seconds())
	p("# HELP go_goroutines Goroutines that currently exist.\n# TYPE go_goroutines gauge\ngo_goroutines %d\n", runtime.NumGoroutine())
}

package cachekitio

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/backend"
)

// The tests in this file talk to a real TLS + HTTP/2 server in the test
// process whose answers are scripted: the injected faults (429, 503 bursts,
// aborted streams, stalls) and the protocol corners a real cachekitd does
// not produce on demand. Everything else runs against cachekitd
// (live_test.go).

// seen is one request as the server received it.
type seen struct {
	method, rawURI string
	header         http.Header
	body           []byte
	proto          string
	at             time.Time
}

// script answers request n with steps[n] and every later request with last.
type script struct {
	mu    sync.Mutex
	steps []http.HandlerFunc
	last  http.HandlerFunc
	reqs  []seen
}

func (s *script) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	n := len(s.reqs)
	s.reqs = append(s.reqs, seen{r.Method, r.RequestURI, r.Header.Clone(), body, r.Proto, time.Now()})
	h := s.last
	if n < len(s.steps) {
		h = s.steps[n]
	}
	s.mu.Unlock()
	if h == nil {
		h = status(http.StatusOK)
	}
	h(w, r)
}

func (s *script) requests() []seen {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]seen(nil), s.reqs...)
}

func status(code int, kv ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		for i := 0; i+1 < len(kv); i += 2 {
			w.Header().Set(kv[i], kv[i+1])
		}
		w.WriteHeader(code)
	}
}

func body(code int, b string, kv ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		for i := 0; i+1 < len(kv); i += 2 {
			w.Header().Set(kv[i], kv[i+1])
		}
		w.WriteHeader(code)
		_, _ = io.WriteString(w, b)
	}
}

// abort resets the stream (HTTP/2 RST_STREAM) without an answer.
func abort(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) }

// stall holds the request until the client gives up.
func stall(_ http.ResponseWriter, r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-time.After(30 * time.Second):
	}
}

func newScripted(t *testing.T, s *script, adjust func(*Options)) *Backend {
	t.Helper()
	pki := newTestPKI(t, testHost)
	port := startTLSServer(t, pki, s)
	return newTestBackend(t, pki, port, adjust)
}

func kindOf(err error) backend.Kind { return backend.KindOf(err) }

func TestRetryTransientStatuses(t *testing.T) {
	t.Parallel()
	for _, code := range []int{408, 429, 500, 502, 503, 504} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			t.Parallel()
			s := &script{steps: []http.HandlerFunc{status(code), status(code)}, last: body(200, "value")}
			b := newScripted(t, s, nil)
			v, ok, err := b.Get(context.Background(), "k:1")
			if err != nil || !ok || string(v) != "value" {
				t.Fatalf("Get = %q, %v, %v; want the value after two %d answers", v, ok, err, code)
			}
			if n := len(s.requests()); n != 3 {
				t.Fatalf("%d requests, want 3", n)
			}
		})
	}
}

func TestRetryExhausted(t *testing.T) {
	t.Parallel()
	s := &script{last: status(503)}
	b := newScripted(t, s, func(o *Options) { o.MaxRetries = 2 })
	err := b.Set(context.Background(), "k:1", []byte("v"), time.Minute)
	if kindOf(err) != backend.Transient || !errors.Is(err, backend.ErrTransient) {
		t.Fatalf("err = %v, want a Transient error", err)
	}
	var se *StatusError
	if !errors.As(err, &se) || se.StatusCode != 503 {
		t.Fatalf("err = %v, want a StatusError 503 inside", err)
	}
	if n := len(s.requests()); n != 3 {
		t.Fatalf("%d requests, want 1 + MaxRetries = 3", n)
	}
}

func TestNoRetries(t *testing.T) {
	t.Parallel()
	s := &script{last: status(503)}
	b := newScripted(t, s, func(o *Options) { o.MaxRetries = NoRetries })
	if _, _, err := b.Get(context.Background(), "k:1"); kindOf(err) != backend.Transient {
		t.Fatalf("err = %v", err)
	}
	if n := len(s.requests()); n != 1 {
		t.Fatalf("%d requests, want 1", n)
	}
}

func TestRetryResendsBody(t *testing.T) {
	t.Parallel()
	s := &script{steps: []http.HandlerFunc{status(503), abort}, last: status(200)}
	b := newScripted(t, s, nil)
	val := bytes.Repeat([]byte{0, 1, 2, 0xff}, 5000)
	if err := b.Set(context.Background(), "k:body", val, 90*time.Second); err != nil {
		t.Fatal(err)
	}
	reqs := s.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}
	for i, r := range reqs {
		if !bytes.Equal(r.body, val) {
			t.Errorf("attempt %d sent %d bytes, want the %d-byte value", i, len(r.body), len(val))
		}
		if r.header.Get("X-CacheKit-TTL") != "90" {
			t.Errorf("attempt %d: X-CacheKit-TTL %q", i, r.header.Get("X-CacheKit-TTL"))
		}
	}
}

func TestPermanentNotRetried(t *testing.T) {
	t.Parallel()
	tests := []struct {
		code int
		kind backend.Kind
	}{
		{400, backend.Permanent},
		{401, backend.Authentication},
		{403, backend.Authentication},
		{404, backend.Permanent}, // for Set, 404 is not a miss
		{405, backend.Permanent},
		{409, backend.Permanent},
		{413, backend.Permanent},
		{422, backend.Permanent},
		{307, backend.Permanent}, // redirects are never followed
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.code), func(t *testing.T) {
			t.Parallel()
			s := &script{last: status(tt.code, "Location", "https://evil.example.com/x", "Retry-After", "0")}
			b := newScripted(t, s, nil)
			err := b.Set(context.Background(), "k:1", []byte("v"), time.Minute)
			if kindOf(err) != tt.kind {
				t.Fatalf("err = %v, kind %v, want %v", err, kindOf(err), tt.kind)
			}
			var se *StatusError
			if !errors.As(err, &se) || se.StatusCode != tt.code {
				t.Fatalf("err = %v, want StatusError %d", err, tt.code)
			}
			if errors.Is(err, ErrValueTooLarge) != (tt.code == 413) {
				t.Fatalf("errors.Is(err, ErrValueTooLarge) wrong for %d", tt.code)
			}
			if n := len(s.requests()); n != 1 {
				t.Fatalf("%d requests, want exactly 1", n)
			}
		})
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	t.Parallel()
	s := &script{steps: []http.HandlerFunc{status(429, "Retry-After", "1")}, last: status(200)}
	b := newScripted(t, s, nil)
	if err := b.Set(context.Background(), "k:ra", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	reqs := s.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	// A lower bound only: the client must not come back before the server
	// said it may. (It can not be early on a slow machine, only late.)
	if gap := reqs[1].at.Sub(reqs[0].at); gap < time.Second {
		t.Fatalf("retried after %v, before Retry-After: 1", gap)
	}
}

func TestRetryAfterPastDeadline(t *testing.T) {
	t.Parallel()
	s := &script{last: status(429, "Retry-After", "120")}
	b := newScripted(t, s, func(o *Options) { o.Timeout = 2 * time.Second })
	_, _, err := b.Get(context.Background(), "k:1")
	if !errors.Is(err, ErrRetryAfterTooLong) || kindOf(err) != backend.Transient {
		t.Fatalf("err = %v, want a Transient error wrapping ErrRetryAfterTooLong", err)
	}
	if n := len(s.requests()); n != 1 {
		t.Fatalf("%d requests: the client must not wait past its deadline for a retry", n)
	}
}

func TestSlowResponseTimesOut(t *testing.T) {
	t.Parallel()
	s := &script{last: stall}
	b := newScripted(t, s, func(o *Options) { o.Timeout = 300 * time.Millisecond })
	_, _, err := b.Get(context.Background(), "k:slow")
	if kindOf(err) != backend.Timeout || !errors.Is(err, backend.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a Timeout error", err)
	}
	// The caller's own deadline wins when it is sooner.
	b2 := b.WithTimeout(time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := b2.Exists(ctx, "k:slow"); kindOf(err) != backend.Timeout {
		t.Fatalf("err = %v, want Timeout from the caller's deadline", err)
	}
	// Cancellation is reported as such.
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if _, _, err := b.Get(ctx, "k:slow"); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestHTTP2Negotiated(t *testing.T) {
	t.Parallel()
	s := &script{last: body(200, `{"version":"9.9.9","status":"ok"}`)}
	b := newScripted(t, s, nil)
	var mu sync.Mutex
	var protos []int
	b.c.onResponse = func(r *http.Response) {
		mu.Lock()
		protos = append(protos, r.ProtoMajor)
		mu.Unlock()
	}
	ok, details := b.HealthCheck(context.Background())
	if !ok {
		t.Fatalf("health: %v", details)
	}
	if details["http_protocol"] != "HTTP/2.0" || details["version"] != "9.9.9" || details["backend_type"] != "saas" {
		t.Fatalf("details = %v", details)
	}
	if _, ok := details["latency_ms"].(float64); !ok {
		t.Fatalf("latency_ms missing: %v", details)
	}
	if _, _, err := b.Get(context.Background(), "k:1"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(protos) != 2 || protos[0] != 2 || protos[1] != 2 {
		t.Fatalf("response protocols %v, want HTTP/2 for both", protos)
	}
	for _, r := range s.requests() {
		if r.proto != "HTTP/2.0" {
			t.Fatalf("server saw %s", r.proto)
		}
	}
}

// TestServiceUnavailableBurst: a burst of 503s (with Retry-After as an HTTP
// date, the way a load balancer sends it) hits many concurrent callers;
// every one of them rides it out within its retries.
func TestServiceUnavailableBurst(t *testing.T) {
	t.Parallel()
	var burst atomic.Int32
	burst.Store(12)
	s := &script{last: func(w http.ResponseWriter, r *http.Request) {
		if burst.Add(-1) >= 0 {
			w.Header().Set("Retry-After", time.Now().Add(-time.Second).UTC().Format(http.TimeFormat))
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}}
	b := newScripted(t, s, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := b.Set(context.Background(), "k:burst:"+strconv.Itoa(i), []byte("v"), time.Minute); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		failed++
		if kindOf(err) != backend.Transient {
			t.Errorf("err = %v, want Transient", err)
		}
	}
	// 12 rejections over 8 callers with 3 retries each: at most 3 callers
	// can have used up all 4 attempts, so at least 5 must have succeeded.
	if failed > 3 {
		t.Fatalf("%d of 8 callers failed during a 12-answer burst", failed)
	}
	if n := len(s.requests()); n != 8+12 && failed == 0 {
		t.Fatalf("%d requests, want 20 (8 successes after 12 rejections)", n)
	}
}

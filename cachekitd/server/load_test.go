package server_test

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/cachekitd/server"
	"github.com/cachekit-go/cachekit/cachekitd/store"
)

// loadValue is what every GET serves: a typical small cached value.
var loadValue = bytes.Repeat([]byte("cachekit"), 128) // 1 KiB

func newLoadHandler(tb testing.TB) http.Handler {
	st := store.NewMemory(store.MemoryOptions{})
	tb.Cleanup(func() { st.Close() })
	keys := server.NewKeyring()
	if err := keys.Add("acme", keyAcme, 0); err != nil {
		tb.Fatal(err)
	}
	h, err := server.New(server.Config{Store: st, Keys: keys, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatal(err)
	}
	for i := range 64 {
		if _, err := st.Set(tb.Context(), "acme", "user:"+strconv.Itoa(i), loadValue, time.Hour, 0); err != nil {
			tb.Fatal(err)
		}
	}
	return h
}

// bareGet is the baseline: a bare net/http handler serving the same bytes
// with the same headers and no work at all.
var bareGet = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h["Content-Type"] = []string{"application/octet-stream"}
	h["Content-Length"] = []string{strconv.Itoa(len(loadValue))}
	_, _ = w.Write(loadValue)
})

// barePut reads the body and answers 201, as a baseline for PUT.
var barePut = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	w.Header()["Content-Length"] = []string{"0"}
	w.WriteHeader(http.StatusCreated)
})

type loadResult struct {
	reqs          int
	rps           float64
	p50, p99, max time.Duration
	errors        int64
}

// runLoad drives url with conc workers for d over keep-alive HTTP/1.1
// connections on loopback.
func runLoad(tb testing.TB, method, base string, body []byte, conc int, d time.Duration) loadResult {
	tr := &http.Transport{MaxIdleConnsPerHost: conc, MaxConnsPerHost: conc, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		all    []time.Duration
		errs   atomic.Int64
		stopAt = time.Now().Add(d)
	)
	begin := time.Now()
	for w := range conc {
		wg.Go(func() {
			lat := make([]time.Duration, 0, 4096)
			for i := 0; time.Now().Before(stopAt); i++ {
				var rd io.Reader
				if body != nil {
					rd = bytes.NewReader(body)
				}
				req, _ := http.NewRequest(method, base+"/v1/cache/user:"+strconv.Itoa((w*7+i)%64), rd)
				req.Header.Set("Authorization", "Bearer "+keyAcme)
				req.Header.Set("X-CacheKit-TTL", "3600")
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					errs.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				lat = append(lat, time.Since(t0))
				if resp.StatusCode >= 300 {
					errs.Add(1)
				}
			}
			mu.Lock()
			all = append(all, lat...)
			mu.Unlock()
		})
	}
	wg.Wait()
	el := time.Since(begin)
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	r := loadResult{reqs: len(all), rps: float64(len(all)) / el.Seconds(), errors: errs.Load()}
	if len(all) > 0 {
		r.p50, r.p99, r.max = all[len(all)/2], all[len(all)*99/100], all[len(all)-1]
	}
	return r
}

func serveLoopback(tb testing.TB, h http.Handler) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := server.NewHTTPServer(h, server.HTTPOptions{})
	go func() { _ = srv.Serve(ln) }()
	tb.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

// TestLoad is the bounded load run (CACHEKITD_LOAD=1): GET hits and PUTs
// through cachekitd's handler on the memory store against a bare net/http
// handler serving the same bytes, on loopback, in the same run, in
// alternating rounds. It reports req/s, p50, p99 and the ratio, and fails when
// the median GET ratio is under CACHEKITD_LOAD_MIN_RATIO (default 0.8).
//
//	CACHEKITD_LOAD=1 go test -run TestLoad -v ./server/
//
// CACHEKITD_LOAD_DURATION (default 2s per round) and CACHEKITD_LOAD_CONC
// (default 16) tune it.
func TestLoad(t *testing.T) {
	if os.Getenv("CACHEKITD_LOAD") == "" {
		t.Skip("load run: set CACHEKITD_LOAD=1")
	}
	d := 2 * time.Second
	if v, err := time.ParseDuration(os.Getenv("CACHEKITD_LOAD_DURATION")); err == nil && v > 0 {
		d = v
	}
	conc := 16
	if v, err := strconv.Atoi(os.Getenv("CACHEKITD_LOAD_CONC")); err == nil && v > 0 {
		conc = v
	}
	minRatio := 0.8
	if v, err := strconv.ParseFloat(os.Getenv("CACHEKITD_LOAD_MIN_RATIO"), 64); err == nil {
		minRatio = v
	}
	ckd := serveLoopback(t, newLoadHandler(t))
	bare := serveLoopback(t, bareGet)
	barePutURL := serveLoopback(t, barePut)

	runLoad(t, "GET", ckd, nil, conc, d/4) // warm up both
	runLoad(t, "GET", bare, nil, conc, d/4)
	var ratios []float64
	for round := range 3 {
		b := runLoad(t, "GET", bare, nil, conc, d)
		c := runLoad(t, "GET", ckd, nil, conc, d)
		if b.errors+c.errors > 0 {
			t.Fatalf("errors: bare %d, cachekitd %d", b.errors, c.errors)
		}
		ratio := c.rps / b.rps
		ratios = append(ratios, ratio)
		t.Logf("GET round %d: bare %.0f req/s p50 %v p99 %v | cachekitd %.0f req/s p50 %v p99 %v | ratio %.2f",
			round, b.rps, b.p50, b.p99, c.rps, c.p50, c.p99, ratio)
	}
	b := runLoad(t, "PUT", barePutURL, loadValue, conc, d)
	c := runLoad(t, "PUT", ckd, loadValue, conc, d)
	if c.errors > 0 {
		t.Fatalf("PUT errors: %d", c.errors)
	}
	t.Logf("PUT: bare %.0f req/s p50 %v p99 %v | cachekitd %.0f req/s p50 %v p99 %v | ratio %.2f",
		b.rps, b.p50, b.p99, c.rps, c.p50, c.p99, c.rps/b.rps)
	slices.Sort(ratios)
	t.Logf("GET hit ratio (median of 3, concurrency %d, %d-byte values): %.2f", conc, len(loadValue), ratios[1])
	if ratios[1] < minRatio {
		t.Errorf("GET hit throughput ratio %.2f is under the target %.2f", ratios[1], minRatio)
	}
}

// BenchmarkHandlerGetHit measures the handler alone (no network): auth, key
// parsing, store lookup, metrics.
func BenchmarkHandlerGetHit(b *testing.B) {
	h := newLoadHandler(b)
	req := httptest.NewRequest("GET", "/v1/cache/user:1", nil)
	req.Header.Set("Authorization", "Bearer "+keyAcme)
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	b.SetBytes(int64(len(loadValue)))
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, req)
	}
	if w.code != 200 {
		b.Fatalf("status %d", w.code)
	}
}

// BenchmarkHandlerPut measures a PUT of a 1 KiB value through the handler.
func BenchmarkHandlerPut(b *testing.B) {
	h := newLoadHandler(b)
	w := &discardWriter{h: http.Header{}}
	rd := bytes.NewReader(loadValue)
	req := httptest.NewRequest("PUT", "/v1/cache/user:1", rd)
	req.Header.Set("Authorization", "Bearer "+keyAcme)
	req.Header.Set("X-CacheKit-TTL", "60")
	b.ReportAllocs()
	b.SetBytes(int64(len(loadValue)))
	for b.Loop() {
		clear(w.h)
		rd.Reset(loadValue)
		req.Body = io.NopCloser(rd)
		h.ServeHTTP(w, req)
	}
	if w.code != 200 {
		b.Fatalf("status %d", w.code)
	}
}

type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(c int)           { w.code = c }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }

package cachekitio

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/backend"
)

func TestKeyOnTheWire(t *testing.T) {
	t.Parallel()
	s := &script{last: status(404)}
	pki := newTestPKI(t, testHost)
	port := startTLSServer(t, pki, s)
	b := newTestBackend(t, pki, port, func(o *Options) { o.URL = testURL(port) + "/prefix/" })
	tests := []struct{ key, path string }{
		{"ns:users:get:42", "/prefix/v1/cache/ns%3Ausers%3Aget%3A42"},
		{"a/b", "/prefix/v1/cache/a%2Fb"},
		{"../../admin", "/prefix/v1/cache/..%2F..%2Fadmin"},
		{"x?y#z", "/prefix/v1/cache/x%3Fy%23z"},
		{"100%", "/prefix/v1/cache/100%25"},
		{"sp ace+plus", "/prefix/v1/cache/sp%20ace%2Bplus"},
		{"ünï", "/prefix/v1/cache/%C3%BCn%C3%AF"},
		{"a..b", "/prefix/v1/cache/a..b"},
		{"Az09-._~", "/prefix/v1/cache/Az09-._~"},
		{"health:x", "/prefix/v1/cache/health%3Ax"},
	}
	for _, tt := range tests {
		if _, _, err := b.Get(context.Background(), tt.key); err != nil {
			t.Fatalf("%q: %v", tt.key, err)
		}
		reqs := s.requests()
		if got := reqs[len(reqs)-1].rawURI; got != tt.path {
			t.Errorf("key %q sent as %q, want %q", tt.key, got, tt.path)
		}
	}
	if _, _, err := b.TTL(context.Background(), "a/b"); err != nil {
		t.Fatal(err)
	}
	reqs := s.requests()
	if got := reqs[len(reqs)-1].rawURI; got != "/prefix/v1/cache/a%2Fb/ttl" {
		t.Errorf("ttl path %q", got)
	}
}

func TestReservedKeysNeverSent(t *testing.T) {
	t.Parallel()
	s := &script{}
	b := newScripted(t, s, nil)
	ctx := context.Background()
	for _, key := range []string{"", ".", "..", "health", "ttl", "lock"} {
		ops := map[string]error{}
		_, _, ops["get"] = b.Get(ctx, key)
		ops["set"] = b.Set(ctx, key, []byte("v"), 0)
		_, ops["delete"] = b.Delete(ctx, key)
		_, ops["exists"] = b.Exists(ctx, key)
		_, _, ops["lock"] = b.AcquireLock(ctx, key, time.Second)
		_, ops["unlock"] = b.ReleaseLock(ctx, key, "id")
		_, _, ops["ttl"] = b.TTL(ctx, key)
		_, ops["refresh"] = b.RefreshTTL(ctx, key, time.Second)
		for op, err := range ops {
			if !errors.Is(err, ErrInvalidKey) || kindOf(err) != backend.Permanent {
				t.Errorf("%s(%q): err = %v, want a Permanent ErrInvalidKey", op, key, err)
			}
		}
	}
	if n := len(s.requests()); n != 0 {
		t.Fatalf("%d requests reached the server", n)
	}
}

func TestTTLRules(t *testing.T) {
	t.Parallel()
	s := &script{last: status(200)}
	b := newScripted(t, s, nil)
	ctx := context.Background()
	tests := []struct {
		ttl, stale time.Duration
		header     string // "" = no header; "err" = refused client-side
		staleHdr   string
	}{
		{0, 0, "", ""},
		{time.Nanosecond, 0, "1", ""},
		{999 * time.Millisecond, 0, "1", ""},
		{time.Second, 0, "1", ""},
		{1500 * time.Millisecond, 0, "2", ""},
		{time.Hour, 0, "3600", ""},
		{MaxTTL, 0, "2592000", ""},
		{MaxTTL + time.Nanosecond, 0, "err", ""},
		{-time.Second, 0, "err", ""},
		{time.Minute, 10 * time.Millisecond, "60", "1"},
		{time.Minute, time.Hour, "60", "3600"},
		{time.Minute, MaxTTL, "err", ""},
		{0, time.Minute, "err", ""},
		{time.Minute, -time.Second, "err", ""},
	}
	for _, tt := range tests {
		before := len(s.requests())
		err := b.SetWithStale(ctx, "k:ttl", []byte("v"), tt.ttl, tt.stale)
		if tt.header == "err" {
			if !errors.Is(err, ErrInvalidTTL) || kindOf(err) != backend.Permanent {
				t.Errorf("ttl %v stale %v: err = %v, want ErrInvalidTTL", tt.ttl, tt.stale, err)
			}
			if len(s.requests()) != before {
				t.Errorf("ttl %v: a refused TTL reached the server", tt.ttl)
			}
			continue
		}
		if err != nil {
			t.Fatalf("ttl %v: %v", tt.ttl, err)
		}
		reqs := s.requests()
		h := reqs[len(reqs)-1].header
		if got, has := h.Get("X-CacheKit-TTL"), len(h.Values("X-CacheKit-TTL")) > 0; got != tt.header || has != (tt.header != "") {
			t.Errorf("ttl %v: X-CacheKit-TTL %q (present %v), want %q", tt.ttl, got, has, tt.header)
		}
		if got := h.Get("X-CacheKit-Stale-TTL"); got != tt.staleHdr {
			t.Errorf("ttl %v stale %v: X-CacheKit-Stale-TTL %q, want %q", tt.ttl, tt.stale, got, tt.staleHdr)
		}
		if h.Get("X-TTL") != "" {
			t.Errorf("the deprecated X-TTL header was sent")
		}
		if h.Get("Content-Type") != "application/octet-stream" {
			t.Errorf("Content-Type %q", h.Get("Content-Type"))
		}
	}
	for _, d := range []time.Duration{0, -time.Second, MaxTTL + time.Second} {
		if _, err := b.RefreshTTL(ctx, "k:ttl", d); !errors.Is(err, ErrInvalidTTL) {
			t.Errorf("RefreshTTL(%v): %v, want ErrInvalidTTL", d, err)
		}
		if _, _, err := b.AcquireLock(ctx, "k:ttl", d); !errors.Is(err, ErrInvalidTTL) {
			t.Errorf("AcquireLock(%v): %v, want ErrInvalidTTL", d, err)
		}
	}
}

func TestLockAnswers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		answer http.HandlerFunc
		id     string
		ok     bool
		err    bool
	}{
		{"acquired", body(200, `{"lock_id":"abc-123"}`), "abc-123", true, false},
		{"created", body(201, `{"lock_id":"abc-123"}`), "abc-123", true, false},
		{"null", body(200, `{"lock_id":null}`), "", false, false},
		{"absent", body(200, `{}`), "", false, false},
		{"empty", body(200, `{"lock_id":""}`), "", false, false},
		{"409", status(409), "", false, false},
		{"not json", body(200, `<html>`), "", false, true},
		{"header injection", body(200, `{"lock_id":"a\r\nX-Evil: 1"}`), "", false, true},
		{"number", body(200, `{"lock_id":12}`), "", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := &script{last: tt.answer}
			b := newScripted(t, s, nil)
			id, ok, err := b.AcquireLock(context.Background(), "k:lock", 1500*time.Microsecond)
			if id != tt.id || ok != tt.ok || (err != nil) != tt.err {
				t.Fatalf("AcquireLock = %q, %v, %v", id, ok, err)
			}
			if tt.err && !errors.Is(err, ErrProtocol) {
				t.Fatalf("err = %v, want ErrProtocol", err)
			}
			r := s.requests()[0]
			if r.method != "POST" || r.rawURI != "/v1/cache/k%3Alock/lock" || string(r.body) != `{"timeout_ms":2}` {
				t.Fatalf("request %s %s %s", r.method, r.rawURI, r.body)
			}
		})
	}
}

func TestReleaseAnswers(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		code int
		want bool
	}{{200, true}, {204, true}, {404, false}, {409, false}} {
		s := &script{last: status(tt.code)}
		b := newScripted(t, s, nil)
		got, err := b.ReleaseLock(context.Background(), "k:lock", "abc-123")
		if err != nil || got != tt.want {
			t.Fatalf("%d: ReleaseLock = %v, %v", tt.code, got, err)
		}
		r := s.requests()[0]
		if r.method != "DELETE" || r.header.Get("X-CacheKit-Lock-Id") != "abc-123" || strings.Contains(r.rawURI, "lock_id") {
			t.Fatalf("request %s %s, lock id header %q", r.method, r.rawURI, r.header.Get("X-CacheKit-Lock-Id"))
		}
	}
	s := &script{}
	b := newScripted(t, s, nil)
	for _, id := range []string{"", "a b", "a\r\nb", strings.Repeat("x", 300)} {
		if ok, err := b.ReleaseLock(context.Background(), "k:lock", id); ok || err != nil {
			t.Errorf("ReleaseLock(%q) = %v, %v, want false, nil", id, ok, err)
		}
	}
	if n := len(s.requests()); n != 0 {
		t.Fatalf("malformed lock ids were sent (%d requests)", n)
	}
}

func TestTTLAnswers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		answer http.HandlerFunc
		d      time.Duration
		found  bool
		err    bool
	}{
		{body(200, `{"ttl":3542}`), 3542 * time.Second, true, false},
		{body(200, `{"ttl":null}`), 0, true, false},
		{body(200, `{"ttl":0}`), 0, true, false},
		{body(200, `{"ttl":1.2}`), 2 * time.Second, true, false},
		{status(404), 0, false, false},
		{body(200, `{"ttl":-1}`), 0, false, true},
		{body(200, `{"ttl":"x"}`), 0, false, true},
		{body(200, `{"ttl":1e300}`), 0, false, true},
		{body(200, ``), 0, false, true},
	}
	for i, tt := range tests {
		s := &script{last: tt.answer}
		b := newScripted(t, s, nil)
		d, found, err := b.TTL(context.Background(), "k:ttl")
		if d != tt.d || found != tt.found || (err != nil) != tt.err {
			t.Errorf("case %d: TTL = %v, %v, %v", i, d, found, err)
		}
	}
	s := &script{steps: []http.HandlerFunc{status(204), status(200), status(404)}}
	b := newScripted(t, s, nil)
	for _, want := range []bool{true, true, false} {
		if got, err := b.RefreshTTL(context.Background(), "k:ttl", 1500*time.Millisecond); err != nil || got != want {
			t.Fatalf("RefreshTTL = %v, %v, want %v", got, err, want)
		}
	}
	if r := s.requests()[0]; r.method != "PATCH" || string(r.body) != `{"ttl":2}` || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("refresh request %s %s %q", r.method, r.body, r.header.Get("Content-Type"))
	}
}

func TestFreshness(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		hdr     []string // key, value pairs
		stale   bool
		fresh   time.Duration
		hasTerm bool
	}{
		{"pre-SWR server", nil, false, 0, false},
		{"fresh", []string{"X-CacheKit-Freshness", "fresh", "X-CacheKit-Fresh-For", "42"}, false, 42 * time.Second, true},
		{"fresh, no bound", []string{"X-CacheKit-Freshness", "fresh"}, false, 0, false},
		{"stale", []string{"X-CacheKit-Freshness", "stale", "X-CacheKit-Fresh-For", "0"}, true, 0, true},
		{"stale with a bogus bound", []string{"X-CacheKit-Freshness", "stale", "X-CacheKit-Fresh-For", "99"}, true, 0, true},
		{"unknown label", []string{"X-CacheKit-Freshness", "FRESH"}, true, 0, false},
		{"over the cap", []string{"X-CacheKit-Fresh-For", "2592001"}, false, 0, true},
		{"wrapping number", []string{"X-CacheKit-Fresh-For", "4297559296"}, false, 0, true},
		{"signed", []string{"X-CacheKit-Fresh-For", "+5"}, false, 0, true},
		{"empty", []string{"X-CacheKit-Fresh-For", ""}, false, 0, true},
		{"at the cap", []string{"X-CacheKit-Fresh-For", "2592000"}, false, MaxTTL, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := &script{last: body(200, "bytes", tt.hdr...)}
			b := newScripted(t, s, nil)
			e, found, err := b.GetEntry(context.Background(), "k:swr")
			if err != nil || !found || string(e.Value) != "bytes" {
				t.Fatalf("GetEntry = %+v, %v, %v", e, found, err)
			}
			if e.Stale != tt.stale || e.FreshFor != tt.fresh || e.HasFreshFor != tt.hasTerm {
				t.Fatalf("entry stale=%v freshFor=%v has=%v, want %v %v %v", e.Stale, e.FreshFor, e.HasFreshFor, tt.stale, tt.fresh, tt.hasTerm)
			}
		})
	}
}

func TestEmptyValueIsAHit(t *testing.T) {
	t.Parallel()
	s := &script{last: status(200)}
	b := newScripted(t, s, nil)
	v, found, err := b.Get(context.Background(), "k:empty")
	if err != nil || !found || v == nil || len(v) != 0 {
		t.Fatalf("Get = %v, %v, %v; want a non-nil empty hit", v, found, err)
	}
}

func TestOversizedResponseRefused(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("x", maxJSONBody+1)
	s := &script{last: body(200, big)}
	b := newScripted(t, s, nil)
	if _, _, err := b.TTL(context.Background(), "k:big"); !errors.Is(err, ErrProtocol) {
		t.Fatalf("err = %v, want ErrProtocol for an oversized JSON answer", err)
	}
}

func TestMetricsHeaders(t *testing.T) {
	t.Parallel()
	s := &script{last: status(404)}
	b := newScripted(t, s, nil)
	ctx := context.Background()
	_, _, _ = b.Get(ctx, "k:m")
	b.AttachStats(func() Stats { return Stats{L1Hits: 3, L2Hits: 1, Misses: 4, L1Status: "miss"} })
	_, _, _ = b.Get(ctx, "k:m")
	b.AttachStats(func() Stats { return Stats{L1Status: "bogus"} })
	_, _, _ = b.Get(ctx, "k:m")
	b.AttachStats(nil)
	_, _, _ = b.Get(ctx, "k:m")
	reqs := s.requests()
	want := []map[string]string{
		{"X-CacheKit-L1-Status": "disabled", "X-CacheKit-L1-Hits": ""},
		{"X-CacheKit-L1-Status": "miss", "X-CacheKit-L1-Hits": "3", "X-CacheKit-L2-Hits": "1", "X-CacheKit-Misses": "4", "X-CacheKit-L1-Hit-Rate": "0.375"},
		{"X-CacheKit-L1-Status": "miss", "X-CacheKit-L1-Hits": "0", "X-CacheKit-L1-Hit-Rate": "0.000"},
		{"X-CacheKit-L1-Status": "disabled", "X-CacheKit-L1-Hits": ""},
	}
	for i, w := range want {
		h := reqs[i].header
		for k, v := range w {
			if got := h.Get(k); got != v {
				t.Errorf("request %d: %s = %q, want %q", i, k, got, v)
			}
		}
		if h.Get("X-CacheKit-Session-ID") != b.SessionID() || len(b.SessionID()) != 36 || h.Get("X-CacheKit-Session-Start") == "" {
			t.Errorf("request %d: session headers %q %q", i, h.Get("X-CacheKit-Session-ID"), h.Get("X-CacheKit-Session-Start"))
		}
		if h.Get("Authorization") != "Bearer "+testAPIKey {
			t.Errorf("request %d: Authorization header missing", i)
		}
	}
	// Two backends are two sessions; WithTimeout keeps the session.
	other := newScripted(t, &script{}, nil)
	if other.SessionID() == b.SessionID() {
		t.Fatal("two backends share a session id")
	}
	if b.WithTimeout(time.Second).(*Backend).SessionID() != b.SessionID() {
		t.Fatal("WithTimeout started a new session")
	}

	s2 := &script{last: status(404)}
	quiet := newScripted(t, s2, func(o *Options) { o.DisableMetricsHeaders = true })
	_, _, _ = quiet.Get(ctx, "k:m")
	h := s2.requests()[0].header
	if h.Get("X-CacheKit-Session-ID") != "" || h.Get("X-CacheKit-L1-Status") != "disabled" {
		t.Fatalf("DisableMetricsHeaders: session %q, L1 status %q", h.Get("X-CacheKit-Session-ID"), h.Get("X-CacheKit-L1-Status"))
	}
}

func TestDeleteExistsAnswers(t *testing.T) {
	t.Parallel()
	s := &script{steps: []http.HandlerFunc{status(200), status(204), status(404), status(200), status(404)}}
	b := newScripted(t, s, nil)
	ctx := context.Background()
	for _, want := range []bool{true, true, false} {
		if got, err := b.Delete(ctx, "k:d"); err != nil || got != want {
			t.Fatalf("Delete = %v, %v, want %v", got, err, want)
		}
	}
	for _, want := range []bool{true, false} {
		if got, err := b.Exists(ctx, "k:d"); err != nil || got != want {
			t.Fatalf("Exists = %v, %v, want %v", got, err, want)
		}
	}
	if r := s.requests()[3]; r.method != "HEAD" {
		t.Fatalf("Exists used %s", r.method)
	}
}

func TestWithTimeoutSharesPool(t *testing.T) {
	t.Parallel()
	s := &script{last: status(404)}
	b := newScripted(t, s, nil)
	fast := b.WithTimeout(time.Second).(*Backend)
	if fast == b || fast.c != b.c || fast.Timeout() != time.Second || b.Timeout() != 5*time.Second {
		t.Fatal("WithTimeout must return a new Backend sharing the client and leave the receiver alone")
	}
	if b.WithTimeout(0).(*Backend).Timeout() != b.Timeout() {
		t.Fatal("WithTimeout(0) must keep the timeout")
	}
	if _, _, err := fast.Get(context.Background(), "k:1"); err != nil {
		t.Fatal(err)
	}
	_ = b.Close()
	if _, _, err := fast.Get(context.Background(), "k:1"); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v, want ErrClosed", err)
	}
}

// A server that sends no X-CacheKit-Fresh-For (the managed API, an older
// cachekitd) must not make an entry with an expiry look like one without:
// GetWithTTL then asks for the TTL. With the header it is one request.
func TestGetWithTTLWithoutFreshFor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		steps    []http.HandlerFunc
		want     time.Duration
		requests int
	}{
		{"header: one request", []http.HandlerFunc{body(200, "v", "X-CacheKit-Fresh-For", "42")}, 42 * time.Second, 1},
		{"no header: asks the TTL", []http.HandlerFunc{body(200, "v"), body(200, `{"ttl":7}`)}, 7 * time.Second, 2},
		{"no header, no expiry", []http.HandlerFunc{body(200, "v"), body(200, `{"ttl":null}`)}, 0, 2},
		{"no header, TTL fails: not kept", []http.HandlerFunc{body(200, "v"), status(400)}, time.Nanosecond, 2},
		{"no header, gone meanwhile: not kept", []http.HandlerFunc{body(200, "v"), status(404)}, time.Nanosecond, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := &script{steps: tt.steps, last: status(500)}
			b := newScripted(t, s, nil)
			v, rem, found, err := b.GetWithTTL(context.Background(), "k:ttl")
			if err != nil || !found || string(v) != "v" || rem != tt.want {
				t.Fatalf("GetWithTTL = %q, %v, %v, %v; want v, %v", v, rem, found, err, tt.want)
			}
			if n := len(s.requests()); n != tt.requests {
				t.Fatalf("%d requests, want %d", n, tt.requests)
			}
		})
	}
}

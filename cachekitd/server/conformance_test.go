package server_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/cachekitd/server"
)

// step is one row of the conformance table: a request and what the API text
// (PROTOCOL.md section 7) says it must answer.
type step struct {
	name   string
	apiKey string // keyAcme when empty; "-" sends none
	method string
	path   string
	body   []byte
	hdr    []string
	want   int
	check  func(t *testing.T, r reply)
	sleep  time.Duration // wait before sending (stale serving, expiry)
}

// binaryValue holds every byte value: the server must never inspect values.
var binaryValue = func() []byte {
	b := make([]byte, 512)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}()

func bodyIs(want []byte) func(*testing.T, reply) {
	return func(t *testing.T, r reply) {
		t.Helper()
		if !bytes.Equal(r.body, want) {
			t.Errorf("body = %q, want %q", r.body, want)
		}
		if got := r.header.Get("Content-Type"); got != "application/octet-stream" {
			t.Errorf("Content-Type = %q", got)
		}
	}
}

func headerIs(name, want string) func(*testing.T, reply) {
	return func(t *testing.T, r reply) {
		t.Helper()
		if got := r.header.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
}

func both(fs ...func(*testing.T, reply)) func(*testing.T, reply) {
	return func(t *testing.T, r reply) {
		t.Helper()
		for _, f := range fs {
			f(t, r)
		}
	}
}

func ttlIn(lo, hi int64) func(*testing.T, reply) {
	return func(t *testing.T, r reply) {
		t.Helper()
		var v struct {
			TTL *int64 `json:"ttl"`
		}
		if err := json.Unmarshal(r.body, &v); err != nil || v.TTL == nil {
			t.Fatalf("ttl body %q: %v", r.body, err)
		}
		if *v.TTL < lo || *v.TTL > hi {
			t.Errorf("ttl = %d, want %d..%d", *v.TTL, lo, hi)
		}
	}
}

// freshForIn checks X-CacheKit-Fresh-For: exactly one value, plain digits
// (what the SDK parser accepts), within lo..hi seconds.
func freshForIn(lo, hi int64) func(*testing.T, reply) {
	return func(t *testing.T, r reply) {
		t.Helper()
		v := r.header.Values("X-CacheKit-Fresh-For")
		if len(v) != 1 {
			t.Fatalf("X-CacheKit-Fresh-For = %q, want one value", v)
		}
		n, err := strconv.ParseUint(v[0], 10, 32)
		if err != nil || strings.TrimLeft(v[0], "0123456789") != "" || int64(n) < lo || int64(n) > hi {
			t.Errorf("X-CacheKit-Fresh-For = %q, want %d..%d", v[0], lo, hi)
		}
	}
}

// headerAbsent checks that the reply has no header name at all.
func headerAbsent(name string) func(*testing.T, reply) {
	return func(t *testing.T, r reply) {
		t.Helper()
		if v, ok := r.header[http.CanonicalHeaderKey(name)]; ok {
			t.Errorf("%s = %q, want no such header", name, v)
		}
	}
}

func isError(t *testing.T, r reply) {
	t.Helper()
	var v struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(r.body, &v); err != nil || v.Error == "" {
		t.Errorf("error body %q is not {\"error\": ...}: %v", r.body, err)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("error Content-Type = %q", ct)
	}
}

// lockState carries lock ids between rows.
type lockState struct{ id string }

func (l *lockState) got(t *testing.T, r reply) {
	t.Helper()
	var v struct {
		LockID *string `json:"lock_id"`
	}
	if err := json.Unmarshal(r.body, &v); err != nil || v.LockID == nil || *v.LockID == "" {
		t.Fatalf("lock body %q: want a lock id (%v)", r.body, err)
	}
	l.id = *v.LockID
}

func contested(t *testing.T, r reply) {
	t.Helper()
	if string(r.body) != `{"lock_id":null}` {
		t.Errorf("contested lock body = %q, want {\"lock_id\":null}", r.body)
	}
}

func conformanceSteps(l *lockState) []step {
	long := strings.Repeat("k", server.MaxKeyLen)
	bad := func(name, method, path string, body []byte, hdr ...string) step {
		return step{name: name, method: method, path: path, body: body, hdr: hdr, want: 400, check: isError}
	}
	return []step{
		{name: "health", apiKey: "-", method: "GET", path: "/v1/cache/health", want: 200, check: func(t *testing.T, r reply) {
			var v struct{ Version string }
			if err := json.Unmarshal(r.body, &v); err != nil || v.Version != server.APIVersion {
				t.Errorf("health body %q", r.body)
			}
		}},
		{name: "get miss", method: "GET", path: "/v1/cache/user:1", want: 404},
		{name: "head miss", method: "HEAD", path: "/v1/cache/user:1", want: 404},
		{name: "put creates", method: "PUT", path: "/v1/cache/user:1", body: binaryValue, hdr: []string{"X-CacheKit-TTL", "60"}, want: 200},
		{name: "put replaces", method: "PUT", path: "/v1/cache/user:1", body: binaryValue, hdr: []string{"X-CacheKit-TTL", "60"}, want: 200},
		{name: "get raw colon (Python style)", method: "GET", path: "/v1/cache/user:1", want: 200, check: both(bodyIs(binaryValue), headerAbsent("X-CacheKit-Freshness"), freshForIn(58, 60))},
		{name: "get percent-encoded (Rust style)", method: "GET", path: "/v1/cache/user%3A1", want: 200, check: bodyIs(binaryValue)},
		{name: "get lowercase escape", method: "GET", path: "/v1/cache/user%3a1", want: 200, check: bodyIs(binaryValue)},
		{name: "head hit", method: "HEAD", path: "/v1/cache/user:1", want: 200, check: both(headerIs("Content-Length", "512"), freshForIn(58, 60))},
		{name: "ttl read", method: "GET", path: "/v1/cache/user:1/ttl", want: 200, check: ttlIn(58, 60)},
		{name: "ttl refresh", method: "PATCH", path: "/v1/cache/user:1/ttl", body: []byte(`{"ttl": 120}`), want: 204},
		{name: "ttl after refresh", method: "GET", path: "/v1/cache/user:1/ttl", want: 200, check: ttlIn(118, 120)},
		bad("ttl refresh 0", "PATCH", "/v1/cache/user:1/ttl", []byte(`{"ttl":0}`)),
		bad("ttl refresh negative", "PATCH", "/v1/cache/user:1/ttl", []byte(`{"ttl":-5}`)),
		bad("ttl refresh float", "PATCH", "/v1/cache/user:1/ttl", []byte(`{"ttl":1.5}`)),
		bad("ttl refresh exponent", "PATCH", "/v1/cache/user:1/ttl", []byte(`{"ttl":1e3}`)),
		bad("ttl refresh string", "PATCH", "/v1/cache/user:1/ttl", []byte(`{"ttl":"5"}`)),
		bad("ttl refresh null", "PATCH", "/v1/cache/user:1/ttl", []byte(`{"ttl":null}`)),
		bad("ttl refresh too large", "PATCH", "/v1/cache/user:1/ttl", []byte(`{"ttl":2592001}`)),
		bad("ttl refresh missing field", "PATCH", "/v1/cache/user:1/ttl", []byte(`{}`)),
		bad("ttl refresh empty body", "PATCH", "/v1/cache/user:1/ttl", nil),
		bad("ttl refresh unknown field", "PATCH", "/v1/cache/user:1/ttl", []byte(`{"ttl":5,"extra":1}`)),
		bad("ttl refresh trailing data", "PATCH", "/v1/cache/user:1/ttl", []byte(`{"ttl":5}{"ttl":6}`)),
		bad("ttl refresh malformed", "PATCH", "/v1/cache/user:1/ttl", []byte(`{"ttl":`)),
		bad("ttl refresh not an object", "PATCH", "/v1/cache/user:1/ttl", []byte(`[5]`)),
		{name: "ttl refresh too large body", method: "PATCH", path: "/v1/cache/user:1/ttl", body: []byte(`{"ttl":5` + strings.Repeat(" ", 2000) + `}`), want: 413, check: isError},
		{name: "ttl refresh absent", method: "PATCH", path: "/v1/cache/nobody/ttl", body: []byte(`{"ttl":5}`), want: 404},
		{name: "ttl read absent", method: "GET", path: "/v1/cache/nobody/ttl", want: 404},

		bad("put ttl 0", "PUT", "/v1/cache/t", []byte("v"), "X-CacheKit-TTL", "0"),
		bad("put ttl negative", "PUT", "/v1/cache/t", []byte("v"), "X-CacheKit-TTL", "-1"),
		bad("put ttl float", "PUT", "/v1/cache/t", []byte("v"), "X-CacheKit-TTL", "1.5"),
		bad("put ttl text", "PUT", "/v1/cache/t", []byte("v"), "X-CacheKit-TTL", "soon"),
		bad("put ttl empty", "PUT", "/v1/cache/t", []byte("v"), "X-CacheKit-TTL", " "),
		bad("put ttl too large", "PUT", "/v1/cache/t", []byte("v"), "X-CacheKit-TTL", "2592001"),
		bad("put old ttl invalid", "PUT", "/v1/cache/t", []byte("v"), "X-TTL", "0"),
		bad("put new ttl wins even when invalid", "PUT", "/v1/cache/t", []byte("v"), "X-CacheKit-TTL", "0", "X-TTL", "5"),
		bad("put stale ttl negative", "PUT", "/v1/cache/t", []byte("v"), "X-CacheKit-Stale-TTL", "-1"),
		bad("put stale ttl text", "PUT", "/v1/cache/t", []byte("v"), "X-CacheKit-Stale-TTL", "x"),
		bad("put stale ttl too large", "PUT", "/v1/cache/t", []byte("v"), "X-CacheKit-Stale-TTL", "2592001"),
		{name: "get after rejected puts", method: "GET", path: "/v1/cache/t", want: 404},
		{name: "put max ttl", method: "PUT", path: "/v1/cache/t", body: []byte("v"), hdr: []string{"X-CacheKit-TTL", "2592000"}, want: 200},
		{name: "ttl max", method: "GET", path: "/v1/cache/t/ttl", want: 200, check: ttlIn(2591998, 2592000)},
		{name: "fresh-for at max ttl", method: "GET", path: "/v1/cache/t", want: 200, check: freshForIn(2591998, 2592000)},
		{name: "put deprecated X-TTL only (Rust)", method: "PUT", path: "/v1/cache/t", body: []byte("v"), hdr: []string{"X-TTL", "30"}, want: 200},
		{name: "ttl from X-TTL", method: "GET", path: "/v1/cache/t/ttl", want: 200, check: ttlIn(28, 30)},
		{name: "put both headers (Python)", method: "PUT", path: "/v1/cache/t", body: []byte("v"), hdr: []string{"X-CacheKit-TTL", "100", "X-TTL", "5"}, want: 200},
		{name: "X-CacheKit-TTL preferred", method: "GET", path: "/v1/cache/t/ttl", want: 200, check: ttlIn(98, 100)},
		{name: "put without ttl", method: "PUT", path: "/v1/cache/t", body: []byte("v"), want: 200},
		{name: "tenant default ttl", method: "GET", path: "/v1/cache/t/ttl", want: 200, check: ttlIn(3598, 3600)},
		{name: "put empty value", method: "PUT", path: "/v1/cache/empty", body: []byte{}, want: 200},
		{name: "get empty value", method: "GET", path: "/v1/cache/empty", want: 200, check: bodyIs([]byte{})},

		{name: "delete", method: "DELETE", path: "/v1/cache/user:1", want: 204},
		{name: "delete absent", method: "DELETE", path: "/v1/cache/user:1", want: 404},
		{name: "get deleted", method: "GET", path: "/v1/cache/user:1", want: 404},

		{name: "lock acquire", method: "POST", path: "/v1/cache/job:7/lock", body: []byte(`{"timeout_ms": 10000}`), want: 200, check: l.got},
		{name: "lock contested", method: "POST", path: "/v1/cache/job:7/lock", body: []byte(`{"timeout_ms": 10000}`), want: 200, check: contested},
		{name: "lock release wrong id", method: "DELETE", path: "/v1/cache/job:7/lock", hdr: []string{"X-CacheKit-Lock-Id", "not-the-id"}, want: 404},
		bad("lock release without id", "DELETE", "/v1/cache/job:7/lock", nil),
		bad("lock release id too long", "DELETE", "/v1/cache/job:7/lock", nil, "X-CacheKit-Lock-Id", strings.Repeat("x", 200)),
		{name: "lock still held", method: "POST", path: "/v1/cache/job:7/lock", body: []byte(`{"timeout_ms": 10000}`), want: 200, check: contested},
		{name: "lock release by id header", method: "DELETE", path: "/v1/cache/job:7/lock", want: 204},
		{name: "lock again after release (empty body: default lease)", method: "POST", path: "/v1/cache/job:7/lock", want: 200, check: l.got},
		{name: "lock release by ?lock_id=", method: "DELETE", path: "/v1/cache/job:7/lock?lock_id=", want: 204},
		{name: "lock release twice", method: "DELETE", path: "/v1/cache/job:7/lock?lock_id=", want: 404},
		{name: "lock short lease", method: "POST", path: "/v1/cache/job:8/lock", body: []byte(`{"timeout_ms": 300}`), want: 200, check: l.got},
		{name: "lock expired without release", method: "POST", path: "/v1/cache/job:8/lock", body: []byte(`{"timeout_ms": 300}`), want: 200, check: l.got, sleep: 400 * time.Millisecond},
		bad("lock timeout 0", "POST", "/v1/cache/job:9/lock", []byte(`{"timeout_ms":0}`)),
		bad("lock timeout negative", "POST", "/v1/cache/job:9/lock", []byte(`{"timeout_ms":-1}`)),
		bad("lock timeout float", "POST", "/v1/cache/job:9/lock", []byte(`{"timeout_ms":1.5}`)),
		bad("lock timeout string", "POST", "/v1/cache/job:9/lock", []byte(`{"timeout_ms":"100"}`)),
		bad("lock timeout too long", "POST", "/v1/cache/job:9/lock", []byte(`{"timeout_ms":3600001}`)),
		bad("lock unknown field", "POST", "/v1/cache/job:9/lock", []byte(`{"timeout":100}`)),
		bad("lock malformed", "POST", "/v1/cache/job:9/lock", []byte(`{"timeout_ms":`)),
		bad("lock trailing", "POST", "/v1/cache/job:9/lock", []byte(`{"timeout_ms":5} x`)),
		bad("lock not an object", "POST", "/v1/cache/job:9/lock", []byte(`"x"`)),
		{name: "lock body too large", method: "POST", path: "/v1/cache/job:9/lock", body: bytes.Repeat([]byte(" "), 4096), want: 413, check: isError},

		bad("query on get (an unencoded '?' in a key)", "GET", "/v1/cache/ns?f1:args", nil),
		bad("query on put", "PUT", "/v1/cache/ns?f2:args", []byte("v")),
		bad("empty query", "GET", "/v1/cache/ns?", nil),
		bad("query on ttl", "GET", "/v1/cache/ns/ttl?x=1", nil),
		bad("query on lock", "POST", "/v1/cache/ns/lock?lock_id=x", nil),
		bad("other query on lock release", "DELETE", "/v1/cache/ns/lock?id=x", nil),
		bad("extra query on lock release", "DELETE", "/v1/cache/ns/lock?lock_id=x&y=1", nil),
		{name: "the ? key was not stored under its prefix", method: "GET", path: "/v1/cache/ns", want: 404},
		bad("key with ..", "GET", "/v1/cache/a..b", nil),
		bad("key with space", "GET", "/v1/cache/a%20b", nil),
		bad("key with encoded slash", "GET", "/v1/cache/a%2Fb", nil),
		bad("key with plus", "GET", "/v1/cache/a+b", nil),
		bad("key with brace", "PUT", "/v1/cache/a%7Bb%7D", []byte("v")),
		bad("key with unicode", "GET", "/v1/cache/%C3%A9", nil),
		bad("key too long", "PUT", "/v1/cache/"+long+"k", []byte("v")),
		bad("lock on bad key", "POST", "/v1/cache/a..b/lock", nil),
		{name: "reserved key health", method: "PUT", path: "/v1/cache/health", body: []byte("v"), want: 405, check: both(isError, headerIs("Allow", "GET, HEAD"))},
		{name: "lock on key health is fine", method: "POST", path: "/v1/cache/health/lock", want: 200},
		{name: "key of max length", method: "PUT", path: "/v1/cache/" + long, body: []byte("v"), want: 200},
		{name: "key charset", method: "PUT", path: "/v1/cache/Az09_.:-x", body: []byte("v"), want: 200},

		{name: "method not allowed on entry", method: "POST", path: "/v1/cache/k", want: 405, check: headerIs("Allow", "GET, HEAD, PUT, DELETE")},
		{name: "method not allowed on lock", method: "PUT", path: "/v1/cache/k/lock", want: 405, check: headerIs("Allow", "POST, DELETE")},
		{name: "method not allowed on ttl", method: "DELETE", path: "/v1/cache/k/ttl", want: 405, check: headerIs("Allow", "GET, PATCH")},
		{name: "unknown sub-route", method: "GET", path: "/v1/cache/k/other", want: 404, check: isError},
		{name: "trailing slash is not the key", method: "PUT", path: "/v1/cache/k/", body: []byte("v"), want: 404, check: isError},
		{name: "trailing slash cannot store key health", method: "PUT", path: "/v1/cache/health/", body: []byte("v"), want: 404, check: isError},
		{name: "trailing slash after a sub-route", method: "GET", path: "/v1/cache/k/ttl/", want: 404, check: isError},
		{name: "encoded health is the health route", apiKey: "-", method: "GET", path: "/v1/cache/%68ealth", want: 200},
		{name: "encoded slash in the sub-route is not the sub-route", method: "GET", path: "/v1/cache/k%2Fttl", want: 400, check: isError},
		{name: "double-encoded dots stay refused", method: "GET", path: "/v1/cache/%252E%252E", want: 400, check: isError},
		{name: "encoded dots are dots", method: "GET", path: "/v1/cache/%2E%2E", want: 400, check: isError},
		{name: "empty segment", method: "GET", path: "/v1/cache//ttl", want: 400, check: isError},
		{name: "unknown route", method: "GET", path: "/v2/cache/k", want: 404, check: isError},
		{name: "empty key", method: "GET", path: "/v1/cache/", want: 400, check: isError},

		{name: "no API key", apiKey: "-", method: "GET", path: "/v1/cache/t", want: 401, check: both(isError, headerIs("WWW-Authenticate", `Bearer realm="cachekitd"`))},
		{name: "unknown API key", apiKey: "ck_test_unknown0123456789abcd", method: "GET", path: "/v1/cache/t", want: 401, check: isError},
		{name: "unknown API key without prefix", apiKey: "sk_acme0123456789abcdef0000", method: "GET", path: "/v1/cache/t", want: 401, check: isError},
		{name: "a ck_sdk_ key of another tenant", apiKey: keySDK, method: "GET", path: "/v1/cache/t", want: 404},
		{name: "Basic scheme", apiKey: "-", method: "GET", path: "/v1/cache/t", hdr: []string{"Authorization", "Basic " + keyAcme}, want: 401, check: isError},
		{name: "lowercase bearer", apiKey: "-", method: "GET", path: "/v1/cache/t", hdr: []string{"Authorization", "bearer " + keyAcme}, want: 200},
		{name: "auth before key validation", apiKey: "-", method: "GET", path: "/v1/cache/a..b", want: 401},

		{name: "value too large (declared length)", method: "PUT", path: "/v1/cache/big", body: make([]byte, 4097), want: 413, check: isError},
		{name: "value at the limit", method: "PUT", path: "/v1/cache/big", body: make([]byte, 4096), want: 200},

		{name: "put with stale window", method: "PUT", path: "/v1/cache/s", body: []byte("old"), hdr: []string{"X-CacheKit-TTL", "1", "X-CacheKit-Stale-TTL", "60"}, want: 200},
		{name: "put without stale window", method: "PUT", path: "/v1/cache/n", body: []byte("gone"), hdr: []string{"X-CacheKit-TTL", "1"}, want: 200},
		{name: "fresh", method: "GET", path: "/v1/cache/s", want: 200, check: both(bodyIs([]byte("old")), headerIs("X-CacheKit-Freshness", "fresh"), freshForIn(0, 1))},
		{name: "stale after ttl", method: "GET", path: "/v1/cache/s", want: 200, sleep: 1100 * time.Millisecond, check: both(bodyIs([]byte("old")), headerIs("X-CacheKit-Freshness", "stale"), freshForIn(0, 0))},
		{name: "head stale", method: "HEAD", path: "/v1/cache/s", want: 200, check: both(headerIs("X-CacheKit-Freshness", "stale"), freshForIn(0, 0))},
		{name: "ttl of stale entry", method: "GET", path: "/v1/cache/s/ttl", want: 200, check: both(ttlIn(0, 0), headerIs("X-CacheKit-Freshness", "stale"))},
		{name: "expired without window", method: "GET", path: "/v1/cache/n", want: 404},
		{name: "refresh stale entry", method: "PATCH", path: "/v1/cache/s/ttl", body: []byte(`{"ttl":30}`), want: 204},
		{name: "fresh again", method: "GET", path: "/v1/cache/s", want: 200, check: both(headerIs("X-CacheKit-Freshness", "fresh"), freshForIn(28, 30))},
		{name: "health under /health", apiKey: "-", method: "GET", path: "/health", want: 200},
		{name: "health checks a presented key", method: "GET", path: "/v1/cache/health", want: 200},
		{name: "health refuses an unknown key", apiKey: "ck_test_unknown0123456789abcd", method: "GET", path: "/v1/cache/health", want: 401, check: isError},
		{name: "health refuses an unknown key on every path", apiKey: "ck_test_unknown0123456789abcd", method: "GET", path: "/health", want: 401, check: isError},
		{name: "metrics", apiKey: "-", method: "GET", path: "/metrics", want: 200, check: func(t *testing.T, r reply) {
			for _, s := range []string{`cachekitd_requests_total{op="get",code="200"}`, `cachekitd_requests_total{op="put",code="400"}`, "cachekitd_auth_failures_total 7", "cachekitd_request_duration_seconds_bucket"} {
				if !bytes.Contains(r.body, []byte(s)) {
					t.Errorf("metrics lack %s", s)
				}
			}
		}},
	}
}

// TestConformance walks every row and error of the API against each store.
func TestConformance(t *testing.T) {
	t.Parallel()
	for _, sc := range stores() {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			ts := newServer(t, sc.open(t, storeLimitsNone), func(c *server.Config) { c.MaxValueBytes = 4096 })
			l := &lockState{}
			for i, s := range conformanceSteps(l) {
				if s.sleep > 0 {
					time.Sleep(s.sleep)
				}
				key := s.apiKey
				switch key {
				case "":
					key = keyAcme
				case "-":
					key = ""
				}
				path := s.path
				hdr := s.hdr
				if s.method == "DELETE" && strings.HasSuffix(path, "/lock") && s.want == 204 {
					hdr = append([]string{"X-CacheKit-Lock-Id", l.id}, hdr...)
				}
				if strings.HasSuffix(path, "?lock_id=") {
					path += l.id
				}
				r := call(t, ts, key, s.method, path, s.body, hdr...)
				if r.status != s.want {
					t.Fatalf("row %d %q: %s %s = %d %q, want %d", i, s.name, s.method, s.path, r.status, r.body, s.want)
				}
				if s.check != nil {
					t.Run(strconv.Itoa(i)+" "+s.name, func(t *testing.T) { s.check(t, r) })
				}
			}
		})
	}
}

// TestCreatedStatusOption: by default a PUT answers 200 whether it creates or
// replaces (the managed service's answer); CreatedStatus 201 keeps the other
// form the API text allows.
func TestCreatedStatusOption(t *testing.T) {
	t.Parallel()
	st := stores()[0].open(t, storeLimitsNone)
	for _, tc := range []struct {
		status, create int
	}{{0, 200}, {201, 201}} {
		ts := newServer(t, st, func(c *server.Config) { c.CreatedStatus = tc.status })
		key := "/v1/cache/created" + strconv.Itoa(tc.status)
		if r := call(t, ts, keyAcme, "PUT", key, []byte("v")); r.status != tc.create {
			t.Errorf("CreatedStatus %d: creating PUT = %d, want %d", tc.status, r.status, tc.create)
		}
		if r := call(t, ts, keyAcme, "PUT", key, []byte("v")); r.status != 200 {
			t.Errorf("CreatedStatus %d: replacing PUT = %d, want 200", tc.status, r.status)
		}
	}
	if _, err := server.New(server.Config{Store: st, Keys: server.NewKeyring(), CreatedStatus: 204}); !errors.Is(err, server.ErrConfig) {
		t.Errorf("CreatedStatus 204 = %v, want ErrConfig", err)
	}
}

// TestChunkedValueTooLarge sends a value without Content-Length: the limit must
// hold while reading.
func TestChunkedValueTooLarge(t *testing.T) {
	t.Parallel()
	ts := newServer(t, stores()[0].open(t, storeLimitsNone), func(c *server.Config) { c.MaxValueBytes = 1024 })
	for _, tc := range []struct {
		size int
		want int
	}{{1024, 200}, {1025, 413}, {1 << 20, 413}} {
		req, _ := http.NewRequest("PUT", ts.URL+"/v1/cache/chunk"+strconv.Itoa(tc.size), struct{ *bytes.Reader }{bytes.NewReader(make([]byte, tc.size))})
		req.ContentLength = -1
		req.Header.Set("Authorization", "Bearer "+keyAcme)
		resp, err := ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("chunked PUT of %d bytes = %d, want %d", tc.size, resp.StatusCode, tc.want)
		}
	}
}

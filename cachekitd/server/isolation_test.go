package server_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/cachekitd/server"
	"github.com/cachekit-go/cachekit/cachekitd/store"
)

// TestTenantIsolation: the same cache key under two tenants is two entries,
// and nothing one tenant sends reaches the other's entries, locks or TTLs.
func TestTenantIsolation(t *testing.T) {
	t.Parallel()
	for _, sc := range stores() {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			// 201 for a created entry tells "new in this tenant" from "replaced".
			ts := newServer(t, sc.open(t, storeLimitsNone), func(c *server.Config) { c.CreatedStatus = http.StatusCreated })
			const p = "/v1/cache/shared:key"
			mustStatus := func(r reply, want int, what string) {
				t.Helper()
				if r.status != want {
					t.Fatalf("%s = %d %s, want %d", what, r.status, r.body, want)
				}
			}
			mustStatus(call(t, ts, keyAcme, "PUT", p, []byte("acme"), "X-CacheKit-TTL", "100"), 201, "acme PUT")
			mustStatus(call(t, ts, keyGlobex, "GET", p, nil), 404, "globex GET of acme's key")
			mustStatus(call(t, ts, keyGlobex, "HEAD", p, nil), 404, "globex HEAD")
			mustStatus(call(t, ts, keyGlobex, "GET", p+"/ttl", nil), 404, "globex TTL read")
			mustStatus(call(t, ts, keyGlobex, "PATCH", p+"/ttl", []byte(`{"ttl":5}`)), 404, "globex TTL refresh")
			mustStatus(call(t, ts, keyGlobex, "DELETE", p, nil), 404, "globex DELETE")
			mustStatus(call(t, ts, keyGlobex, "PUT", p, []byte("globex"), "X-CacheKit-TTL", "5"), 201, "globex PUT (a new entry)")
			if r := call(t, ts, keyAcme, "GET", p, nil); string(r.body) != "acme" {
				t.Fatalf("acme's value became %q", r.body)
			}
			if r := call(t, ts, keyGlobex, "GET", p, nil); string(r.body) != "globex" {
				t.Fatalf("globex's value is %q", r.body)
			}
			r := call(t, ts, keyAcme, "GET", p+"/ttl", nil)
			var v struct{ TTL int64 }
			if err := json.Unmarshal(r.body, &v); err != nil || v.TTL < 98 {
				t.Fatalf("acme's TTL changed: %s", r.body)
			}

			r = call(t, ts, keyAcme, "POST", p+"/lock", []byte(`{"timeout_ms":10000}`))
			var l struct {
				LockID *string `json:"lock_id"`
			}
			if err := json.Unmarshal(r.body, &l); err != nil || l.LockID == nil {
				t.Fatalf("acme lock: %s", r.body)
			}
			if r := call(t, ts, keyGlobex, "POST", p+"/lock", []byte(`{"timeout_ms":10000}`)); string(r.body) == `{"lock_id":null}` {
				t.Fatal("globex's lock on the same key is contested by acme's lock")
			}
			mustStatus(call(t, ts, keyGlobex, "DELETE", p+"/lock", nil, "X-CacheKit-Lock-Id", *l.LockID), 404, "globex releasing acme's lock with acme's id")
			if r := call(t, ts, keyAcme, "POST", p+"/lock", nil); string(r.body) != `{"lock_id":null}` {
				t.Fatalf("acme's lock was released by another tenant: %s", r.body)
			}
			mustStatus(call(t, ts, keyAcme, "DELETE", p+"/lock", nil, "X-CacheKit-Lock-Id", *l.LockID), 204, "acme release")
		})
	}
}

// TestTenantLimitsEvictOwnEntries: past its entry or byte limit a tenant loses
// its own oldest entries, never another tenant's.
func TestTenantLimitsEvictOwnEntries(t *testing.T) {
	t.Parallel()
	for _, sc := range stores() {
		for _, lim := range []struct {
			name string
			l    store.Limits
		}{
			{"entries", store.Limits{MaxEntries: 3}},
			{"bytes", store.Limits{MaxBytes: 3 * store.EntrySize(2, 100)}},
		} {
			t.Run(sc.name+"/"+lim.name, func(t *testing.T) {
				t.Parallel()
				ts := newServer(t, sc.open(t, lim.l), nil)
				value := make([]byte, 100)
				if r := call(t, ts, keyGlobex, "PUT", "/v1/cache/k0", value); r.status != 200 {
					t.Fatalf("globex PUT = %d", r.status)
				}
				for i := range 5 {
					if r := call(t, ts, keyAcme, "PUT", "/v1/cache/k"+strconv.Itoa(i), value); r.status != 200 {
						t.Fatalf("acme PUT k%d = %d %s", i, r.status, r.body)
					}
				}
				for i := range 5 {
					want := 200
					if i < 2 {
						want = 404
					}
					if r := call(t, ts, keyAcme, "HEAD", "/v1/cache/k"+strconv.Itoa(i), nil); r.status != want {
						t.Errorf("acme k%d = %d, want %d", i, r.status, want)
					}
				}
				if r := call(t, ts, keyGlobex, "GET", "/v1/cache/k0", nil); r.status != 200 {
					t.Errorf("globex's entry was evicted by acme's writes: %d", r.status)
				}
				if lim.l.MaxBytes > 0 {
					if r := call(t, ts, keyAcme, "PUT", "/v1/cache/huge", make([]byte, 1000)); r.status != 413 {
						t.Errorf("value over the tenant byte limit = %d, want 413", r.status)
					}
				}
			})
		}
	}
}

// TestRateLimit: past the per-key rate a request gets 429 with Retry-After;
// other keys and other tenants keep their own budgets.
func TestRateLimit(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { return now }
	ts := newServer(t, stores()[0].open(t, storeLimitsNone), func(c *server.Config) {
		c.RateLimit, c.RateBurst, c.Now = 0.5, 2, clock
	})
	for i := range 2 {
		if r := call(t, ts, keyAcme, "GET", "/v1/cache/hot", nil); r.status != 404 {
			t.Fatalf("request %d = %d, want 404 (within burst)", i, r.status)
		}
	}
	r := call(t, ts, keyAcme, "PUT", "/v1/cache/hot", []byte("v"))
	if r.status != 429 {
		t.Fatalf("third request = %d, want 429", r.status)
	}
	if ra, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || ra != 2 {
		t.Fatalf("Retry-After = %q, want 2 (one token at 0.5/s)", r.header.Get("Retry-After"))
	}
	if r := call(t, ts, keyAcme, "GET", "/v1/cache/hot", nil); r.status != 429 {
		t.Fatalf("GET after = %d, want 429 (the PUT was not stored either)", r.status)
	}
	if r := call(t, ts, keyAcme, "GET", "/v1/cache/cold", nil); r.status != 404 {
		t.Fatalf("other key = %d, want 404", r.status)
	}
	if r := call(t, ts, keyGlobex, "GET", "/v1/cache/hot", nil); r.status != 404 {
		t.Fatalf("other tenant = %d, want 404", r.status)
	}
	now = now.Add(2 * time.Second)
	if r := call(t, ts, keyAcme, "GET", "/v1/cache/hot", nil); r.status != 404 {
		t.Fatalf("after refill = %d, want 404", r.status)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	st := stores()[0].open(t, storeLimitsNone)
	keys := server.NewKeyring()
	for _, cfg := range []server.Config{
		{Keys: keys},
		{Store: st},
		{Store: st, Keys: keys, DefaultTTL: 1500 * time.Millisecond},
		{Store: st, Keys: keys, DefaultTTL: server.MaxTTL + time.Second},
		{Store: st, Keys: keys, DefaultLockTimeout: time.Hour, MaxLockTimeout: time.Minute},
		{Store: st, Keys: keys, RateLimit: -1},
	} {
		if _, err := server.New(cfg); !errors.Is(err, server.ErrConfig) {
			t.Errorf("New(%+v) accepted a bad configuration", cfg)
		}
	}
}

package server_test

import (
	"log/slog"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/cachekitd/server"
	"github.com/cachekit-go/cachekit/cachekitd/store"
)

// TestNoExpiryDefault: with the default TTL set to NoExpiry (--default-ttl 0)
// a PUT without a TTL header stores an entry that never expires, reported as
// {"ttl": null}; TTL headers, refreshes and the 400 for a TTL header of 0 keep
// working as before. Against every store.
func TestNoExpiryDefault(t *testing.T) {
	t.Parallel()
	for _, sc := range stores() {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			ts := newServer(t, sc.open(t, storeLimitsNone), func(c *server.Config) { c.DefaultTTL = server.NoExpiry })
			steps := []step{
				{name: "put without ttl", method: "PUT", path: "/v1/cache/forever", body: []byte("v"), want: 200},
				{name: "ttl is null", method: "GET", path: "/v1/cache/forever/ttl", want: 200, check: bodyText(`{"ttl":null}`)},
				{name: "get has no freshness", method: "GET", path: "/v1/cache/forever", want: 200, check: both(bodyIs([]byte("v")), headerAbsent("X-CacheKit-Freshness"), headerAbsent("X-CacheKit-Fresh-For"))},
				{name: "head hit", method: "HEAD", path: "/v1/cache/forever", want: 200, check: both(headerAbsent("X-CacheKit-Freshness"), headerAbsent("X-CacheKit-Fresh-For"))},
				{name: "ttl header still applies", method: "PUT", path: "/v1/cache/forever", body: []byte("v2"), hdr: []string{"X-CacheKit-TTL", "60"}, want: 200},
				{name: "ttl from header", method: "GET", path: "/v1/cache/forever/ttl", want: 200, check: ttlIn(58, 60)},
				{name: "get with expiry has fresh-for", method: "GET", path: "/v1/cache/forever", want: 200, check: freshForIn(58, 60)},
				{name: "overwrite without ttl removes the expiry", method: "PUT", path: "/v1/cache/forever", body: []byte("v3"), want: 200},
				{name: "ttl null again", method: "GET", path: "/v1/cache/forever/ttl", want: 200, check: bodyText(`{"ttl":null}`)},
				{name: "refresh gives an expiry", method: "PATCH", path: "/v1/cache/forever/ttl", body: []byte(`{"ttl":90}`), want: 204},
				{name: "ttl after refresh", method: "GET", path: "/v1/cache/forever/ttl", want: 200, check: ttlIn(88, 90)},
				{name: "stale ttl without ttl is moot", method: "PUT", path: "/v1/cache/nostale", body: []byte("v"), hdr: []string{"X-CacheKit-Stale-TTL", "30"}, want: 200},
				{name: "never stale", method: "GET", path: "/v1/cache/nostale/ttl", want: 200, check: both(bodyText(`{"ttl":null}`), headerIs("X-CacheKit-Freshness", ""))},
				{name: "ttl header 0 is still a 400", method: "PUT", path: "/v1/cache/zero", body: []byte("v"), hdr: []string{"X-CacheKit-TTL", "0"}, want: 400, check: isError},
				{name: "X-TTL 0 is still a 400", method: "PUT", path: "/v1/cache/zero", body: []byte("v"), hdr: []string{"X-TTL", "0"}, want: 400, check: isError},
				{name: "delete", method: "DELETE", path: "/v1/cache/forever", want: 204},
				{name: "gone", method: "GET", path: "/v1/cache/forever/ttl", want: 404},
			}
			for i, s := range steps {
				r := call(t, ts, keyAcme, s.method, s.path, s.body, s.hdr...)
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

// TestNoExpiryTenantDefault: a keys-file line with default_ttl=0 gives that
// tenant no-expiry entries while the server default (1 h) applies to others.
func TestNoExpiryTenantDefault(t *testing.T) {
	t.Parallel()
	st := stores()[0].open(t, storeLimitsNone)
	keys := server.NewKeyring()
	file := "forever " + server.HashKey(keyAcme) + " default_ttl=0\nhourly " + server.HashKey(keyGlobex) + "\n"
	if err := keys.LoadKeysFile(strings.NewReader(file)); err != nil {
		t.Fatal(err)
	}
	if tn, ok := keys.Lookup(keyAcme); !ok || tn.DefaultTTL != server.NoExpiry {
		t.Fatalf("default_ttl=0 gave %+v", tn)
	}
	h, err := server.New(server.Config{Store: st, Keys: keys, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	for _, k := range []string{keyAcme, keyGlobex} {
		if r := call(t, ts, k, "PUT", "/v1/cache/k", []byte("v")); r.status != 200 {
			t.Fatalf("PUT = %d %s", r.status, r.body)
		}
	}
	bodyText(`{"ttl":null}`)(t, call(t, ts, keyAcme, "GET", "/v1/cache/k/ttl", nil))
	ttlIn(3598, 3600)(t, call(t, ts, keyGlobex, "GET", "/v1/cache/k/ttl", nil))
}

// TestLimitsCountNoExpiryAndRefreshedEntries: per-tenant limits hold for
// entries without expiry and for entries whose TTL was refreshed past their
// first expiry (the Redis store's tenant index must follow the refresh, or it
// forgets the entry at its old expiry and stops counting it).
func TestLimitsCountNoExpiryAndRefreshedEntries(t *testing.T) {
	t.Parallel()
	for _, sc := range stores() {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			ts := newServer(t, sc.open(t, store.Limits{MaxEntries: 2}), func(c *server.Config) { c.DefaultTTL = server.NoExpiry })
			put := func(key string, hdr ...string) {
				t.Helper()
				if r := call(t, ts, keyAcme, "PUT", "/v1/cache/"+key, []byte("v"), hdr...); r.status != 200 {
					t.Fatalf("PUT %s = %d %s", key, r.status, r.body)
				}
			}
			live := func(keys ...string) (n int) {
				t.Helper()
				for _, k := range keys {
					if call(t, ts, keyAcme, "HEAD", "/v1/cache/"+k, nil).status == 200 {
						n++
					}
				}
				return n
			}
			// No expiry: the third entry evicts the first.
			put("f1")
			put("f2")
			put("f3")
			if live("f1") != 0 || live("f2", "f3") != 2 {
				t.Fatalf("no-expiry entries: want f1 evicted and f2, f3 kept")
			}
			// Refreshed past its first expiry, an entry still counts.
			if r := call(t, ts, keyAcme, "DELETE", "/v1/cache/f2", nil); r.status != 204 {
				t.Fatalf("DELETE f2 = %d", r.status)
			}
			if r := call(t, ts, keyAcme, "DELETE", "/v1/cache/f3", nil); r.status != 204 {
				t.Fatalf("DELETE f3 = %d", r.status)
			}
			put("r", "X-CacheKit-TTL", "1")
			if r := call(t, ts, keyAcme, "PATCH", "/v1/cache/r/ttl", []byte(`{"ttl":60}`)); r.status != 204 {
				t.Fatalf("PATCH = %d %s", r.status, r.body)
			}
			time.Sleep(1200 * time.Millisecond) // past r's first expiry
			put("a", "X-CacheKit-TTL", "60")
			put("b", "X-CacheKit-TTL", "60")
			if n := live("r", "a", "b"); n != 2 {
				t.Fatalf("%d live entries, want the limit of 2 (the refreshed entry was not counted)", n)
			}
			if live("r") != 0 {
				t.Fatal("want the refreshed entry, the oldest write and least recently used, evicted")
			}
		})
	}
}

func bodyText(want string) func(*testing.T, reply) {
	return func(t *testing.T, r reply) {
		t.Helper()
		if string(r.body) != want {
			t.Errorf("body = %q, want %q", r.body, want)
		}
	}
}

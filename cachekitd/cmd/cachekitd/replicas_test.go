package main

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/cachekitd/internal/testenv"
)

// TestTwoReplicasShareRedis runs two cachekitd processes on one Redis (and on
// one Cluster): a value written through one is read through the other, a lock
// taken through one is held for the other and released through it by id.
func TestTwoReplicasShareRedis(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, env string }{
		{"standalone", "CACHEKIT_TEST_REDIS_ADDR"},
		{"cluster", "CACHEKIT_TEST_REDIS_CLUSTER_ADDRS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			addrs := testenv.Require(t, tc.env)
			prefix := "ckdrep-" + strings.ToLower(rand.Text()[:8])
			env := []string{"CACHEKITD_API_KEYS=acme=" + testKey, "CACHEKITD_REDIS_ADDRS=" + addrs, "CACHEKITD_REDIS_PREFIX=" + prefix}
			a := start(t, env, "--store", "redis")
			b := start(t, env, "--store", "redis")
			c := &http.Client{Timeout: 10 * time.Second}
			ua, ub := "http://"+a.addr+"/v1/cache/", "http://"+b.addr+"/v1/cache/"

			if r := do(t, c, "PUT", ua+"shared:1", testKey, []byte("from a"), "X-CacheKit-TTL", "60", "X-CacheKit-Stale-TTL", "30"); r.status != 200 {
				t.Fatalf("PUT via a = %d %s", r.status, r.body)
			}
			if r := do(t, c, "GET", ub+"shared%3A1", testKey, nil); r.status != 200 || string(r.body) != "from a" || r.header.Get("X-CacheKit-Freshness") != "fresh" {
				t.Fatalf("GET via b = %d %q %v", r.status, r.body, r.header)
			}
			if r := do(t, c, "PUT", ub+"shared:1", testKey, []byte("from b")); r.status != 200 {
				t.Fatalf("overwrite via b = %d, want 200", r.status)
			}
			if r := do(t, c, "GET", ua+"shared:1", testKey, nil); string(r.body) != "from b" {
				t.Fatalf("GET via a after b wrote = %q", r.body)
			}

			r := do(t, c, "POST", ua+"job/lock", testKey, []byte(`{"timeout_ms":20000}`))
			var l struct {
				LockID *string `json:"lock_id"`
			}
			if err := json.Unmarshal(r.body, &l); err != nil || r.status != 200 || l.LockID == nil {
				t.Fatalf("lock via a = %d %s", r.status, r.body)
			}
			if r := do(t, c, "POST", ub+"job/lock", testKey, []byte(`{"timeout_ms":20000}`)); r.status != 200 || string(r.body) != `{"lock_id":null}` {
				t.Fatalf("lock via b while a holds it = %d %s, want contested", r.status, r.body)
			}
			if r := do(t, c, "DELETE", ub+"job/lock", testKey, nil, "X-CacheKit-Lock-Id", "wrong"); r.status != 404 {
				t.Fatalf("release via b with a wrong id = %d, want 404", r.status)
			}
			if r := do(t, c, "DELETE", ub+"job/lock", testKey, nil, "X-CacheKit-Lock-Id", *l.LockID); r.status != 204 {
				t.Fatalf("release via b with a's id = %d, want 204", r.status)
			}
			if r := do(t, c, "POST", ub+"job/lock", testKey, []byte(`{"timeout_ms":20000}`)); r.status != 200 || string(r.body) == `{"lock_id":null}` {
				t.Fatalf("lock via b after release = %d %s", r.status, r.body)
			}
			if r := do(t, c, "DELETE", ua+"shared:1", testKey, nil); r.status != 204 {
				t.Fatalf("DELETE via a = %d", r.status)
			}
			if r := do(t, c, "HEAD", ub+"shared:1", testKey, nil); r.status != 404 {
				t.Fatalf("HEAD via b after delete = %d", r.status)
			}
		})
	}
}

// TestSlowClientIsCutOff: a client that sends its headers slowly loses its
// connection after --read-header-timeout, so it cannot hold the server.
func TestSlowClientIsCutOff(t *testing.T) {
	t.Parallel()
	p := start(t, []string{"CACHEKITD_API_KEYS=acme=" + testKey}, "--read-header-timeout", "300ms", "--read-timeout", "1s")
	conn, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /v1/cache/k HTTP/1.1\r\nHost: x\r\n"); err != nil {
		t.Fatal(err)
	}
	// Trickle a header byte now and then, never finishing the block.
	defer trickle(conn, 100*time.Millisecond, "X")()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the server kept a slow client's connection open for 10s")
	}
	// The server closes silently or answers 400/408 and closes (net/http
	// reports a header block cut by its deadline as a bad request).
	if len(got) > 0 && !bytes.HasPrefix(got, []byte("HTTP/1.1 408")) && !bytes.HasPrefix(got, []byte("HTTP/1.1 400")) {
		t.Fatalf("slow client got %q", got)
	}
	// The server is still serving others.
	if r := do(t, &http.Client{Timeout: 5 * time.Second}, "GET", "http://"+p.addr+"/health", "", nil); r.status != 200 {
		t.Fatalf("health after slow client = %d", r.status)
	}
}

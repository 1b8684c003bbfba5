package server_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func lockID(t *testing.T, r reply) (string, bool) {
	t.Helper()
	var v struct {
		LockID *string `json:"lock_id"`
	}
	if r.status != 200 {
		t.Fatalf("lock = %d %s", r.status, r.body)
	}
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("lock body %q: %v", r.body, err)
	}
	if v.LockID == nil {
		return "", false
	}
	return *v.LockID, true
}

// TestExpiredHolderCannotReleaseNewLease: once A's lease has expired and B
// holds the lock, A's release (with A's id) must not remove B's lock, the
// race that a non-atomic check-then-delete gets wrong.
func TestExpiredHolderCannotReleaseNewLease(t *testing.T) {
	t.Parallel()
	for _, sc := range stores() {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			ts := newServer(t, sc.open(t, storeLimitsNone), nil)
			const p = "/v1/cache/job:lease/lock"
			a, ok := lockID(t, call(t, ts, keyAcme, "POST", p, []byte(`{"timeout_ms":200}`)))
			if !ok {
				t.Fatal("A did not get the lock")
			}
			time.Sleep(300 * time.Millisecond)
			b, ok := lockID(t, call(t, ts, keyAcme, "POST", p, []byte(`{"timeout_ms":10000}`)))
			if !ok || b == a {
				t.Fatalf("B after A's expiry: %q %v (A had %q)", b, ok, a)
			}
			if r := call(t, ts, keyAcme, "DELETE", p, nil, "X-CacheKit-Lock-Id", a); r.status != 404 {
				t.Fatalf("A's late release = %d, want 404", r.status)
			}
			if _, ok := lockID(t, call(t, ts, keyAcme, "POST", p, nil)); ok {
				t.Fatal("A's late release freed B's lock")
			}
			if r := call(t, ts, keyAcme, "DELETE", p, nil, "X-CacheKit-Lock-Id", b); r.status != 204 {
				t.Fatalf("B's release = %d, want 204", r.status)
			}
		})
	}
}

// TestLockMutualExclusion: many clients racing for one lock; at most one
// holds it at any time, and every holder's release succeeds.
func TestLockMutualExclusion(t *testing.T) {
	t.Parallel()
	for _, sc := range stores() {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			ts := newServer(t, sc.open(t, storeLimitsNone), nil)
			const u = "/v1/cache/job:mutex/lock"
			// send is call for goroutines: it reports failures instead of
			// stopping the test from a goroutine.
			send := func(method string, body []byte, hdr ...string) (int, []byte, error) {
				req, err := http.NewRequest(method, ts.URL+u, bytes.NewReader(body))
				if err != nil {
					return 0, nil, err
				}
				req.Header.Set("Authorization", "Bearer "+keyAcme)
				for i := 0; i+1 < len(hdr); i += 2 {
					req.Header.Set(hdr[i], hdr[i+1])
				}
				resp, err := ts.Client().Do(req)
				if err != nil {
					return 0, nil, err
				}
				defer resp.Body.Close()
				b, err := io.ReadAll(resp.Body)
				return resp.StatusCode, b, err
			}
			var holders, maxHolders, acquired atomic.Int32
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() {
					for range 15 {
						code, body, err := send("POST", []byte(`{"timeout_ms":10000}`))
						var v struct {
							LockID *string `json:"lock_id"`
						}
						if err != nil || code != 200 || json.Unmarshal(body, &v) != nil {
							t.Errorf("lock: %d %s %v", code, body, err)
							return
						}
						if v.LockID == nil {
							continue
						}
						acquired.Add(1)
						n := holders.Add(1)
						for {
							m := maxHolders.Load()
							if n <= m || maxHolders.CompareAndSwap(m, n) {
								break
							}
						}
						time.Sleep(time.Millisecond)
						holders.Add(-1)
						if code, _, err := send("DELETE", nil, "X-CacheKit-Lock-Id", *v.LockID); err != nil || code != 204 {
							t.Errorf("holder's release = %d %v, want 204", code, err)
						}
					}
				})
			}
			wg.Wait()
			if maxHolders.Load() != 1 || acquired.Load() == 0 {
				t.Fatalf("max simultaneous holders %d, acquisitions %d; want exactly one holder at a time", maxHolders.Load(), acquired.Load())
			}
		})
	}
}

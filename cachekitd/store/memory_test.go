package store

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"
)

// fakeClock is the only fake here: expiry needs time to pass.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newMem(t *testing.T, o MemoryOptions) (*Memory, *fakeClock) {
	t.Helper()
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	o.Now = clk.now
	o.SweepInterval = -1
	m := NewMemory(o)
	t.Cleanup(func() { m.Close() })
	return m, clk
}

var bg = context.Background()

func mustSet(t *testing.T, m *Memory, tenant, key string, n int, ttl, stale time.Duration) {
	t.Helper()
	if _, err := m.Set(bg, tenant, key, make([]byte, n), ttl, stale); err != nil {
		t.Fatalf("Set %s/%s: %v", tenant, key, err)
	}
}

func has(m *Memory, tenant, key string) bool {
	_, ok, _ := m.Stat(bg, tenant, key)
	return ok
}

func TestMemoryLRUEvictionPerTenant(t *testing.T) {
	t.Parallel()
	m, _ := newMem(t, MemoryOptions{Tenant: Limits{MaxEntries: 2}})
	mustSet(t, m, "a", "k1", 1, time.Hour, 0)
	mustSet(t, m, "a", "k2", 1, time.Hour, 0)
	mustSet(t, m, "b", "k1", 1, time.Hour, 0)
	if _, ok, _ := m.Get(bg, "a", "k1"); !ok { // k1 becomes the most recent
		t.Fatal("k1 missing")
	}
	mustSet(t, m, "a", "k3", 1, time.Hour, 0)
	if has(m, "a", "k2") || !has(m, "a", "k1") || !has(m, "a", "k3") || !has(m, "b", "k1") {
		t.Fatal("want a/k2 (least recently used) evicted and everything else kept")
	}
	if s := m.Stats(); s.Evictions != 1 || s.Entries != 3 {
		t.Fatalf("stats %+v", s)
	}
}

func TestMemoryGlobalBoundEvictsLargestTenant(t *testing.T) {
	t.Parallel()
	per := EntrySize(2, 1000)
	m, _ := newMem(t, MemoryOptions{MaxBytes: 4 * per})
	for i := range 3 {
		mustSet(t, m, "big", "k"+strconv.Itoa(i), 1000, time.Hour, 0)
	}
	mustSet(t, m, "small", "k0", 1000, time.Hour, 0)
	mustSet(t, m, "small", "k1", 1000, time.Hour, 0) // over the total by one entry
	if has(m, "big", "k0") || !has(m, "big", "k1") || !has(m, "small", "k0") || !has(m, "small", "k1") {
		t.Fatal("want the largest tenant's oldest entry evicted")
	}
	if s := m.Stats(); s.Bytes > 4*per {
		t.Fatalf("total %d over the bound %d", s.Bytes, 4*per)
	}
	if _, err := m.Set(bg, "x", "k", make([]byte, 5*per), time.Hour, 0); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("value over the total = %v, want ErrTooLarge", err)
	}
}

func TestMemoryExpiryAndStaleWindow(t *testing.T) {
	t.Parallel()
	m, clk := newMem(t, MemoryOptions{})
	mustSet(t, m, "a", "plain", 1, 10*time.Second, 0)
	mustSet(t, m, "a", "stale", 1, 10*time.Second, 30*time.Second)
	in, _, _ := m.Stat(bg, "a", "stale")
	if !in.HasStaleWindow || in.Stale || in.TTL != 10*time.Second {
		t.Fatalf("fresh info %+v", in)
	}
	clk.add(11 * time.Second)
	if has(m, "a", "plain") {
		t.Fatal("plain entry outlived its TTL")
	}
	e, ok, _ := m.Get(bg, "a", "stale")
	if !ok || !e.Stale || e.TTL != 0 {
		t.Fatalf("stale entry %+v %v", e.Info, ok)
	}
	if ok, _ := m.RefreshTTL(bg, "a", "stale", 5*time.Second); !ok {
		t.Fatal("refresh of a stale entry failed")
	}
	in, _, _ = m.Stat(bg, "a", "stale")
	if in.Stale || in.TTL != 5*time.Second || !in.HasStaleWindow {
		t.Fatalf("after refresh %+v", in)
	}
	clk.add(5*time.Second + 30*time.Second) // fresh 5 s + window 30 s: gone
	if has(m, "a", "stale") {
		t.Fatal("entry outlived its stale window")
	}
	if ok, _ := m.RefreshTTL(bg, "a", "stale", time.Second); ok {
		t.Fatal("refreshed an expired entry")
	}
}

func TestMemorySweepReclaimsUntouchedEntries(t *testing.T) {
	t.Parallel()
	m, clk := newMem(t, MemoryOptions{})
	for i := range 200 {
		mustSet(t, m, "a", "k"+strconv.Itoa(i), 10, time.Second, 0)
	}
	mustSet(t, m, "a", "keep", 10, time.Hour, 0)
	if _, ok, _ := m.AcquireLock(bg, "a", "l", time.Second); !ok {
		t.Fatal("lock")
	}
	clk.add(2 * time.Second)
	for range 20 {
		m.Sweep()
	}
	s := m.Stats()
	if s.Entries != 1 || s.Expired != 200 || s.Bytes != EntrySize(len("keep"), 10) {
		t.Fatalf("after sweeping: %+v", s)
	}
	p := m.part("a", false)
	p.mu.Lock()
	n := len(p.locks)
	p.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d expired locks left", n)
	}
}

func TestMemoryLocks(t *testing.T) {
	t.Parallel()
	m, clk := newMem(t, MemoryOptions{MaxLocksPerTenant: 2})
	id, ok, err := m.AcquireLock(bg, "a", "k", time.Second)
	if err != nil || !ok || id == "" {
		t.Fatal("first acquire", ok, err)
	}
	if _, ok, _ := m.AcquireLock(bg, "a", "k", time.Second); ok {
		t.Fatal("contested lock acquired")
	}
	if ok, _ := m.ReleaseLock(bg, "a", "k", id+"x"); ok {
		t.Fatal("released with a wrong id")
	}
	if ok, _ := m.ReleaseLock(bg, "b", "k", id); ok {
		t.Fatal("another tenant released it")
	}
	clk.add(time.Second)
	if ok, _ := m.ReleaseLock(bg, "a", "k", id); ok {
		t.Fatal("released an expired lease")
	}
	id2, ok, _ := m.AcquireLock(bg, "a", "k", time.Second)
	if !ok || id2 == id {
		t.Fatal("re-acquire after expiry must give a new id")
	}
	if _, ok, _ := m.AcquireLock(bg, "a", "k2", time.Second); !ok {
		t.Fatal("second lock")
	}
	if _, _, err := m.AcquireLock(bg, "a", "k3", time.Second); !errors.Is(err, ErrTooManyLocks) {
		t.Fatalf("third lock = %v, want ErrTooManyLocks", err)
	}
	clk.add(2 * time.Second)
	if _, ok, err := m.AcquireLock(bg, "a", "k3", time.Second); !ok || err != nil {
		t.Fatalf("expired locks must make room: %v %v", ok, err)
	}
}

func TestMemoryClosedAndCanceled(t *testing.T) {
	t.Parallel()
	m, _ := newMem(t, MemoryOptions{})
	ctx, cancel := context.WithCancel(bg)
	cancel()
	if _, _, err := m.Get(ctx, "a", "k"); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled Get = %v", err)
	}
	m.Close()
	if _, err := m.Set(bg, "a", "k", nil, time.Second, 0); !errors.Is(err, ErrClosed) {
		t.Fatalf("Set after Close = %v", err)
	}
	if err := m.Ping(bg); !errors.Is(err, ErrClosed) {
		t.Fatalf("Ping after Close = %v", err)
	}
}

// TestMemoryConcurrentAccounting hammers one store from many goroutines (run
// with -race) and checks that the byte and entry accounting returns to zero.
func TestMemoryConcurrentAccounting(t *testing.T) {
	t.Parallel()
	m := NewMemory(MemoryOptions{MaxBytes: 64 * (EntryOverhead + 100), Tenant: Limits{MaxEntries: 40}, SweepInterval: time.Millisecond})
	defer m.Close()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			tenant := "t" + strconv.Itoa(g%3)
			for i := range 500 {
				k := "k" + strconv.Itoa(i%70)
				switch i % 5 {
				case 0, 1:
					_, _ = m.Set(bg, tenant, k, make([]byte, i%90), time.Duration(1+i%3)*time.Millisecond, time.Millisecond)
				case 2:
					_, _, _ = m.Get(bg, tenant, k)
				case 3:
					_, _ = m.Delete(bg, tenant, k)
				case 4:
					if id, ok, _ := m.AcquireLock(bg, tenant, k, time.Millisecond); ok {
						_, _ = m.ReleaseLock(bg, tenant, k, id)
					}
				}
			}
		})
	}
	wg.Wait()
	if s := m.Stats(); s.Bytes > 64*(EntryOverhead+100) {
		t.Fatalf("over the bound: %+v", s)
	}
	for tn := range 3 {
		for i := range 70 {
			_, _ = m.Delete(bg, "t"+strconv.Itoa(tn), "k"+strconv.Itoa(i))
		}
	}
	if s := m.Stats(); s.Entries != 0 || s.Bytes != 0 {
		t.Fatalf("accounting drifted: %+v", s)
	}
}

// TestMemoryLockFloodIsBounded: locks count against the byte bounds like
// entries. A tenant flooding locks is refused once its locks alone would
// outgrow its byte limit, evicts only its own entries on the way, and every
// byte comes back when the locks are released or expire.
func TestMemoryLockFloodIsBounded(t *testing.T) {
	t.Parallel()
	const limit = 64 << 10
	m, clk := newMem(t, MemoryOptions{MaxBytes: 4 * limit, Tenant: Limits{MaxBytes: limit}})
	mustSet(t, m, "flood", "mine", 1000, time.Hour, 0)
	mustSet(t, m, "other", "theirs", 1000, time.Hour, 0)
	ids := map[string]string{}
	for i := 0; ; i++ {
		k := "lock:" + strconv.Itoa(i)
		id, ok, err := m.AcquireLock(bg, "flood", k, time.Hour)
		if errors.Is(err, ErrTooManyLocks) {
			break
		}
		if err != nil || !ok {
			t.Fatalf("lock %d: %v %v", i, ok, err)
		}
		ids[k] = id
		if i > limit {
			t.Fatal("locks are not bounded by the tenant's bytes")
		}
	}
	n := int64(len(ids))
	if n < limit/(LockOverhead+16)-2 || n > limit/LockOverhead {
		t.Fatalf("%d locks fit in %d bytes, want about %d", n, limit, limit/(LockOverhead+16))
	}
	if s := m.Stats(); s.Bytes > 2*limit {
		t.Fatalf("store bytes %d: locks are not charged (or over the bound)", s.Bytes)
	}
	if has(m, "flood", "mine") {
		t.Error("the flooding tenant's own entry survived its locks outgrowing its limit")
	}
	if !has(m, "other", "theirs") {
		t.Error("another tenant lost an entry to the lock flood")
	}
	half := 0
	for k, id := range ids {
		if half++; half > len(ids)/2 {
			break
		}
		if ok, _ := m.ReleaseLock(bg, "flood", k, id); !ok {
			t.Fatalf("release %s failed", k)
		}
	}
	if _, ok, err := m.AcquireLock(bg, "flood", "after-release", time.Hour); !ok || err != nil {
		t.Fatalf("released locks did not make room: %v %v", ok, err)
	}
	clk.add(2 * time.Hour) // the rest expire; the next acquire drops them
	if _, ok, err := m.AcquireLock(bg, "flood", "after-expiry", time.Second); !ok || err != nil {
		t.Fatalf("after expiry: %v %v", ok, err)
	}
	if s := m.Stats(); s.Bytes != EntrySize(len("theirs"), 1000)+allocSize(len("after-expiry"))+LockOverhead {
		t.Fatalf("bytes %d after expiry: the accounting drifted", s.Bytes)
	}
}

package l1

import (
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"
)

// With a coarse clock, Get reads the precise clock only for entries within
// the lag of their expiry, and expiry stays exact: an entry far from its
// expiry is served on the coarse reading alone, one near it is checked
// against the precise clock.
func TestCoarseExpiry(t *testing.T) {
	t.Parallel()
	var now, coarse atomic.Int64
	var fineReads atomic.Int64
	now.Store(10_000)
	coarse.Store(9_000) // lags by 1000
	c := New[string](Options{MaxBytes: 1 << 20,
		Now:    func() int64 { fineReads.Add(1); return now.Load() },
		Coarse: coarse.Load, CoarseLag: 2_000})
	c.Set("far", "v", 1, 50_000)
	c.Set("near", "v", 1, 10_500)
	fineReads.Store(0)
	if _, ok := c.Get("far"); !ok || fineReads.Load() != 0 {
		t.Fatalf("far entry: ok %v, %d precise reads, want a hit on the coarse clock", ok, fineReads.Load())
	}
	if _, ok := c.Get("near"); !ok || fineReads.Load() != 1 {
		t.Fatalf("near entry: ok %v, %d precise reads, want a hit checked on the precise clock", ok, fineReads.Load())
	}
	now.Store(10_500) // the coarse clock still says 9_000
	if _, ok := c.Get("near"); ok {
		t.Fatal("entry served past its expiry while the coarse clock lagged")
	}
	if _, ok := c.Get("far"); !ok {
		t.Fatal("far entry lost")
	}
}

// GetHashed finds a key under its Hash and nothing under another hash.
func TestGetHashed(t *testing.T) {
	t.Parallel()
	c, _ := newTest(1 << 20)
	c.Set("k", "v", 1, 0)
	if v, _, ok := c.GetHashed(c.Hash("k"), "k"); !ok || v != "v" {
		t.Fatalf("GetHashed = %q, %v", v, ok)
	}
	if _, _, ok := c.GetHashed(c.Hash("k")+1, "k"); ok {
		t.Fatal("found under a wrong hash")
	}
}

// Lock-free readers racing writers that overwrite, delete, change expiry,
// grow the tables and evict never see a value that was not written for the
// key, and a key that stays present is always found (a table resize under
// a reader makes it look again under the lock). Run with -race.
func TestConcurrentGetSetEvictGrow(t *testing.T) {
	t.Parallel()
	for _, budget := range []int64{64 << 20, 256 << 10} { // growth only; growth and eviction
		evicting := budget < 1<<20
		c := New[string](Options{MaxBytes: budget, Shards: 2, Now: func() int64 { return 1 }})
		// Pinned keys are set once and never written again: without
		// eviction readers must always find them, across resizes.
		const pinned = 64
		for i := range pinned {
			k := "pin-" + strconv.Itoa(i)
			c.Set(k, k, 1, 0)
		}
		var stop atomic.Bool
		var readers, writers sync.WaitGroup
		for g := range 4 {
			readers.Add(1)
			go func() {
				defer readers.Done()
				for i := 0; !stop.Load(); i++ {
					k := "pin-" + strconv.Itoa(i%pinned)
					if v, ok := c.Get(k); (!ok && !evicting) || (ok && v != k) {
						t.Errorf("pinned %s: %q, %v", k, v, ok)
						return
					}
					k = "k-" + strconv.Itoa((i*(g+1))%5000)
					if v, ok := c.Get(k); ok && v != k && v != k+"'" {
						t.Errorf("%s holds %q", k, v)
						return
					}
				}
			}()
		}
		for g := range 2 {
			writers.Add(1)
			go func() {
				defer writers.Done()
				for i := range 15_000 {
					k := "k-" + strconv.Itoa((i*7+g)%5000)
					switch i % 6 {
					case 0:
						c.Delete(k)
					case 1:
						c.SetExpiry(k, 0)
					case 2:
						c.Update(k, func(v *string) { *v = k + "'" })
					default:
						c.Set(k, k, 100, 0)
					}
				}
			}()
		}
		writers.Wait()
		stop.Store(true)
		readers.Wait()
		for i := range c.shards {
			s := &c.shards[i]
			if tableLen(s) != s.count || s.small.n+s.main.n != s.count {
				t.Fatalf("budget %d shard %d: table %d, count %d, queues %d", budget, i, tableLen(s), s.count, s.small.n+s.main.n)
			}
			if !evicting && len(s.tab.Load().buckets) <= minBuckets {
				t.Fatalf("shard %d never grew its table (%d buckets, %d entries)", i, len(s.tab.Load().buckets), s.count)
			}
		}
		if evicting && c.Evictions() == 0 {
			t.Fatal("the small cache never evicted")
		}
	}
}

// Key returns L1's own string for a key it holds, and the argument for one
// it does not.
func TestKeyReturnsStoredString(t *testing.T) {
	t.Parallel()
	c, _ := newTest(1 << 20)
	stored := strings.Repeat("k", 40)
	c.Set(stored, "v", 1, 0)
	other := strings.Clone(stored)
	if got := c.Key(c.Hash(other), other); unsafe.StringData(got) != unsafe.StringData(stored) {
		t.Fatal("Key did not return the stored string")
	}
	absent := "absent"
	if got := c.Key(c.Hash(absent), absent); unsafe.StringData(got) != unsafe.StringData(absent) {
		t.Fatal("Key of an absent key is not its argument")
	}
}

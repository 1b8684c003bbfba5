package l1

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"
)

type fakeNow struct{ t atomic.Int64 }

func (f *fakeNow) now() int64 { return f.t.Load() }

func newTest(maxBytes int64) (*Cache[string], *fakeNow) {
	f := &fakeNow{}
	f.t.Store(1_000)
	return New[string](Options{MaxBytes: maxBytes, Now: f.now}), f
}

func TestGetSetDelete(t *testing.T) {
	t.Parallel()
	c, _ := newTest(1 << 20)
	if _, ok := c.Get("a"); ok {
		t.Fatal("hit on empty cache")
	}
	if !c.Set("a", "1", 1, 0) {
		t.Fatal("Set refused a small entry")
	}
	if v, ok := c.Get("a"); !ok || v != "1" {
		t.Fatalf("Get = %q, %v", v, ok)
	}
	c.Set("a", "2", 1, 0)
	if v, _ := c.Get("a"); v != "2" {
		t.Fatalf("overwrite: got %q", v)
	}
	if c.Len() != 1 {
		t.Fatalf("Len = %d after overwrite", c.Len())
	}
	if want := int64(1 + 1 + Overhead[string]()); c.Bytes() != want {
		t.Fatalf("Bytes = %d, want %d", c.Bytes(), want)
	}
	if !c.Delete("a") || c.Delete("a") {
		t.Fatal("Delete should report true once")
	}
	if c.Len() != 0 || c.Bytes() != 0 {
		t.Fatalf("after delete: Len %d Bytes %d", c.Len(), c.Bytes())
	}
}

func TestExpiry(t *testing.T) {
	t.Parallel()
	c, clk := newTest(1 << 20)
	c.Set("k", "v", 1, 2_000)
	if _, exp, ok := c.GetWithExpiry("k"); !ok || exp != 2_000 {
		t.Fatalf("GetWithExpiry = %d, %v", exp, ok)
	}
	clk.t.Store(2_000)
	if _, ok := c.Get("k"); ok {
		t.Fatal("expired entry returned")
	}
	if c.Len() != 0 {
		t.Fatal("expired entry not dropped on read")
	}
	if c.Set("old", "v", 1, 1_500) {
		t.Fatal("Set accepted an already expired entry")
	}
	c.Set("r", "v", 1, 2_500)
	if !c.SetExpiry("r", 0) {
		t.Fatal("SetExpiry on live entry failed")
	}
	clk.t.Store(1 << 40)
	if _, ok := c.Get("r"); !ok {
		t.Fatal("entry with cleared expiry expired")
	}
	if c.SetExpiry("missing", 1) {
		t.Fatal("SetExpiry on missing key reported true")
	}
}

func TestByteBound(t *testing.T) {
	t.Parallel()
	const budget = 64 << 10
	c, _ := newTest(budget)
	for i := range 10_000 {
		c.Set("key-"+strconv.Itoa(i), "x", 200, 0)
		if c.Bytes() > budget {
			t.Fatalf("after %d sets Bytes = %d > %d", i, c.Bytes(), budget)
		}
	}
	if c.Len() == 0 {
		t.Fatal("cache empty after filling")
	}
	if c.Set("huge", "x", budget, 0) {
		t.Fatal("entry larger than the budget accepted")
	}
	c.Set("k", "small", 1, 0)
	if c.Set("k", "big", budget, 0) {
		t.Fatal("oversized overwrite accepted")
	}
	if _, ok := c.Get("k"); ok {
		t.Fatal("oversized overwrite left the old value in place")
	}
}

// Frequently read entries survive a scan of one-hit wonders (S3-FIFO).
func TestScanResistance(t *testing.T) {
	t.Parallel()
	const per = 100
	c, _ := newTest(200 * (per + Overhead[string]() + 8))
	hot := make([]string, 20)
	for i := range hot {
		hot[i] = fmt.Sprintf("hot-%03d", i)
		c.Set(hot[i], "h", per, 0)
	}
	for range 3 {
		for _, k := range hot {
			c.Get(k)
		}
	}
	for i := range 5_000 {
		c.Set(fmt.Sprintf("scan-%05d", i), "s", per, 0)
		if i%50 == 0 {
			for _, k := range hot {
				c.Get(k)
			}
		}
	}
	kept := 0
	for _, k := range hot {
		if _, ok := c.Get(k); ok {
			kept++
		}
	}
	if kept < len(hot)*9/10 {
		t.Fatalf("only %d of %d hot entries survived a scan", kept, len(hot))
	}
}

// A key evicted from the small queue and inserted again goes to main.
func TestGhostReadmission(t *testing.T) {
	t.Parallel()
	const per = 100
	c, _ := newTest(10 * (per + Overhead[string]() + 8))
	c.Set("k-0000", "v", per, 0)
	for i := 1; i < 15; i++ {
		c.Set(fmt.Sprintf("k-%04d", i), "v", per, 0)
	}
	if _, ok := c.Get("k-0000"); ok {
		t.Fatal("first key should have been evicted")
	}
	c.Set("k-0000", "v", per, 0)
	s := c.shardOf(c.hash("k-0000"))
	s.mu.RLock()
	inMain := s.find(c.hash("k-0000"), "k-0000").inMain
	s.mu.RUnlock()
	if !inMain {
		t.Fatal("re-inserted ghost key not admitted to main")
	}
}

func TestUpdateAndDeleteFunc(t *testing.T) {
	t.Parallel()
	c, _ := newTest(1 << 20)
	for i := range 10 {
		c.Set("p:"+strconv.Itoa(i), "v", 1, 0)
		c.Set("q:"+strconv.Itoa(i), "v", 1, 0)
	}
	if !c.Update("p:1", func(v *string) { *v = "changed" }) {
		t.Fatal("Update on present key failed")
	}
	if v, _ := c.Get("p:1"); v != "changed" {
		t.Fatalf("Update not applied: %q", v)
	}
	if c.Update("nope", func(*string) {}) {
		t.Fatal("Update on missing key reported true")
	}
	n := c.DeleteFunc(func(k, _ string) bool { return k[0] == 'p' })
	if n != 10 || c.Len() != 10 {
		t.Fatalf("DeleteFunc removed %d, Len %d", n, c.Len())
	}
	c.Clear()
	if c.Len() != 0 || c.Bytes() != 0 {
		t.Fatal("Clear left entries")
	}
}

func TestShardCount(t *testing.T) {
	t.Parallel()
	tests := []struct {
		max    int64
		shards int
		want   int
	}{
		{1000, 0, 1},
		{100 << 20, 3, 2},
		{100 << 20, 16, 16},
	}
	for _, tt := range tests {
		c := New[int](Options{MaxBytes: tt.max, Shards: tt.shards})
		if len(c.shards) != tt.want {
			t.Errorf("max %d shards %d: got %d shards, want %d", tt.max, tt.shards, len(c.shards), tt.want)
		}
		if len(c.shards) > 1 && c.ShardBytes() < MinShardBytes && tt.shards == 0 {
			t.Errorf("shard budget %d below minimum", c.ShardBytes())
		}
	}
}

func TestGetDoesNotAllocate(t *testing.T) {
	c := New[string](Options{MaxBytes: 1 << 20})
	c.Set("key", "value", 5, 0)
	allocs := testing.AllocsPerRun(100, func() {
		if _, ok := c.Get("key"); !ok {
			t.Fatal("miss")
		}
	})
	if allocs != 0 {
		t.Fatalf("Get allocates %.1f times", allocs)
	}
}

func TestConcurrent(t *testing.T) {
	t.Parallel()
	c := New[int](Options{MaxBytes: 256 << 10, Shards: 4})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2_000 {
				k := strconv.Itoa((i * (g + 1)) % 500)
				switch i % 5 {
				case 0:
					c.Delete(k)
				case 1, 2:
					c.Set(k, i, 100, 0)
				default:
					if v, ok := c.Get(k); ok && v < 0 {
						t.Error("negative value")
					}
				}
			}
		}()
	}
	wg.Wait()
	if c.Bytes() > 256<<10 {
		t.Fatalf("Bytes %d over budget", c.Bytes())
	}
	var sum int64
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.each(func(nd *node[int]) {
			sum += nd.cost
			n++
		})
		if s.small.n+s.main.n != s.count || tableLen(s) != s.count {
			t.Fatalf("shard %d: queues hold %d, table %d (count %d)", i, s.small.n+s.main.n, tableLen(s), s.count)
		}
	}
	if sum != c.Bytes() || n != c.Len() {
		t.Fatalf("accounting drift: sum %d vs %d, n %d vs %d", sum, c.Bytes(), n, c.Len())
	}
}

func BenchmarkGet(b *testing.B) {
	c := New[string](Options{MaxBytes: 100 << 20})
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = "key-" + strconv.Itoa(i)
		c.Set(keys[i], "v", 10, 0)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			c.Get(keys[i&1023])
			i++
		}
	})
}

func BenchmarkSet(b *testing.B) {
	c := New[string](Options{MaxBytes: 1 << 20})
	keys := make([]string, 4096)
	for i := range keys {
		keys[i] = "key-" + strconv.Itoa(i)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		c.Set(keys[i&4095], "v", 500, 0)
	}
}

// An entry larger than the small queue's share still stays when the shard is
// full: its own insertion does not evict it.
func TestLargeEntryStaysWhenFull(t *testing.T) {
	t.Parallel()
	c, _ := newTest(100 << 10)
	for i := range 200 {
		c.Set("small-"+strconv.Itoa(i), "v", 500, 0)
	}
	if !c.Set("big", "v", 30<<10, 0) {
		t.Fatal("big entry refused")
	}
	if _, ok := c.Get("big"); !ok {
		t.Fatal("big entry evicted by its own insertion")
	}
	if c.Bytes() > 100<<10 {
		t.Fatalf("over budget: %d", c.Bytes())
	}
}

// A cyclic workload slightly larger than the cache sends every evicted key
// back through the ghost list; the ghost FIFO must stay bounded (it once grew
// by one slot per eviction, forever).
func TestGhostFIFOBounded(t *testing.T) {
	t.Parallel()
	const per = 100
	for _, nk := range []int{11, 12, 16, 20} {
		c, _ := newTest(10 * (per + Overhead[string]() + 8))
		keys := make([]string, nk)
		for i := range keys {
			keys[i] = fmt.Sprintf("k-%04d", i)
		}
		for range 2_000 {
			for _, k := range keys {
				c.Set(k, "v", per, 0)
			}
		}
		for i := range c.shards {
			g := &c.shards[i].ghost
			limit := max(c.shards[i].count, minGhost)
			if live := len(g.fifo) - g.head; live > 2*limit || len(g.set) > limit {
				t.Fatalf("%d keys: ghost holds %d slots, %d hashes (limit %d)", nk, live, len(g.set), limit)
			}
			if cap(g.fifo) > 8*limit {
				t.Fatalf("%d keys: ghost FIFO capacity %d for limit %d", nk, cap(g.fifo), limit)
			}
		}
	}
}

// A ghost hash taken and added again is not dropped early by its stale slot.
func TestGhostStaleSlotKeepsNewerEntry(t *testing.T) {
	t.Parallel()
	var g ghost
	g.add(1, 0)
	for h := uint64(100); h < 100+minGhost-1; h++ {
		g.add(h, 0)
	}
	if !g.take(1) {
		t.Fatal("take missed")
	}
	g.add(1, 0) // the newest slot; its stale slot is the oldest
	// The set holds minGhost hashes; the next add pops the stale slot of 1
	// (which must not remove the newer 1) and then hash 100.
	g.add(999, 0)
	if _, ok := g.set[100]; ok || len(g.set) != minGhost {
		t.Fatalf("oldest live hash not dropped: %d hashes", len(g.set))
	}
	if _, ok := g.set[1]; !ok {
		t.Fatal("popping a stale slot removed the hash's newer entry")
	}
}

// checkAccounting verifies that the byte and entry counters equal what the
// shards hold, per queue and in total.
func checkAccounting[V any](t *testing.T, c *Cache[V], step int) {
	t.Helper()
	var sum int64
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		var small, main int64
		ns, nm := 0, 0
		for nd := s.small.head; nd != nil; nd = nd.next {
			small += nd.cost
			ns++
			if nd.inMain {
				t.Fatalf("step %d: main entry in the small queue", step)
			}
		}
		for nd := s.main.head; nd != nil; nd = nd.next {
			main += nd.cost
			nm++
		}
		if small != s.small.bytes || main != s.main.bytes || ns != s.small.n || nm != s.main.n {
			t.Fatalf("step %d shard %d: queues count %d/%d bytes %d/%d, walk %d/%d bytes %d/%d",
				step, i, s.small.n, s.main.n, s.small.bytes, s.main.bytes, ns, nm, small, main)
		}
		if ns+nm != s.count || tableLen(s) != s.count {
			t.Fatalf("step %d shard %d: queues hold %d, table %d (count %d)", step, i, ns+nm, tableLen(s), s.count)
		}
		if small+main > s.max {
			t.Fatalf("step %d shard %d: %d bytes over the budget %d", step, i, small+main, s.max)
		}
		sum += small + main
		n += ns + nm
	}
	if sum != c.Bytes() || n != c.Len() {
		t.Fatalf("step %d: accounting drift: held %d bytes / %d entries, counters %d / %d", step, sum, n, c.Bytes(), c.Len())
	}
}

// Every operation mix (overwrites with another size, oversized overwrites,
// expiry on read, on eviction and on SetExpiry, Update, DeleteFunc) keeps the
// byte and entry counters exact.
func TestAccountingUnderEveryOperation(t *testing.T) {
	t.Parallel()
	c, clk := newTest(4 * (1 << 10))
	rng := rand.New(rand.NewPCG(1, 2))
	for step := range 20_000 {
		k := strconv.Itoa(rng.IntN(64))
		switch op := rng.IntN(10); op {
		case 0, 1, 2:
			var exp int64
			if rng.IntN(3) == 0 {
				exp = clk.now() + int64(rng.IntN(50))
			}
			c.Set(k, k, int64(rng.IntN(300)), exp)
		case 3:
			c.Set(k, k, int64(rng.IntN(8<<10)), 0) // sometimes larger than the shard
		case 4:
			c.Get(k)
		case 5:
			c.Delete(k)
		case 6:
			c.SetExpiry(k, clk.now()+int64(rng.IntN(20)))
		case 7:
			c.Update(k, func(v *string) { *v += "!" })
		case 8:
			clk.t.Add(int64(rng.IntN(10)))
		case 9:
			if rng.IntN(50) == 0 {
				c.DeleteFunc(func(key string, _ string) bool { return len(key) == 1 })
			}
		}
		checkAccounting(t, c, step)
	}
}

// Entries dropped for room are counted; expired ones are not.
func TestEvictionsCounted(t *testing.T) {
	c := New[int](Options{MaxBytes: 1000, Shards: 1})
	for i := range 100 {
		c.Set(strconv.Itoa(i), i, 100, 0)
	}
	n := c.Len()
	if ev := c.Evictions(); ev == 0 || int(ev)+n != 100 {
		t.Fatalf("%d evictions with %d entries left of 100 written", ev, n)
	}
}

// Every entry is charged its node, map slot and ghost (at least the node's
// real size) plus the owner's EntryOverhead.
func TestEntryOverheadCharged(t *testing.T) {
	t.Parallel()
	if o := Overhead[string](); o < int64(unsafe.Sizeof(node[string]{}))+mapSlotBytes+ghostBytes {
		t.Fatalf("Overhead = %d, less than node + map slot + ghost", o)
	}
	c := New[string](Options{MaxBytes: 1 << 20, EntryOverhead: 32})
	c.Set("key", "v", 10, 0)
	if want := 10 + 3 + Overhead[string]() + 32; c.Bytes() != want || c.EntryOverhead() != Overhead[string]()+32 {
		t.Fatalf("Bytes = %d, want %d", c.Bytes(), want)
	}
}

// tableLen counts the nodes reachable in s's table.
func tableLen[V any](s *shard[V]) int {
	n := 0
	s.each(func(*node[V]) { n++ })
	return n
}

// Keys whose hashes collide share a bucket as a chain: each is found,
// and removing any of them keeps the others.
func TestHashCollisionChain(t *testing.T) {
	t.Parallel()
	for _, drop := range []int{0, 1, 2} {
		s := &shard[string]{}
		s.tab.Store(newTable[string](minBuckets))
		nodes := []*node[string]{{key: "a", hash: 7}, {key: "b", hash: 7}, {key: "c", hash: 7}}
		for _, n := range nodes {
			s.insert(n)
		}
		for _, n := range nodes {
			if s.find(7, n.key) != n || s.get(7, n.key) != n {
				t.Fatalf("%s not found", n.key)
			}
		}
		s.remove(nodes[drop])
		for i, n := range nodes {
			if got := s.find(7, n.key); (got == n) != (i != drop) {
				t.Fatalf("after removing %s: find(%s) = %v", nodes[drop].key, n.key, got)
			}
			if got := s.get(7, n.key); (got == n) != (i != drop) {
				t.Fatalf("after removing %s: get(%s) = %v", nodes[drop].key, n.key, got)
			}
		}
		if s.find(8, "a") != nil || s.get(8, "a") != nil {
			t.Fatal("found a key under another hash")
		}
	}
}

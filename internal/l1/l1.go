// Package l1 is the in-process cache tier of cachekit-go: a byte-bounded,
// sharded map with a time-to-live per entry and S3-FIFO eviction.
//
// Decisions, and why:
//
//   - Byte-bounded, not entry-bounded: cached values range from a few bytes to
//     megabytes, so only a byte budget bounds memory. Every entry is charged
//     the cost its caller states (cachekit charges the encoded size of the
//     value) plus the length of its key plus the fixed cost of an entry
//     (Overhead: its node, its map slot and its ghost slot, measured, not
//     guessed) plus Options.EntryOverhead, so that the heap stays close to
//     the budget even for small values.
//   - Sharded: the budget is split evenly over a power-of-two number of shards,
//     each with its own lock. Shards are never smaller than MinShardBytes, so a
//     small cache has one shard. An entry whose cost exceeds one shard's budget
//     is not stored (Set reports false); callers treat that as "too large for
//     L1", which is harmless because L1 is only a copy.
//   - S3-FIFO eviction (Yang et al., SOSP 2023): a small FIFO for new entries,
//     a main FIFO for entries that were read again, and a ghost list of
//     recently evicted key hashes that sends returning keys straight to main.
//     Reads only bump an atomic frequency counter, so hits never relink
//     anything (unlike LRU, which must on every read), and the policy
//     resists one-hit-wonder scans.
//   - Lock-free reads: a hit takes no lock at all. Each shard keeps its
//     entries in a chained hash table of atomic pointers that only writers
//     (under the shard's lock) change, and a node's value and expiry live in
//     an immutable item that writers replace instead of modify. A shared
//     read lock costs two atomic read-modify-writes on the shard's cache
//     line per hit, which is most of a hit's time when many goroutines read
//     one shard. A reader that runs into a resize of the table (the only
//     change that relinks existing nodes) is told by the shard's sequence
//     counter and looks again under the read lock, so a key that is present
//     is never missed.
//   - Expiry is lazy: an expired entry is dropped when it is read or when
//     eviction reaches it. No background goroutine, no timers. An owner may
//     give a cheap coarse clock (Options.Coarse): a hit then reads the
//     precise clock only for entries close to their expiry.
//   - Get does not allocate.
package l1

import (
	"hash/maphash"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

const (
	// mapSlotBytes is what one entry costs in a shard's table: an 8-byte
	// bucket pointer at a load of 0.5 to 1 (the table doubles when it holds
	// as many entries as buckets), 12 bytes on average, plus the old bucket
	// array that a doubling leaves to the garbage collector.
	mapSlotBytes = 16
	// minBuckets is the size of a new shard's table.
	minBuckets = 64
	// maxProbe bounds a lock-free walk of one bucket's chain; a longer walk
	// (only a resize running meanwhile can make one) looks again under the
	// read lock.
	maxProbe = 64
	// ghostBytes is what the ghost list costs per entry: a hash costs a
	// map[uint64]uint64 slot (16 bytes plus control at map load) and up to
	// two 8-byte FIFO slots. Under eviction the ghost list holds about half
	// as many hashes as the shard holds entries (ghostShare), plus stale
	// FIFO slots; the charge stays at one full ghost per entry as a margin.
	ghostBytes = 48
	// ghostShare is the ghost list's limit as a fraction (1/ghostShare) of
	// the shard's entries. A ghost hit sends a returning key straight to
	// the main queue; a list as long as the cache let so many lukewarm keys
	// in that they pushed out hot ones: over Zipf(1.001 to 1.2) traces on 1M
	// keys with 100k entries, half the entries gave 0.0 to 0.9 points more
	// hits than all of them (and a quarter fewer), with a third less ghost
	// memory.
	ghostShare = 2
	// MinShardBytes is the smallest budget a shard is given; smaller caches
	// use fewer shards.
	MinShardBytes = 1 << 20
	// maxFreq caps the S3-FIFO access counter.
	maxFreq = 3
	// minGhost is the smallest number of key hashes the ghost list remembers.
	minGhost = 16
)

// Options configure a Cache.
type Options struct {
	// MaxBytes is the byte budget; it must be positive.
	MaxBytes int64
	// Now returns the current time in Unix nanoseconds; nil means time.Now.
	Now func() int64
	// Shards forces the number of shards (rounded down to a power of two);
	// 0 chooses from GOMAXPROCS and MaxBytes.
	Shards int
	// EntryOverhead is charged for each entry on top of Overhead: memory the
	// owner's values hold besides their stated cost (cachekit: the interface
	// box of a decoded value).
	EntryOverhead int64
	// Coarse, when set, is a cheap reading of the clock Now reads that may
	// lag behind Now by up to CoarseLag nanoseconds (never run ahead of
	// it). Get checks an entry's expiry against Coarse and reads Now only
	// when the entry expires within CoarseLag of the coarse reading, so
	// expiry stays exact as long as the coarse clock keeps within its lag.
	Coarse    func() int64
	CoarseLag int64
}

// Overhead returns the fixed cost in bytes charged for each entry of a
// Cache[V] on top of its stated cost and key length: the node (rounded up to
// its allocation size class), its map slot and its ghost.
func Overhead[V any]() int64 {
	return sizeClass(int64(unsafe.Sizeof(node[V]{}))) + mapSlotBytes + ghostBytes
}

// sizeClass rounds n up to the size of the allocation the runtime makes for
// it (its small-object size classes up to 512 bytes, then 128-byte steps).
func sizeClass(n int64) int64 {
	for _, c := range [...]int64{8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240, 256, 288, 320, 352, 384, 416, 448, 480, 512} {
		if n <= c {
			return c
		}
	}
	return (n + 127) &^ 127
}

// Cache is a byte-bounded in-process cache from string keys to values of type
// V. It is safe for concurrent use.
type Cache[V any] struct {
	shards   []shard[V]
	overhead int64 // charged per entry besides cost and key
	mask     uint64
	seed     maphash.Seed
	now      func() int64
	coarse   func() int64 // nil: Get reads now
	lag      int64        // how far coarse may lag behind now
	bytes    atomic.Int64
	entries  atomic.Int64
	evicted  atomic.Uint64 // unexpired entries dropped for room
}

// node is one entry. key, hash and first never change once the node is
// published; item and chain are atomic; the rest belongs to the shard's
// writers (under its lock).
type node[V any] struct {
	key   string
	hash  uint64                  // c.hash(key): the bucket, the shard, the ghost
	chain atomic.Pointer[node[V]] // next node in the same bucket
	item  atomic.Pointer[Item[V]] // value and expiry: &first until the first change
	first Item[V]
	freq  atomic.Int32
	// Writers only.
	cost       int64
	prev, next *node[V]
	inMain     bool
}

// Item is a node's value and expiry. It is immutable once published:
// writers publish a new one, so that readers need no lock (and Ref can hand
// it out).
type Item[V any] struct {
	Val     V
	Expires int64 // Unix nanoseconds; 0 = never
}

// expires returns n's expiry. Writers only (it reads the current item).
func (n *node[V]) expires() int64 { return n.item.Load().Expires }

// setItem publishes a new value and expiry for n. s.mu must be held.
func (n *node[V]) setItem(v V, expires int64) { n.item.Store(&Item[V]{Val: v, Expires: expires}) }

type list[V any] struct {
	head, tail *node[V] // head = newest
	bytes      int64
	n          int
}

func (l *list[V]) pushFront(n *node[V]) {
	n.prev = nil
	n.next = l.head
	if l.head != nil {
		l.head.prev = n
	}
	l.head = n
	if l.tail == nil {
		l.tail = n
	}
	l.bytes += n.cost
	l.n++
}

func (l *list[V]) remove(n *node[V]) {
	if n.prev != nil {
		n.prev.next = n.next
	} else {
		l.head = n.next
	}
	if n.next != nil {
		n.next.prev = n.prev
	} else {
		l.tail = n.prev
	}
	n.prev, n.next = nil, nil
	l.bytes -= n.cost
	l.n--
}

type shard[V any] struct {
	_ [64]byte // keep shards' read-mostly heads off their neighbours' lines
	// seq is odd while the table is being resized: a lock-free reader that
	// saw it change may have missed a key and looks again under mu.
	seq         atomic.Uint64
	tab         atomic.Pointer[table[V]]
	mu          sync.RWMutex // writers; readers only after a resize got in their way
	count       int          // entries in the table
	small, main list[V]
	max         int64
	ghost       ghost
}

// table is a shard's hash table: chains of nodes by key hash. Buckets are
// indexed by the hash's high half (the shard is chosen by its low bits).
type table[V any] struct {
	buckets []atomic.Pointer[node[V]]
	mask    uint64
}

func newTable[V any](n int) *table[V] {
	return &table[V]{buckets: make([]atomic.Pointer[node[V]], n), mask: uint64(n - 1)}
}

func (t *table[V]) bucket(h uint64) *atomic.Pointer[node[V]] { return &t.buckets[(h>>32)&t.mask] }

// lookup returns the node of key (hash h) or nil, without a lock. A nil
// result is certain only if no resize ran meanwhile; see get.
func (s *shard[V]) lookup(h uint64, key string) *node[V] {
	n := s.tab.Load().bucket(h).Load()
	for range maxProbe {
		if n == nil {
			return nil
		}
		if n.hash == h && n.key == key {
			return n
		}
		n = n.chain.Load()
	}
	return nil
}

// get is find for readers that hold no lock.
func (s *shard[V]) get(h uint64, key string) *node[V] {
	seq := s.seq.Load()
	if seq&1 == 0 {
		if n := s.lookup(h, key); n != nil || s.seq.Load() == seq {
			return n
		}
	}
	s.mu.RLock()
	n := s.find(h, key)
	s.mu.RUnlock()
	return n
}

// find returns the node of key (hash h) or nil. s.mu must be held (read or
// write).
func (s *shard[V]) find(h uint64, key string) *node[V] {
	for n := s.tab.Load().bucket(h).Load(); n != nil; n = n.chain.Load() {
		if n.hash == h && n.key == key {
			return n
		}
	}
	return nil
}

// insert adds n (not yet in the table) under its hash, doubling the table
// when it holds as many entries as buckets. s.mu must be held.
func (s *shard[V]) insert(n *node[V]) {
	t := s.tab.Load()
	if s.count >= len(t.buckets) {
		t = s.grow(t)
	}
	b := t.bucket(n.hash)
	n.chain.Store(b.Load())
	b.Store(n) // publishes n: its key, hash and first item are set
	s.count++
}

// grow moves every node into a table twice as large and publishes it.
// Moving relinks chains under lock-free readers, hence seq. s.mu must be
// held.
func (s *shard[V]) grow(t *table[V]) *table[V] {
	nt := newTable[V](2 * len(t.buckets))
	s.seq.Add(1)
	for i := range t.buckets {
		for n := t.buckets[i].Load(); n != nil; {
			next := n.chain.Load()
			b := nt.bucket(n.hash)
			n.chain.Store(b.Load())
			b.Store(n)
			n = next
		}
	}
	s.tab.Store(nt)
	s.seq.Add(1)
	return nt
}

// remove takes n out of the table. n keeps its chain link, so that a reader
// standing on n still reaches the rest of the bucket. s.mu must be held.
func (s *shard[V]) remove(n *node[V]) {
	b := s.tab.Load().bucket(n.hash)
	if b.Load() == n {
		b.Store(n.chain.Load())
	} else {
		for p := b.Load(); p != nil; p = p.chain.Load() {
			if p.chain.Load() == n {
				p.chain.Store(n.chain.Load())
				break
			}
		}
	}
	s.count--
}

// each calls fn for every node of the table; fn may remove the node it is
// given. s.mu must be held.
func (s *shard[V]) each(fn func(n *node[V])) {
	t := s.tab.Load()
	for i := range t.buckets {
		for n := t.buckets[i].Load(); n != nil; {
			next := n.chain.Load()
			fn(n)
			n = next
		}
	}
}

// ghost is a bounded FIFO set of key hashes evicted from the small queue.
// A hash taken out of the set (take) leaves a stale slot in the FIFO; slots
// are bounded too (at most twice the set's limit), so a workload whose
// ghosts keep returning cannot grow the FIFO without bound.
type ghost struct {
	set  map[uint64]uint64 // hash -> sequence number of its newest FIFO slot
	fifo []uint64
	head int
	seq  uint64 // sequence number of fifo[head]
}

func (g *ghost) add(h uint64, limit int) {
	if g.set == nil {
		g.set = make(map[uint64]uint64)
	}
	if _, ok := g.set[h]; ok {
		return
	}
	g.set[h] = g.seq + uint64(len(g.fifo)-g.head)
	g.fifo = append(g.fifo, h)
	limit = max(limit, minGhost)
	for len(g.set) > limit || len(g.fifo)-g.head > 2*limit {
		old := g.fifo[g.head]
		if s, ok := g.set[old]; ok && s == g.seq {
			delete(g.set, old) // only if this slot is the hash's newest
		}
		g.head++
		g.seq++
	}
	if g.head > len(g.fifo)/2 && g.head > minGhost {
		g.fifo = append(g.fifo[:0], g.fifo[g.head:]...)
		g.head = 0
	}
}

func (g *ghost) take(h uint64) bool {
	if _, ok := g.set[h]; ok {
		delete(g.set, h) // its FIFO slot stays and is skipped when popped
		return true
	}
	return false
}

// New returns a Cache with the given options. MaxBytes <= 0 is treated as 1.
func New[V any](o Options) *Cache[V] {
	if o.MaxBytes <= 0 {
		o.MaxBytes = 1
	}
	n := o.Shards
	if n <= 0 {
		n = runtime.GOMAXPROCS(0) * 4
		for n > 1 && o.MaxBytes/int64(n) < MinShardBytes {
			n /= 2
		}
	}
	p := 1
	for p*2 <= n {
		p *= 2
	}
	c := &Cache[V]{
		shards:   make([]shard[V], p),
		overhead: Overhead[V]() + max(o.EntryOverhead, 0),
		mask:     uint64(p - 1),
		seed:     maphash.MakeSeed(),
		now:      o.Now,
		coarse:   o.Coarse,
		lag:      max(o.CoarseLag, 0),
	}
	if c.now == nil {
		c.now = func() int64 { return time.Now().UnixNano() }
	}
	per := o.MaxBytes / int64(p)
	for i := range c.shards {
		c.shards[i].tab.Store(newTable[V](minBuckets))
		c.shards[i].max = per
	}
	return c
}

func (c *Cache[V]) hash(key string) uint64 { return maphash.String(c.seed, key) }

// Hash returns the hash of key that GetHashed takes. It is fixed for the
// life of the Cache, so a caller that looks up one key often may keep it.
func (c *Cache[V]) Hash(key string) uint64 { return c.hash(key) }

func (c *Cache[V]) shardOf(h uint64) *shard[V] { return &c.shards[h&c.mask] }

// Get returns the value stored under key if it is present and unexpired.
func (c *Cache[V]) Get(key string) (V, bool) {
	v, _, ok := c.GetWithExpiry(key)
	return v, ok
}

// GetWithExpiry is Get that also returns the entry's expiry in Unix
// nanoseconds (0 = never).
func (c *Cache[V]) GetWithExpiry(key string) (V, int64, bool) {
	return c.GetHashed(c.hash(key), key)
}

// GetHashed is GetWithExpiry for a key whose Hash the caller kept. A hash
// that is not key's finds nothing.
func (c *Cache[V]) GetHashed(h uint64, key string) (V, int64, bool) {
	if v := c.Ref(h, key); v != nil {
		return v.Val, v.Expires, true
	}
	var zero V
	return zero, 0, false
}

// Key returns the key string L1 holds for key (hash h), or key when it holds
// none. A caller that keeps keys can keep L1's own string: later lookups
// then compare the two by pointer instead of byte by byte.
func (c *Cache[V]) Key(h uint64, key string) string {
	if n := c.shardOf(h).get(h, key); n != nil {
		return n.key
	}
	return key
}

// Ref is GetHashed without copying the value: it returns the entry's value
// and expiry as stored (nil: absent or expired). The Item is immutable;
// the caller must not modify it (writers publish a new one instead).
func (c *Cache[V]) Ref(h uint64, key string) *Item[V] {
	s := c.shardOf(h)
	n := s.get(h, key)
	if n == nil {
		return nil
	}
	it := n.item.Load()
	if exp := it.Expires; exp != 0 && c.expired(exp) {
		c.dropIfSame(s, key, n, it)
		return nil
	}
	if n.freq.Load() < maxFreq {
		n.freq.Add(1)
	}
	return it
}

// expired reports whether an expiry (not 0) has passed: against the coarse
// clock when the entry is far from it, else against the precise one.
func (c *Cache[V]) expired(exp int64) bool {
	if c.coarse != nil && exp-c.coarse() > c.lag {
		return false
	}
	return c.now() >= exp
}

// dropIfSame removes n if it is still key's entry with the item a reader
// found expired (a writer may have given it a new life meanwhile).
func (c *Cache[V]) dropIfSame(s *shard[V], key string, n *node[V], it *Item[V]) {
	s.mu.Lock()
	if s.find(n.hash, key) == n && n.item.Load() == it {
		c.unlink(s, n)
	}
	s.mu.Unlock()
}

// unlink removes n from its queue and the map. s.mu must be held.
func (c *Cache[V]) unlink(s *shard[V], n *node[V]) {
	if n.inMain {
		s.main.remove(n)
	} else {
		s.small.remove(n)
	}
	s.remove(n)
	c.bytes.Add(-n.cost)
	c.entries.Add(-1)
}

// Set stores v under key with the given cost (bytes, excluding key and
// overhead) and expiry (Unix nanoseconds, 0 = never). It reports false, and
// removes any previous entry for key, when the entry is larger than a shard's
// budget or already expired.
func (c *Cache[V]) Set(key string, v V, cost int64, expires int64) bool {
	h := c.hash(key)
	s := c.shardOf(h)
	total := max(cost, 0) + int64(len(key)) + c.overhead
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.find(h, key)
	if total > s.max || (expires != 0 && c.now() >= expires) {
		if old != nil {
			c.unlink(s, old)
		}
		return false
	}
	if old != nil {
		c.bytes.Add(total - old.cost)
		if old.inMain {
			s.main.bytes += total - old.cost
		} else {
			s.small.bytes += total - old.cost
		}
		old.cost = total
		old.setItem(v, expires)
		c.evict(s, old)
		return true
	}
	n := &node[V]{key: key, hash: h, cost: total, first: Item[V]{Val: v, Expires: expires}}
	n.item.Store(&n.first)
	if s.ghost.take(h) {
		n.inMain = true
		s.main.pushFront(n)
	} else {
		s.small.pushFront(n)
	}
	s.insert(n)
	c.bytes.Add(total)
	c.entries.Add(1)
	c.evict(s, n)
	return true
}

// evict drops entries until the shard is within budget. s.mu must be held.
// keep is the entry being written: it is not evicted by its own insertion
// (otherwise an entry larger than the small queue's share could never stay
// once the shard is full).
func (c *Cache[V]) evict(s *shard[V], keep *node[V]) {
	home := &s.small
	if keep.inMain {
		home = &s.main
	}
	home.remove(keep)
	defer home.pushFront(keep)
	budget := s.max - keep.cost
	now := int64(-1)
	expired := func(n *node[V]) bool {
		exp := n.expires()
		if exp == 0 {
			return false
		}
		if now < 0 {
			now = c.now()
		}
		return now >= exp
	}
	for s.small.bytes+s.main.bytes > budget {
		if s.small.n > 0 && (s.small.bytes > s.max/10 || s.main.n == 0) {
			t := s.small.tail
			switch {
			case expired(t):
				c.unlink(s, t)
			case t.freq.Load() > 1:
				s.small.remove(t)
				t.freq.Store(0)
				t.inMain = true
				s.main.pushFront(t)
			default:
				c.unlink(s, t)
				c.evicted.Add(1)
				s.ghost.add(t.hash, s.count/ghostShare)
			}
			continue
		}
		t := s.main.tail
		if t == nil {
			return
		}
		if f := t.freq.Load(); f > 0 && !expired(t) {
			t.freq.Store(f - 1)
			s.main.remove(t)
			s.main.pushFront(t)
			continue
		}
		if !expired(t) {
			c.evicted.Add(1)
		}
		c.unlink(s, t)
	}
}

// SetExpiry changes the expiry of an existing unexpired entry and reports
// whether there was one.
func (c *Cache[V]) SetExpiry(key string, expires int64) bool {
	h := c.hash(key)
	s := c.shardOf(h)
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.find(h, key)
	if n == nil {
		return false
	}
	it := n.item.Load()
	if it.Expires != 0 && c.now() >= it.Expires {
		c.unlink(s, n)
		return false
	}
	n.setItem(it.Val, expires)
	return true
}

// Update calls fn with a pointer to the value stored under key, under the
// shard lock, if the entry exists and is unexpired. fn must not call back into
// the Cache.
func (c *Cache[V]) Update(key string, fn func(v *V)) bool {
	h := c.hash(key)
	s := c.shardOf(h)
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.find(h, key)
	if n == nil {
		return false
	}
	it := n.item.Load()
	if it.Expires != 0 && c.now() >= it.Expires {
		return false
	}
	v := it.Val
	fn(&v)
	n.setItem(v, it.Expires)
	return true
}

// Delete removes key and reports whether an unexpired entry was present.
func (c *Cache[V]) Delete(key string) bool {
	h := c.hash(key)
	s := c.shardOf(h)
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.find(h, key)
	if n == nil {
		return false
	}
	exp := n.expires()
	live := exp == 0 || c.now() < exp
	c.unlink(s, n)
	return live
}

// DeleteFunc removes every entry for which match returns true and returns how
// many unexpired entries it removed. match runs under a shard lock and must
// not call back into the Cache.
func (c *Cache[V]) DeleteFunc(match func(key string, v V) bool) int {
	removed := 0
	now := c.now()
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		s.each(func(n *node[V]) {
			it := n.item.Load()
			if match(n.key, it.Val) {
				if it.Expires == 0 || now < it.Expires {
					removed++
				}
				c.unlink(s, n)
			}
		})
		s.mu.Unlock()
	}
	return removed
}

// Clear removes every entry.
func (c *Cache[V]) Clear() { c.DeleteFunc(func(string, V) bool { return true }) }

// Fits reports whether an entry of key with the stated cost fits one shard's
// budget; Set does not keep an entry that does not.
func (c *Cache[V]) Fits(key string, cost int64) bool {
	return max(cost, 0)+int64(len(key))+c.overhead <= c.shards[0].max
}

// Len returns the number of entries held, including expired ones not yet
// dropped.
func (c *Cache[V]) Len() int { return int(c.entries.Load()) }

// Bytes returns the total cost of the entries held.
func (c *Cache[V]) Bytes() int64 { return c.bytes.Load() }

// Evictions returns how many unexpired entries were dropped to make room
// (expired entries dropped on the way are not counted).
func (c *Cache[V]) Evictions() uint64 { return c.evicted.Load() }

// EntryOverhead returns what each entry is charged besides its stated cost
// and key length (Overhead plus Options.EntryOverhead).
func (c *Cache[V]) EntryOverhead() int64 { return c.overhead }

// ShardBytes returns the budget of one shard: the largest entry cost (with key
// and overhead) that can be stored.
func (c *Cache[V]) ShardBytes() int64 { return c.shards[0].max }

// MaxBytes returns the byte budget of the whole cache (the shards' budgets).
func (c *Cache[V]) MaxBytes() int64 { return c.shards[0].max * int64(len(c.shards)) }

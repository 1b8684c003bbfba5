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
//     Reads only bump an atomic frequency counter under a read lock, so hits
//     never take a write lock (unlike LRU, which must relink on every read),
//     and the policy resists one-hit-wonder scans.
//   - Expiry is lazy: an expired entry is dropped when it is read or when
//     eviction reaches it. No background goroutine, no timers.
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
	// mapSlotBytes is what one entry costs in a shard's map[uint64]*node:
	// a 16-byte slot plus its control byte, at the 0.44 to 0.875 load of
	// Go's maps (about 0.65 on average).
	mapSlotBytes = 28
	// ghostBytes is what one ghost costs: a map[uint64]uint64 slot (16 bytes
	// plus control at map load) and up to two 8-byte FIFO slots. Under
	// eviction the ghost list holds about as many hashes as the shard holds
	// entries, so every entry is charged one.
	ghostBytes = 48
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
	bytes    atomic.Int64
	entries  atomic.Int64
	evicted  atomic.Uint64 // unexpired entries dropped for room
}

type node[V any] struct {
	key        string
	hash       uint64   // c.hash(key): the map key, the shard, the ghost
	coll       *node[V] // next node whose key has the same hash (almost never)
	val        V
	cost       int64
	expires    int64 // Unix nanoseconds; 0 = never
	freq       atomic.Int32
	prev, next *node[V]
	inMain     bool
}

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
	mu          sync.RWMutex
	m           map[uint64]*node[V] // by key hash: the key is hashed once per call, and the map compares 8 bytes
	small, main list[V]
	max         int64
	ghost       ghost
	_           [64]byte // keep hot shard locks on separate cache lines
}

// find returns the node of key (hash h) or nil. s.mu must be held.
func (s *shard[V]) find(h uint64, key string) *node[V] {
	for n := s.m[h]; n != nil; n = n.coll {
		if n.key == key {
			return n
		}
	}
	return nil
}

// insert adds n (not yet in the map) under its hash. s.mu must be held.
func (s *shard[V]) insert(n *node[V]) {
	n.coll = s.m[n.hash]
	s.m[n.hash] = n
}

// remove takes n out of the map. s.mu must be held.
func (s *shard[V]) remove(n *node[V]) {
	head := s.m[n.hash]
	switch {
	case head == n && n.coll == nil:
		delete(s.m, n.hash)
	case head == n:
		s.m[n.hash] = n.coll
	default:
		for p := head; p != nil; p = p.coll {
			if p.coll == n {
				p.coll = n.coll
				break
			}
		}
	}
	n.coll = nil
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
	}
	if c.now == nil {
		c.now = func() int64 { return time.Now().UnixNano() }
	}
	per := o.MaxBytes / int64(p)
	for i := range c.shards {
		c.shards[i].m = make(map[uint64]*node[V])
		c.shards[i].max = per
	}
	return c
}

func (c *Cache[V]) hash(key string) uint64 { return maphash.String(c.seed, key) }

func (c *Cache[V]) shardOf(h uint64) *shard[V] { return &c.shards[h&c.mask] }

// Get returns the value stored under key if it is present and unexpired.
func (c *Cache[V]) Get(key string) (V, bool) {
	v, _, ok := c.GetWithExpiry(key)
	return v, ok
}

// GetWithExpiry is Get that also returns the entry's expiry in Unix
// nanoseconds (0 = never).
func (c *Cache[V]) GetWithExpiry(key string) (V, int64, bool) {
	var zero V
	h := c.hash(key)
	s := c.shardOf(h)
	s.mu.RLock()
	n := s.find(h, key)
	if n == nil {
		s.mu.RUnlock()
		return zero, 0, false
	}
	exp := n.expires
	if exp != 0 && c.now() >= exp {
		s.mu.RUnlock()
		c.dropIfSame(s, key, n)
		return zero, 0, false
	}
	v := n.val
	if n.freq.Load() < maxFreq {
		n.freq.Add(1)
	}
	s.mu.RUnlock()
	return v, exp, true
}

func (c *Cache[V]) dropIfSame(s *shard[V], key string, n *node[V]) {
	s.mu.Lock()
	if s.find(n.hash, key) == n {
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
		old.val, old.cost, old.expires = v, total, expires
		c.evict(s, old)
		return true
	}
	n := &node[V]{key: key, hash: h, val: v, cost: total, expires: expires}
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
		if n.expires == 0 {
			return false
		}
		if now < 0 {
			now = c.now()
		}
		return now >= n.expires
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
				s.ghost.add(t.hash, len(s.m))
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
	if n.expires != 0 && c.now() >= n.expires {
		c.unlink(s, n)
		return false
	}
	n.expires = expires
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
	if n == nil || (n.expires != 0 && c.now() >= n.expires) {
		return false
	}
	fn(&n.val)
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
	live := n.expires == 0 || c.now() < n.expires
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
		for _, head := range s.m {
			for n := head; n != nil; {
				next := n.coll
				if match(n.key, n.val) {
					if n.expires == 0 || now < n.expires {
						removed++
					}
					c.unlink(s, n)
				}
				n = next
			}
		}
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

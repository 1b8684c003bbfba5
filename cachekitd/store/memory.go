package store

import (
	"container/heap"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of the memory store.
const (
	// DefaultMemoryMaxBytes is the memory store's total capacity.
	DefaultMemoryMaxBytes = 256 << 20
	// DefaultMaxLocksPerTenant bounds the live locks one tenant may hold.
	DefaultMaxLocksPerTenant = 100_000
	// DefaultSweepInterval is how often expired entries and locks are
	// sampled and removed in the background.
	DefaultSweepInterval = time.Second
	// EntryOverhead is the bookkeeping cost charged per entry on top of its
	// key and value (see EntrySize): the memory store's entry struct, its
	// map slot with the map's growth slack, measured on Go 1.25/1.26 amd64.
	EntryOverhead = 144
	// LockOverhead is what a live lock costs the memory store besides its
	// key: the lock record, its id, its map slot and its place in the expiry
	// heap. Locks count against the byte bounds like entries.
	LockOverhead = 160
)

// EntrySize is what the memory store charges for an entry against its byte
// bounds: key and value rounded up the way the Go allocator rounds them, plus
// EntryOverhead. Charging what an entry really costs keeps the heap near
// MaxBytes even when entries are tiny, where bookkeeping dominates.
func EntrySize(keyLen, valueLen int) int64 {
	return allocSize(keyLen) + allocSize(valueLen) + EntryOverhead
}

// allocSize approximates, from above, the heap block the allocator uses for n
// bytes (its size classes waste at most 12.5 % up to 32 KiB; larger objects
// take whole 8 KiB pages).
func allocSize(n int) int64 {
	x := int64(n)
	switch {
	case x == 0:
		return 0
	case x <= 8:
		return 8
	case x <= 256:
		return (x + 15) &^ 15
	case x <= 1024:
		return (x + 63) &^ 63
	case x <= 32<<10:
		return (x + x/8 + 127) &^ 127
	}
	return (x + 8191) &^ 8191
}

// MemoryOptions configure NewMemory. The zero value is usable.
type MemoryOptions struct {
	// MaxBytes is the total capacity over all tenants
	// (DefaultMemoryMaxBytes when 0). When it is exceeded the largest tenant
	// loses its least recently used entries first.
	MaxBytes int64
	// Tenant limits apply to every tenant separately.
	Tenant Limits
	// MaxLocksPerTenant bounds live locks (DefaultMaxLocksPerTenant when 0).
	MaxLocksPerTenant int
	// SweepInterval is the background expiry period (DefaultSweepInterval
	// when 0; negative disables the sweeper, expiry is then only lazy).
	SweepInterval time.Duration
	// Now is the clock (time.Now when nil); tests inject a fake one.
	Now func() time.Time
}

// never is the freshUntil and expireAt of an entry without expiry.
const never = math.MaxInt64

type memEntry struct {
	key        string
	value      []byte
	freshUntil int64 // unix ns; never for an entry without expiry
	expireAt   int64 // unix ns; freshUntil + stale window
	size       int64
	prev, next *memEntry
}

type memLock struct {
	key   string
	id    string
	until int64
	size  int64
	idx   int // position in the partition's expiry heap
}

// partition is one tenant's data: a map, an LRU list and its locks.
type partition struct {
	mu        sync.Mutex
	entries   map[string]*memEntry
	lru       memEntry // sentinel: lru.next is the most recently used
	locks     map[string]*memLock
	expiry    lockHeap     // expired locks are found in O(log n)
	lockBytes int64        // charged for the locks
	bytes     atomic.Int64 // entries and locks
	entryN    atomic.Int64 // live entries
}

// Memory is the embedded store: byte-bounded, per-tenant LRU with TTLs, stale
// windows and leases. Expired entries are removed lazily when touched and by a
// background sampler (like Redis' active expiry), so memory is reclaimed even
// for keys nobody asks for again.
type Memory struct {
	opts    MemoryOptions
	now     func() time.Time
	mu      sync.RWMutex
	tenants map[string]*partition
	total   atomic.Int64
	entries atomic.Int64
	evicted atomic.Int64
	expired atomic.Int64
	evictMu sync.Mutex
	closed  atomic.Bool
	stop    chan struct{}
	done    chan struct{}
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty memory store. Call Close to stop its sweeper.
func NewMemory(o MemoryOptions) *Memory {
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMemoryMaxBytes
	}
	if o.MaxLocksPerTenant <= 0 {
		o.MaxLocksPerTenant = DefaultMaxLocksPerTenant
	}
	if o.SweepInterval == 0 {
		o.SweepInterval = DefaultSweepInterval
	}
	m := &Memory{opts: o, now: o.Now, tenants: map[string]*partition{}, stop: make(chan struct{}), done: make(chan struct{})}
	if m.now == nil {
		m.now = time.Now
	}
	if o.SweepInterval > 0 {
		go m.sweeper(o.SweepInterval)
	} else {
		close(m.done)
	}
	return m
}

// Name implements Store.
func (m *Memory) Name() string { return "memory" }

func (m *Memory) part(tenant string, create bool) *partition {
	m.mu.RLock()
	p := m.tenants[tenant]
	m.mu.RUnlock()
	if p != nil || !create {
		return p
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if p = m.tenants[tenant]; p == nil {
		p = &partition{entries: map[string]*memEntry{}, locks: map[string]*memLock{}}
		p.lru.next, p.lru.prev = &p.lru, &p.lru
		m.tenants[tenant] = p
	}
	return p
}

// lockHeap orders a tenant's locks by expiry (container/heap); each lock
// knows its index, so a release removes it in O(log n).
type lockHeap []*memLock

func (h lockHeap) Len() int           { return len(h) }
func (h lockHeap) Less(i, j int) bool { return h[i].until < h[j].until }
func (h lockHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx, h[j].idx = i, j
}
func (h *lockHeap) Push(x any) {
	l := x.(*memLock)
	l.idx = len(*h)
	*h = append(*h, l)
}
func (h *lockHeap) Pop() any {
	old := *h
	l := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return l
}

func (p *partition) unlink(e *memEntry) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
}

func (p *partition) pushFront(e *memEntry) {
	e.prev, e.next = &p.lru, p.lru.next
	p.lru.next.prev = e
	p.lru.next = e
}

// remove drops e from the partition; p.mu must be held.
func (m *Memory) remove(p *partition, e *memEntry) {
	p.unlink(e)
	delete(p.entries, e.key)
	p.bytes.Add(-e.size)
	p.entryN.Add(-1)
	m.total.Add(-e.size)
	m.entries.Add(-1)
}

// lookup returns the live entry for key, dropping it if expired; p.mu held.
func (m *Memory) lookup(p *partition, key string, now int64) *memEntry {
	e := p.entries[key]
	if e == nil {
		return nil
	}
	if now >= e.expireAt {
		m.remove(p, e)
		m.expired.Add(1)
		return nil
	}
	return e
}

func info(e *memEntry, now int64) Info {
	if e.freshUntil == never {
		return Info{Size: len(e.value), NoExpiry: true}
	}
	in := Info{Size: len(e.value), HasStaleWindow: e.expireAt > e.freshUntil}
	if now >= e.freshUntil {
		in.Stale = true
	} else {
		in.TTL = time.Duration(e.freshUntil - now).Truncate(time.Millisecond)
	}
	return in
}

func (m *Memory) check(ctx context.Context) error {
	if m.closed.Load() {
		return ErrClosed
	}
	return ctx.Err()
}

// Get implements Store. The returned value is shared and must not be modified.
func (m *Memory) Get(ctx context.Context, tenant, key string) (Entry, bool, error) {
	return m.find(ctx, tenant, key, true)
}

// Stat implements Store. It does not count as a use for the LRU order.
func (m *Memory) Stat(ctx context.Context, tenant, key string) (Info, bool, error) {
	e, ok, err := m.find(ctx, tenant, key, false)
	return e.Info, ok, err
}

// find looks key up for Get and Stat; use moves the entry to the front of
// its tenant's LRU list.
func (m *Memory) find(ctx context.Context, tenant, key string, use bool) (Entry, bool, error) {
	if err := m.check(ctx); err != nil {
		return Entry{}, false, err
	}
	p := m.part(tenant, false)
	if p == nil {
		return Entry{}, false, nil
	}
	now := m.now().UnixNano()
	p.mu.Lock()
	defer p.mu.Unlock()
	e := m.lookup(p, key, now)
	if e == nil {
		return Entry{}, false, nil
	}
	if use && p.lru.next != e {
		p.unlink(e)
		p.pushFront(e)
	}
	return Entry{Info: info(e, now), Value: e.value}, true, nil
}

// Set implements Store.
func (m *Memory) Set(ctx context.Context, tenant, key string, value []byte, ttl, staleTTL time.Duration) (bool, error) {
	if err := m.check(ctx); err != nil {
		return false, err
	}
	size := EntrySize(len(key), len(value))
	if size > m.opts.MaxBytes || (m.opts.Tenant.MaxBytes > 0 && size > m.opts.Tenant.MaxBytes) {
		return false, ErrTooLarge
	}
	v := make([]byte, len(value))
	copy(v, value)
	now := m.now().UnixNano()
	ne := &memEntry{key: key, value: v, freshUntil: never, expireAt: never, size: size}
	if ttl > 0 {
		ne.freshUntil = now + int64(ttl)
		ne.expireAt = ne.freshUntil + int64(max(staleTTL, 0))
	}
	p := m.part(tenant, true)
	p.mu.Lock()
	old := m.lookup(p, key, now)
	if old != nil {
		m.remove(p, old)
	}
	p.entries[key] = ne
	p.pushFront(ne)
	p.bytes.Add(size)
	p.entryN.Add(1)
	m.total.Add(size)
	m.entries.Add(1)
	m.fitTenant(p, ne)
	p.mu.Unlock()
	if m.total.Load() > m.opts.MaxBytes {
		m.evictGlobal()
	}
	return old == nil, nil
}

// fitTenant evicts the tenant's least recently used entries (never keep)
// until it is within its limits; p.mu must be held.
func (m *Memory) fitTenant(p *partition, keep *memEntry) {
	lim := m.opts.Tenant
	for (lim.MaxEntries > 0 && int64(len(p.entries)) > lim.MaxEntries) || (lim.MaxBytes > 0 && p.bytes.Load() > lim.MaxBytes) {
		victim := p.lru.prev
		if victim == keep || victim == &p.lru {
			break
		}
		m.remove(p, victim)
		m.evicted.Add(1)
	}
}

// evictGlobal brings the total under MaxBytes by taking least recently used
// entries from the tenant that uses the most bytes.
func (m *Memory) evictGlobal() {
	m.evictMu.Lock()
	defer m.evictMu.Unlock()
	for m.total.Load() > m.opts.MaxBytes {
		var big *partition
		m.mu.RLock()
		for _, p := range m.tenants {
			// Locks cannot be evicted: only a tenant with entries can give.
			if p.entryN.Load() > 0 && (big == nil || p.bytes.Load() > big.bytes.Load()) {
				big = p
			}
		}
		m.mu.RUnlock()
		if big == nil {
			return
		}
		big.mu.Lock()
		victim := big.lru.prev
		if victim == &big.lru {
			big.mu.Unlock()
			return
		}
		m.remove(big, victim)
		big.mu.Unlock()
		m.evicted.Add(1)
	}
}

// Delete implements Store.
func (m *Memory) Delete(ctx context.Context, tenant, key string) (bool, error) {
	if err := m.check(ctx); err != nil {
		return false, err
	}
	p := m.part(tenant, false)
	if p == nil {
		return false, nil
	}
	now := m.now().UnixNano()
	p.mu.Lock()
	defer p.mu.Unlock()
	e := m.lookup(p, key, now)
	if e == nil {
		return false, nil
	}
	m.remove(p, e)
	return true, nil
}

// RefreshTTL implements Store.
func (m *Memory) RefreshTTL(ctx context.Context, tenant, key string, ttl time.Duration) (bool, error) {
	if err := m.check(ctx); err != nil {
		return false, err
	}
	p := m.part(tenant, false)
	if p == nil {
		return false, nil
	}
	now := m.now().UnixNano()
	p.mu.Lock()
	defer p.mu.Unlock()
	e := m.lookup(p, key, now)
	if e == nil {
		return false, nil
	}
	window := e.expireAt - e.freshUntil
	e.freshUntil = now + int64(ttl)
	e.expireAt = e.freshUntil + window
	return true, nil
}

// AcquireLock implements Store. A lock costs its key and LockOverhead
// against the tenant's and the store's byte bounds, like an entry: taking one
// may evict entries, and a tenant's locks alone may not outgrow its byte limit
// (or the store's), nor MaxLocksPerTenant. Expired locks are found through a
// heap ordered by expiry, so the check at the limit costs O(log n), not a
// scan of the tenant's locks.
func (m *Memory) AcquireLock(ctx context.Context, tenant, key string, hold time.Duration) (string, bool, error) {
	if err := m.check(ctx); err != nil {
		return "", false, err
	}
	p := m.part(tenant, true)
	now := m.now().UnixNano()
	p.mu.Lock()
	if l, ok := p.locks[key]; ok && l.until > now {
		p.mu.Unlock()
		return "", false, nil
	}
	m.expireLocks(p, now, -1)
	size := allocSize(len(key)) + LockOverhead
	limit := m.opts.MaxBytes
	if t := m.opts.Tenant.MaxBytes; t > 0 && t < limit {
		limit = t
	}
	if len(p.locks) >= m.opts.MaxLocksPerTenant || p.lockBytes+size > limit {
		p.mu.Unlock()
		return "", false, ErrTooManyLocks
	}
	l := &memLock{key: key, id: rand.Text(), until: now + int64(hold), size: size}
	p.locks[key] = l
	heap.Push(&p.expiry, l)
	p.lockBytes += size
	p.bytes.Add(size)
	m.total.Add(size)
	m.fitTenant(p, nil)
	p.mu.Unlock()
	if m.total.Load() > m.opts.MaxBytes {
		m.evictGlobal()
	}
	return l.id, true, nil
}

// dropLock removes l; p.mu held.
func (m *Memory) dropLock(p *partition, l *memLock) {
	heap.Remove(&p.expiry, l.idx)
	delete(p.locks, l.key)
	p.lockBytes -= l.size
	p.bytes.Add(-l.size)
	m.total.Add(-l.size)
}

// expireLocks drops up to max (all when negative) expired locks, soonest
// first; p.mu held. It reports how many it dropped.
func (m *Memory) expireLocks(p *partition, now int64, max int) int {
	n := 0
	for len(p.expiry) > 0 && p.expiry[0].until <= now && n != max {
		m.dropLock(p, p.expiry[0])
		n++
	}
	return n
}

// ReleaseLock implements Store.
func (m *Memory) ReleaseLock(ctx context.Context, tenant, key, lockID string) (bool, error) {
	if err := m.check(ctx); err != nil {
		return false, err
	}
	p := m.part(tenant, false)
	if p == nil {
		return false, nil
	}
	now := m.now().UnixNano()
	p.mu.Lock()
	defer p.mu.Unlock()
	l, ok := p.locks[key]
	if !ok {
		return false, nil
	}
	if l.until <= now {
		m.dropLock(p, l)
		return false, nil
	}
	if subtle.ConstantTimeCompare([]byte(l.id), []byte(lockID)) != 1 {
		return false, nil
	}
	m.dropLock(p, l)
	return true, nil
}

// Ping implements Store.
func (m *Memory) Ping(ctx context.Context) error { return m.check(ctx) }

// Stats implements Store.
func (m *Memory) Stats() Stats {
	return Stats{Entries: m.entries.Load(), Bytes: m.total.Load(), Evictions: m.evicted.Load(), Expired: m.expired.Load()}
}

// Close stops the sweeper. Later calls fail with ErrClosed.
func (m *Memory) Close() error {
	if m.closed.CompareAndSwap(false, true) {
		close(m.stop)
	}
	<-m.done
	return nil
}

func (m *Memory) sweeper(every time.Duration) {
	defer close(m.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			m.Sweep()
		}
	}
}

// sweepSample is how many entries one sampling round looks at per tenant.
const sweepSample = 32

// Sweep removes expired entries and locks by sampling, the way Redis expires
// keys actively: look at a sample per tenant and repeat while more than a
// quarter of it was expired (bounded, so one call never stalls a tenant). The
// background sweeper calls it; it is exported for tests and tools.
func (m *Memory) Sweep() {
	m.mu.RLock()
	parts := make([]*partition, 0, len(m.tenants))
	for _, p := range m.tenants {
		parts = append(parts, p)
	}
	m.mu.RUnlock()
	for _, p := range parts {
		for round := 0; round < 16; round++ {
			now := m.now().UnixNano()
			p.mu.Lock()
			seen, gone := 0, 0
			for _, e := range p.entries {
				if seen == sweepSample {
					break
				}
				seen++
				if now >= e.expireAt {
					m.remove(p, e)
					m.expired.Add(1)
					gone++
				}
			}
			locksGone := m.expireLocks(p, now, sweepSample)
			p.mu.Unlock()
			if gone*4 <= seen && locksGone < sweepSample {
				break
			}
		}
	}
}

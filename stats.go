package cachekit

import (
	"sync/atomic"
	"time"
	"unsafe"
)

// Info is a snapshot of a cache's or a wrapper's counters, the Go form of
// Python's cache_info(). Counters only grow; compare two snapshots for rates.
type Info struct {
	// Hits counts calls answered from the cache (L1Hits + L2Hits).
	Hits uint64
	// Misses counts calls that ran the function (or loader).
	Misses uint64
	// Coalesced counts calls that missed but waited for another caller's
	// run of the function instead of running it (stampede protection):
	// neither hits nor misses, so 200 concurrent calls of a cold key are 1
	// miss and 199 coalesced.
	Coalesced uint64
	// L1Hits counts calls answered by the in-process tier.
	L1Hits uint64
	// L2Hits counts calls answered by the backend.
	L2Hits uint64
	// Bypassed counts calls that skipped the cache (Bypass, BypassAlways) or
	// had arguments the key layer cannot encode.
	Bypassed uint64
	// BackendErrors counts failed backend operations (each served as a miss).
	BackendErrors uint64
	// DecodeErrors counts stored entries that could not be decoded (corrupt,
	// foreign serializer, wrong type) or decrypted; each was treated as a
	// miss, except decryption failures of a fail-closed cache, which were
	// returned as errors.
	DecodeErrors uint64
	// EncodeErrors counts results that could not be serialized and were
	// therefore returned without being stored.
	EncodeErrors uint64
	// TooLarge counts results above the maximum value size (returned, not
	// stored).
	TooLarge uint64
	// Refreshes counts completed stale-while-revalidate refreshes;
	// RefreshErrors those whose function failed (the old value kept serving).
	Refreshes, RefreshErrors uint64
	// Discarded counts results not stored because the entry was invalidated
	// or cleared while they were being computed.
	Discarded uint64
	// L1TooLarge counts values not kept in the in-process tier because one
	// of its shards cannot hold them (they are stored in the backend and read
	// from there); raise WithL1Size if it grows.
	L1TooLarge uint64
	// AvgBackendLatency is the mean duration of backend operations.
	AvgBackendLatency time.Duration
	// L1Bytes and L1Entries describe the in-process tier of the whole cache
	// (it is shared by all wrappers).
	L1Bytes   int64
	L1Entries int
	// L1Evictions counts unexpired entries the in-process tier dropped to
	// stay within its size (whole cache). A steady rate means L1 is too
	// small for the working set.
	L1Evictions uint64
	// Encryption describes the encryption of the whole cache (also in a
	// wrapper's Info): whether it is on, the encryptions, the reads per
	// master key and the rejected reads by reason.
	Encryption EncryptionInfo
	// Resilience describes the backend protections of the whole cache
	// (also in a wrapper's Info): breaker, budgets, write-behind queue,
	// backpressure and stampede locks.
	Resilience ResilienceInfo
	// Coherence describes the L1 invalidation channel between the caches
	// sharing the backend (whole cache; also in a wrapper's Info).
	Coherence CoherenceInfo
}

// HitRate returns Hits / (Hits + Misses), or 0 before the first call.
func (i Info) HitRate() float64 {
	if i.Hits+i.Misses == 0 {
		return 0
	}
	return float64(i.Hits) / float64(i.Hits+i.Misses)
}

type counters struct {
	// l1HitStripes count L1 hits (each also a hit) on separate cache lines:
	// an L1 hit is the hottest path, and one shared counter made parallel
	// hits contend on its line.
	l1HitStripes [hitStripes]struct {
		n atomic.Uint64
		_ [56]byte
	}
	hits, misses, l2Hits, bypassed                atomic.Uint64 // hits: L2 hits (L1 hits are striped)
	backendErrors, decodeErrors, encodeErrors     atomic.Uint64
	tooLarge, refreshes, refreshErrors, discarded atomic.Uint64
	l1TooLarge, coalesced                         atomic.Uint64
	backendNanos, backendOps                      atomic.Uint64
}

// hitStripes is the number of L1 hit counters (a power of two).
const hitStripes = 16

// hitStripe picks a hit counter for the calling goroutine from the address of
// its stack: goroutines run on different stacks, so concurrent hits mostly
// land on different counters. Any stripe is correct; this only spreads them.
func hitStripe() int {
	var local byte
	return int(uintptr(unsafe.Pointer(&local))>>12) & (hitStripes - 1)
}

// l1HitCount returns the L1 hits counted so far.
func (c *counters) l1HitCount() uint64 {
	var n uint64
	for i := range c.l1HitStripes {
		n += c.l1HitStripes[i].n.Load()
	}
	return n
}

func (c *counters) snapshot() Info {
	l1 := c.l1HitCount()
	i := Info{
		Hits:          c.hits.Load() + l1,
		Misses:        c.misses.Load(),
		L1Hits:        l1,
		L2Hits:        c.l2Hits.Load(),
		Bypassed:      c.bypassed.Load(),
		BackendErrors: c.backendErrors.Load(),
		DecodeErrors:  c.decodeErrors.Load(),
		EncodeErrors:  c.encodeErrors.Load(),
		TooLarge:      c.tooLarge.Load(),
		Refreshes:     c.refreshes.Load(),
		RefreshErrors: c.refreshErrors.Load(),
		Discarded:     c.discarded.Load(),
		L1TooLarge:    c.l1TooLarge.Load(),
		Coalesced:     c.coalesced.Load(),
	}
	if ops := c.backendOps.Load(); ops > 0 {
		i.AvgBackendLatency = time.Duration(c.backendNanos.Load() / ops)
	}
	return i
}

// stats records into the cache's counters and, when set, a wrapper's.
type stats struct{ cache, fn *counters }

func (s stats) add(pick func(*counters) *atomic.Uint64) {
	pick(s.cache).Add(1)
	if s.fn != nil {
		pick(s.fn).Add(1)
	}
}

func (s stats) l1Hit() {
	i := hitStripe()
	s.cache.l1HitStripes[i].n.Add(1)
	if s.fn != nil {
		s.fn.l1HitStripes[i].n.Add(1)
	}
}

func (s stats) l2Hit() {
	s.cache.hits.Add(1)
	s.cache.l2Hits.Add(1)
	if s.fn != nil {
		s.fn.hits.Add(1)
		s.fn.l2Hits.Add(1)
	}
}

func (s stats) backendOp(d time.Duration) {
	s.cache.backendOps.Add(1)
	s.cache.backendNanos.Add(uint64(max(d, 0)))
	if s.fn != nil {
		s.fn.backendOps.Add(1)
		s.fn.backendNanos.Add(uint64(max(d, 0)))
	}
}

func misses(c *counters) *atomic.Uint64        { return &c.misses }
func bypassed(c *counters) *atomic.Uint64      { return &c.bypassed }
func backendErrors(c *counters) *atomic.Uint64 { return &c.backendErrors }
func decodeErrors(c *counters) *atomic.Uint64  { return &c.decodeErrors }
func encodeErrors(c *counters) *atomic.Uint64  { return &c.encodeErrors }
func tooLarge(c *counters) *atomic.Uint64      { return &c.tooLarge }
func refreshes(c *counters) *atomic.Uint64     { return &c.refreshes }
func refreshErrors(c *counters) *atomic.Uint64 { return &c.refreshErrors }
func discarded(c *counters) *atomic.Uint64     { return &c.discarded }
func l1TooLarge(c *counters) *atomic.Uint64    { return &c.l1TooLarge }
func coalesced(c *counters) *atomic.Uint64     { return &c.coalesced }

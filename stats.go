package cachekit

import (
	"sync/atomic"
	"time"
)

// Info is a snapshot of a cache's or a wrapper's counters, the Go form of
// Python's cache_info(). Counters only grow; compare two snapshots for rates.
type Info struct {
	// Hits counts calls answered from the cache (L1Hits + L2Hits).
	Hits uint64
	// Misses counts calls that ran the function (or loader), including calls
	// that joined another caller's shared run.
	Misses uint64
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
	// AvgBackendLatency is the mean duration of backend operations.
	AvgBackendLatency time.Duration
	// L1Bytes and L1Entries describe the in-process tier of the whole cache
	// (it is shared by all wrappers).
	L1Bytes   int64
	L1Entries int
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
	hits, misses, l1Hits, l2Hits, bypassed        atomic.Uint64
	backendErrors, decodeErrors, encodeErrors     atomic.Uint64
	tooLarge, refreshes, refreshErrors, discarded atomic.Uint64
	backendNanos, backendOps                      atomic.Uint64
}

func (c *counters) snapshot() Info {
	i := Info{
		Hits:          c.hits.Load(),
		Misses:        c.misses.Load(),
		L1Hits:        c.l1Hits.Load(),
		L2Hits:        c.l2Hits.Load(),
		Bypassed:      c.bypassed.Load(),
		BackendErrors: c.backendErrors.Load(),
		DecodeErrors:  c.decodeErrors.Load(),
		EncodeErrors:  c.encodeErrors.Load(),
		TooLarge:      c.tooLarge.Load(),
		Refreshes:     c.refreshes.Load(),
		RefreshErrors: c.refreshErrors.Load(),
		Discarded:     c.discarded.Load(),
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
	s.cache.hits.Add(1)
	s.cache.l1Hits.Add(1)
	if s.fn != nil {
		s.fn.hits.Add(1)
		s.fn.l1Hits.Add(1)
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

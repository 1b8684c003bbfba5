package server

import (
	"hash/maphash"
	"math"
	"sync"
	"time"
)

const (
	limiterShards = 64
	// maxBucketsPerShard bounds the limiter's memory: past it, idle buckets
	// are dropped, and if too few are idle arbitrary ones are, down to 7/8 of
	// the bound, so a flood of new keys pays for one scan per many inserts
	// rather than one per insert (a dropped bucket restarts full, so the
	// bound can only make the limiter more lenient).
	maxBucketsPerShard = 1 << 12
)

type bucketKey struct{ tenant, key string }

type bucket struct {
	tokens float64
	last   int64 // unix ns of the last refill
}

type limiterShard struct {
	mu      sync.Mutex
	buckets map[bucketKey]*bucket
}

// limiter is a token bucket per (tenant, key), held in this process: with
// several replicas each enforces the rate on its own share of the traffic.
type limiter struct {
	rate     float64 // tokens per second
	burst    float64
	seed     maphash.Seed
	maxShard int // maxBucketsPerShard; tests lower it
	shards   [limiterShards]limiterShard
}

func newLimiter(rate float64, burst int) *limiter {
	if burst < 1 {
		burst = int(math.Max(1, math.Ceil(rate)))
	}
	l := &limiter{rate: rate, burst: float64(burst), seed: maphash.MakeSeed(), maxShard: maxBucketsPerShard}
	for i := range l.shards {
		l.shards[i].buckets = map[bucketKey]*bucket{}
	}
	return l
}

// allow takes a token for (tenant, key) at now. When none is left it returns
// false and how long until one is.
func (l *limiter) allow(tenant, key string, now time.Time) (bool, time.Duration) {
	var h maphash.Hash
	h.SetSeed(l.seed)
	h.WriteString(tenant)
	h.WriteByte(0)
	h.WriteString(key)
	s := &l.shards[h.Sum64()%limiterShards]
	n := now.UnixNano()
	k := bucketKey{tenant, key}
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.buckets[k]
	if b == nil {
		if len(s.buckets) >= l.maxShard {
			l.prune(s, n)
		}
		b = &bucket{tokens: l.burst, last: n}
		s.buckets[k] = b
	} else if n > b.last {
		b.tokens = math.Min(l.burst, b.tokens+float64(n-b.last)/1e9*l.rate)
		b.last = n
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) / l.rate * 1e9)
	return false, wait
}

// prune drops buckets that have refilled completely (they carry no state),
// then, while the shard is above 7/8 of its bound, arbitrary ones. s.mu must
// be held.
func (l *limiter) prune(s *limiterShard, now int64) {
	full := int64(l.burst / l.rate * 1e9)
	for k, b := range s.buckets {
		if now-b.last >= full {
			delete(s.buckets, k)
		}
	}
	keep := l.maxShard - l.maxShard/8
	for k := range s.buckets {
		if len(s.buckets) <= keep {
			break
		}
		delete(s.buckets, k)
	}
}

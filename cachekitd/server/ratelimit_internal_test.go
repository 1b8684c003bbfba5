package server

import (
	"strconv"
	"testing"
	"time"
)

// TestLimiterMemoryBounded: a flood of distinct keys that never go idle keeps
// the limiter within its bound, prunes in batches (not one scan per new key),
// and never stops limiting a key that keeps its bucket.
func TestLimiterMemoryBounded(t *testing.T) {
	t.Parallel()
	l := newLimiter(0.001, 1) // buckets stay non-idle for 1000 s
	l.maxShard = 64
	now := time.Unix(1_700_000_000, 0)
	buckets := func() (n int) {
		for i := range l.shards {
			n += len(l.shards[i].buckets)
		}
		return n
	}
	prunes := 0
	for i := range 50_000 {
		before := buckets()
		if ok, _ := l.allow("t", "k"+strconv.Itoa(i), now); !ok {
			t.Fatalf("first request of a new key %d refused", i)
		}
		if after := buckets(); after < before {
			prunes++
		}
		if n := buckets(); n > limiterShards*l.maxShard {
			t.Fatalf("%d buckets after %d keys, bound %d", n, i+1, limiterShards*l.maxShard)
		}
	}
	// Each prune frees an eighth of a shard, so there is one prune per
	// maxShard/8 new keys in a shard, not one per key.
	if prunes == 0 || prunes > 50_000/(l.maxShard/8)+limiterShards {
		t.Fatalf("%d prunes for 50000 new keys", prunes)
	}
	// Limiting still works with full shards: a key's second request within
	// its burst of 1 is refused.
	if ok, _ := l.allow("t", "hot", now); !ok {
		t.Fatal("hot key refused at first")
	}
	if ok, wait := l.allow("t", "hot", now); ok || wait <= 0 {
		t.Fatalf("second request within the burst of 1 allowed (%v, %v)", ok, wait)
	}
}

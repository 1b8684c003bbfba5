package cachekit_test

import (
	"context"
	"fmt"
	"time"

	"github.com/cachekit-go/cachekit"
	"github.com/cachekit-go/cachekit/backend/memory"
	"github.com/cachekit-go/cachekit/backend/redis"
)

// Over Redis, every replica's cache subscribes to the key prefix's
// invalidation channel: a Set (or Delete, Invalidate, Clear, new value) in
// one replica drops the others' L1 copies within milliseconds. While the
// channel is down, L1 entries live at most the fallback TTL.
func ExampleWithCoherence() {
	b, err := redis.NewFromURL("redis://localhost:6379/0")
	if err != nil {
		panic(err)
	}
	defer b.Close()
	c, err := cachekit.New(cachekit.WithBackend(b),
		cachekit.WithCoherence(true), // the default; false turns the channel off
		cachekit.WithCoherenceFallbackTTL(500*time.Millisecond))
	if err != nil {
		panic(err)
	}
	defer c.Close()
	_ = c.Set(context.Background(), "config:flags", "v2", 0) // other replicas drop their copies
	fmt.Println(c.Info().Coherence.State)
}

// A backend without an invalidation channel (memcached, DynamoDB, a file)
// cannot tell other processes about a change: cap L1 so that they see it
// within a bound.
func ExampleWithL1TTL() {
	c, err := cachekit.New(cachekit.WithBackend(memory.New(memory.Options{})), cachekit.WithL1TTL(5*time.Second))
	if err != nil {
		panic(err)
	}
	defer c.Close()
	fmt.Println(c.Info().Coherence.State)
	// Output: off
}

package cachekit_test

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/cachekit-go/cachekit"
	"github.com/cachekit-go/cachekit/backend/memory"
)

// The resilience options (docs/reliability.md): how long a miss may wait for
// the backend, when the breaker opens and for how long, and the write-behind
// queue. Info().Resilience shows what they did.
func ExampleWithReadBudget() {
	c, err := cachekit.New(
		cachekit.WithBackend(memory.New(memory.Options{})),
		cachekit.WithReadBudget(30*time.Millisecond),      // a miss waits for the backend at most 30 ms
		cachekit.WithCircuitBreaker(3, 2*time.Second),     // 3 failures in a row: skip it for 2 s
		cachekit.WithWriteQueue(1024, 2),                  // backend writes in the background
		cachekit.WithBackpressure(128, 256),               // bounds on backend operations and detached loads
		cachekit.WithStampedeLock(true, 5*time.Second, 0), // one process computes a missing key
		cachekit.WithLogger(slog.New(slog.DiscardHandler)),
	)
	if err != nil {
		panic(err)
	}
	defer c.Close()
	getUser := cachekit.MustWrap1(c, getUserFromDB)
	u, _ := getUser.Call(context.Background(), 1)
	fmt.Println(u.Name)
	r := c.Info().Resilience
	fmt.Println("breaker:", r.Breaker, "lock taken:", r.LockAcquired)
	// Output:
	// user-1
	// breaker: closed lock taken: 1
}

// Backend writes are made in the background; Flush waits for them (Close
// does too), for code that must know they landed.
func ExampleCache_Flush() {
	mem := memory.New(memory.Options{})
	c, _ := cachekit.New(cachekit.WithBackend(mem))
	defer c.Close()
	getUser := cachekit.MustWrap1(c, getUserFromDB)
	ctx := context.Background()
	_, _ = getUser.Call(ctx, 2)
	if err := c.Flush(ctx); err != nil {
		panic(err)
	}
	k, _ := getUser.Key(2)
	ok, _ := mem.Exists(ctx, k)
	fmt.Println("in the backend:", ok)
	// Output:
	// in the backend: true
}

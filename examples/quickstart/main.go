// Command quickstart is the main job of the README: it wraps a slow function
// with cachekit, calls it twice and shows the miss, the hit and the time
// saved, first with the embedded default (in-process only, nothing to
// install), then through Redis when REDIS_URL is set.
//
//	go run ./examples/quickstart
//	REDIS_URL=redis://localhost:6379/0 go run ./examples/quickstart
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/cachekit-go/cachekit"
	"github.com/cachekit-go/cachekit/backend/redis"
)

// slowSquare stands in for an expensive call: a query, a remote API, a
// computation.
func slowSquare(ctx context.Context, n int) (int, error) {
	select {
	case <-time.After(200 * time.Millisecond):
		return n * n, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

func main() {
	ctx := context.Background()
	c, err := cachekit.New() // the embedded default: in-process only
	if err != nil {
		fail(err)
	}
	demo(ctx, "in-process", c)
	_ = c.Close()

	url := os.Getenv("REDIS_URL")
	if url == "" {
		fmt.Println("\nSet REDIS_URL (e.g. redis://localhost:6379/0) to run the same through Redis.")
		return
	}
	rdb, err := redis.NewFromURL(url)
	if err != nil {
		fail(err)
	}
	defer rdb.Close()
	rc, err := cachekit.New(cachekit.WithBackend(rdb), cachekit.WithNamespace("quickstart"))
	if err != nil {
		fail(err)
	}
	defer rc.Close()
	fmt.Println()
	demo(ctx, "redis", rc)
}

func demo(ctx context.Context, label string, c *cachekit.Cache) {
	square, err := cachekit.Wrap1(c, slowSquare, cachekit.TTL(time.Minute))
	if err != nil {
		fail(err)
	}
	// Start clean, so that the first call is a miss even when an earlier run
	// left the entry in Redis.
	if err := square.Invalidate(ctx, 42); err != nil {
		fail(err)
	}
	key, _ := square.Key(42)
	fmt.Printf("[%s] key %s\n", label, key)

	start := time.Now()
	v, err := square.Call(ctx, 42)
	if err != nil {
		fail(err)
	}
	miss := time.Since(start)
	fmt.Printf("[%s] first call:  miss  %-10v result=%d\n", label, miss.Round(time.Microsecond), v)

	start = time.Now()
	v, err = square.Call(ctx, 42)
	if err != nil {
		fail(err)
	}
	hit := time.Since(start)
	fmt.Printf("[%s] second call: hit   %-10v result=%d (saved %v)\n", label, hit.Round(time.Microsecond), v, (miss - hit).Round(time.Microsecond))

	if c.Backend() != nil {
		// A second process would read the entry from Redis: show it with a
		// fresh cache on the same backend.
		other, err := cachekit.New(cachekit.WithBackend(c.Backend()), cachekit.WithNamespace("quickstart"))
		if err != nil {
			fail(err)
		}
		defer other.Close()
		again := cachekit.MustWrap1(other, slowSquare, cachekit.TTL(time.Minute))
		start = time.Now()
		v, err = again.Call(ctx, 42)
		if err != nil {
			fail(err)
		}
		fmt.Printf("[%s] another cache, same backend: %-10v result=%d (L2 hits: %d)\n",
			label, time.Since(start).Round(time.Microsecond), v, again.Info().L2Hits)
	}
	i := square.Info()
	fmt.Printf("[%s] info: hits=%d misses=%d l1_hits=%d l2_hits=%d l1_bytes=%d\n",
		label, i.Hits, i.Misses, i.L1Hits, i.L2Hits, i.L1Bytes)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "quickstart:", err)
	os.Exit(1)
}

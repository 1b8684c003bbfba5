package cachekit

import (
	"context"
	"os"
	"testing"

	"github.com/cachekit-go/cachekit/backend/redis"
)

// BenchmarkWrapperL1HitRedis is the L1 hit path of a cache over Redis (with
// its invalidation channel subscribed, the default): it must cost what the
// in-process hit costs.
func BenchmarkWrapperL1HitRedis(b *testing.B) {
	addr := os.Getenv("CACHEKIT_TEST_REDIS_ADDR")
	if addr == "" {
		b.Skip("CACHEKIT_TEST_REDIS_ADDR not set")
	}
	be, err := redis.New(redis.Options{Addrs: []string{addr}, KeyPrefix: "bench-l1hit:"})
	if err != nil {
		b.Fatal(err)
	}
	defer be.Close()
	c, err := New(WithBackend(be), quiet())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	f := MustWrap1(c, benchUser)
	ctx := context.Background()
	_, _ = f.Call(ctx, 42)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.Call(ctx, 42); err != nil {
			b.Fatal(err)
		}
	}
}

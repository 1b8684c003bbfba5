package bench

import (
	"context"
	"fmt"
	"testing"
	"time"

	rcache "github.com/go-redis/cache/v9"
	"github.com/maypok86/otter/v2"
	"github.com/viccon/sturdyc"

	"github.com/cachekit-go/cachekit"
)

// hitKeys is the number of distinct arguments the hit scenarios cycle over
// (all of them cached before timing starts).
const hitKeys = 1024

// BenchmarkL1Hit: an in-process hit through each library's read-through API
// with one int argument and a small struct result. otter is a bare Get with a
// precomputed key (the floor); sturdyc and go-redis/cache build their key
// with Sprintf, as their documentation does.
func BenchmarkL1Hit(b *testing.B) {
	ctx := context.Background()
	for _, mode := range []struct {
		name string
		g    int
	}{{"serial", 1}, {"parallel", 64}} {
		b.Run(mode.name+"/cachekit", func(b *testing.B) {
			c := must(cachekit.New(quiet()))
			defer c.Close()
			f := cachekit.MustWrap1(c, loadUser)
			for i := range hitKeys {
				must(f.Call(ctx, i))
			}
			b.ReportAllocs()
			b.ResetTimer()
			defer cpuPerOp(b)()
			parallel(b, mode.g, func(next func() bool, w int) {
				i := w * 7
				for next() {
					i++
					if u, err := f.Call(ctx, i&(hitKeys-1)); err != nil || u.Name == "" {
						b.Error("bad hit", err)
						return
					}
				}
			})
		})
		b.Run(mode.name+"/otter", func(b *testing.B) {
			c := otter.Must(&otter.Options[string, User]{MaximumSize: 1 << 16, ExpiryCalculator: otter.ExpiryWriting[string, User](time.Hour)})
			keys := make([]string, hitKeys)
			for i := range keys {
				keys[i] = keyName(i)
				c.Set(keys[i], User{ID: i, Name: "ada"})
			}
			b.ReportAllocs()
			b.ResetTimer()
			defer cpuPerOp(b)()
			parallel(b, mode.g, func(next func() bool, w int) {
				i := w * 7
				for next() {
					i++
					if u, ok := c.GetIfPresent(keys[i&(hitKeys-1)]); !ok || u.Name == "" {
						b.Error("miss")
						return
					}
				}
			})
		})
		b.Run(mode.name+"/sturdyc", func(b *testing.B) {
			c := sturdyc.New[User](1<<16, 16, time.Hour, 10)
			fetch := func(id int) func(context.Context) (User, error) {
				return func(ctx context.Context) (User, error) { return loadUser(ctx, id) }
			}
			for i := range hitKeys {
				must(c.GetOrFetch(ctx, fmt.Sprintf("user:%d", i), fetch(i)))
			}
			b.ReportAllocs()
			b.ResetTimer()
			defer cpuPerOp(b)()
			parallel(b, mode.g, func(next func() bool, w int) {
				i := w * 7
				for next() {
					i++
					id := i & (hitKeys - 1)
					if u, err := c.GetOrFetch(ctx, fmt.Sprintf("user:%d", id), func(ctx context.Context) (User, error) {
						return loadUser(ctx, id)
					}); err != nil || u.Name == "" {
						b.Error("bad hit", err)
						return
					}
				}
			})
		})
		b.Run(mode.name+"/go-redis-cache", func(b *testing.B) {
			c := rcache.New(&rcache.Options{LocalCache: rcache.NewTinyLFU(1<<16, time.Hour)})
			for i := range hitKeys {
				u := User{ID: i, Name: "ada"}
				if err := c.Set(&rcache.Item{Ctx: ctx, Key: fmt.Sprintf("user:%d", i), Value: &u}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			defer cpuPerOp(b)()
			parallel(b, mode.g, func(next func() bool, w int) {
				i := w * 7
				var u User
				for next() {
					i++
					if err := c.Get(ctx, fmt.Sprintf("user:%d", i&(hitKeys-1)), &u); err != nil || u.Name == "" {
						b.Error("bad hit", err)
						return
					}
				}
			})
		})
	}
}

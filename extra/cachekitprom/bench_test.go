package cachekitprom_test

import (
	"context"
	"testing"

	"github.com/cachekit-go/cachekit"
	"github.com/cachekit-go/cachekit/extra/cachekitprom"
)

// An L1 hit observed by the Collector: the cost of the metrics on the
// hottest path (counter and histogram lookups by label values).
func BenchmarkL1HitWithCollector(b *testing.B) {
	for _, observed := range []bool{false, true} {
		name := "no-observer"
		var opts []cachekit.Option
		if observed {
			name = "collector"
			opts = append(opts, cachekit.WithObserver(cachekitprom.New()))
		}
		b.Run(name, func(b *testing.B) {
			c, err := cachekit.New(opts...)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			f := cachekit.MustWrap1(c, getUser, cachekit.Name("users.get"))
			ctx := context.Background()
			_, _ = f.Call(ctx, 1)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := f.Call(ctx, 1); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

package redis_test

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/backend/redis"
)

// ListKeys lists the keys under the backend's prefix, without it and
// without lock keys, and counts every key it examined; KeyCount counts the
// whole database.
func TestListKeys(t *testing.T) {
	for name, optsFor := range map[string]func(testing.TB) redis.Options{"standalone": standaloneOptions, "cluster": clusterOptions} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			prefix := "listkeys:" + strconv.FormatInt(time.Now().UnixNano(), 36) + ":"
			opts := optsFor(t)
			opts.KeyPrefix = prefix
			b := open(t, opts)
			other := open(t, optsFor(t)) // no prefix: sees the prefixed keys too
			var want []string
			for i := range 5 {
				k := "k" + strconv.Itoa(i)
				want = append(want, k)
				if err := b.Set(ctx, k, []byte("v"), time.Minute); err != nil {
					t.Fatal(err)
				}
			}
			if _, ok, err := b.AcquireLock(ctx, "k0", time.Minute); err != nil || !ok {
				t.Fatal(ok, err)
			}
			total, err := b.KeyCount(ctx)
			if err != nil || total < 6 {
				t.Fatalf("KeyCount = %d, %v; want at least 6", total, err)
			}
			var got []string
			examined := 0
			if err := b.ListKeys(ctx, func(n int, keys []string) error {
				examined += n
				got = append(got, keys...)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("ListKeys under %q = %v, want %v", prefix, got, want)
			}
			if examined < 6 {
				t.Errorf("examined %d keys, want at least the 6 written", examined)
			}
			var seen int
			if err := other.ListKeys(ctx, func(_ int, keys []string) error {
				for _, k := range keys {
					if strings.HasPrefix(k, prefix) {
						seen++
					}
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if seen != 5 {
				t.Errorf("a backend without prefix listed %d of the 5 keys (locks must be left out)", seen)
			}
		})
	}
}

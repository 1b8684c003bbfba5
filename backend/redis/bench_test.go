package redis_test

import (
	"context"
	"strconv"
	"testing"
	"time"
)

// Benchmarks against the real standalone test server, 1 KiB values: serial
// (bound by the round trip) and parallel (auto-pipelining batches the
// goroutines' commands on shared connections).

func benchValue() []byte {
	v := make([]byte, 1024)
	for i := range v {
		v[i] = byte(i)
	}
	return v
}

func BenchmarkSet(b *testing.B) {
	r := open(b, standaloneOptions(b))
	ctx, v := context.Background(), benchValue()
	key := "bench:set:" + randText()
	b.ReportAllocs()
	b.SetBytes(int64(len(v)))
	for b.Loop() {
		if err := r.Set(ctx, key, v, time.Minute); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGet(b *testing.B) {
	r := open(b, standaloneOptions(b))
	ctx, v := context.Background(), benchValue()
	key := "bench:get:" + randText()
	if err := r.Set(ctx, key, v, time.Minute); err != nil {
		b.Fatal(err)
	}
	b.Run("Get", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, found, err := r.Get(ctx, key); err != nil || !found {
				b.Fatal(found, err)
			}
		}
	})
	// What an L2 hit costs the cache: one round trip for value and TTL,
	// against two for Get then TTL.
	b.Run("GetWithTTL", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, found, err := r.GetWithTTL(ctx, key); err != nil || !found {
				b.Fatal(found, err)
			}
		}
	})
	b.Run("GetThenTTL", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, found, err := r.Get(ctx, key); err != nil || !found {
				b.Fatal(found, err)
			}
			if _, found, err := r.TTL(ctx, key); err != nil || !found {
				b.Fatal(found, err)
			}
		}
	})
}

func BenchmarkGetParallel(b *testing.B) {
	r := open(b, standaloneOptions(b))
	ctx, v := context.Background(), benchValue()
	prefix := "bench:getp:" + randText() + ":"
	const keys = 64
	for i := range keys {
		if err := r.Set(ctx, prefix+strconv.Itoa(i), v, time.Minute); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(v)))
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, found, err := r.Get(ctx, prefix+strconv.Itoa(i%keys)); err != nil || !found {
				b.Error(found, err)
				return
			}
			i++
		}
	})
}

func BenchmarkSetParallel(b *testing.B) {
	r := open(b, standaloneOptions(b))
	ctx, v := context.Background(), benchValue()
	prefix := "bench:setp:" + randText() + ":"
	b.ReportAllocs()
	b.SetBytes(int64(len(v)))
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if err := r.Set(ctx, prefix+strconv.Itoa(i%64), v, time.Minute); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

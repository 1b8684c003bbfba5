package dynamodb_test

import (
	"bytes"
	"context"
	"strconv"
	"testing"
	"time"
)

// Benchmarks against the test server (dynalite): they measure the client
// side plus a loopback round trip, not DynamoDB's service latency.
func BenchmarkSet(b *testing.B) {
	for _, size := range []int{100, 4 << 10, 64 << 10} {
		b.Run(strconv.Itoa(size), func(b *testing.B) {
			be := newBackend(b)
			ctx := context.Background()
			key := testKey(b, "set")
			value := bytes.Repeat([]byte{'x'}, size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if err := be.Set(ctx, key, value, time.Minute); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkGet(b *testing.B) {
	for _, size := range []int{100, 4 << 10, 64 << 10} {
		b.Run(strconv.Itoa(size), func(b *testing.B) {
			be := newBackend(b)
			ctx := context.Background()
			key := testKey(b, "get")
			if err := be.Set(ctx, key, bytes.Repeat([]byte{'x'}, size), time.Minute); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if _, ok, err := be.Get(ctx, key); err != nil || !ok {
					b.Fatal(ok, err)
				}
			}
		})
	}
}

func BenchmarkGetMiss(b *testing.B) {
	be := newBackend(b)
	ctx := context.Background()
	key := testKey(b, "absent")
	b.ReportAllocs()
	for b.Loop() {
		if _, ok, err := be.Get(ctx, key); err != nil || ok {
			b.Fatal(ok, err)
		}
	}
}

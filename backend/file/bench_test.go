package file

import (
	"context"
	"log/slog"
	"strconv"
	"testing"
	"time"
)

func benchSetGet(b *testing.B, noSync bool) {
	be, err := New(Options{Dir: b.TempDir(), NoSync: noSync, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	value := make([]byte, 1024)
	b.ReportAllocs()
	b.SetBytes(int64(len(value)))
	i := 0
	for b.Loop() {
		k := "bench:" + strconv.Itoa(i%1000)
		i++
		if err := be.Set(ctx, k, value, time.Minute); err != nil {
			b.Fatal(err)
		}
		if _, _, err := be.Get(ctx, k); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSetGet(b *testing.B)       { benchSetGet(b, false) }
func BenchmarkSetGetNoSync(b *testing.B) { benchSetGet(b, true) }

func BenchmarkGet(b *testing.B) {
	be, err := New(Options{Dir: b.TempDir(), NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	_ = be.Set(ctx, "k", make([]byte, 1024), 0)
	b.ReportAllocs()
	for b.Loop() {
		if _, found, err := be.Get(ctx, "k"); err != nil || !found {
			b.Fatal(found, err)
		}
	}
}

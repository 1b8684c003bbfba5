package bench

import (
	"context"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dgraph-io/ristretto/v2"
	"github.com/maypok86/otter/v2"
	"github.com/viccon/sturdyc"
	"golang.org/x/crypto/blake2b"

	"github.com/cachekit-go/cachekit"
	"github.com/cachekit-go/cachekit/protocol/key"
)

// zipfLoads counts the calls of loadZipf (the misses of the cachekit run).
var zipfLoads atomic.Int64

func loadZipf(_ context.Context, k int) (int, error) {
	zipfLoads.Add(1)
	return k, nil
}

// zipfTrace returns n accesses over keys distinct keys, Zipf-distributed
// with exponent 1.01 (the same trace for every implementation).
func zipfTrace(keys, n int) []int {
	z := rand.NewZipf(rand.New(rand.NewPCG(1, 2)), 1.01, 1, uint64(keys-1))
	t := make([]int, n)
	for i := range t {
		t[i] = int(z.Uint64())
	}
	return t
}

// BenchmarkZipf: L1 only, a read-through over a Zipf(1.01) trace on 1M keys
// (20k at test sizes), every implementation holding the same number of
// entries (a tenth of the keys): cachekit's byte budget is that many times
// its charge per entry. The first pass over the trace warms the cache, the
// second measures hit% (both untimed); the timed loop then replays it.
func BenchmarkZipf(b *testing.B) {
	keys := scale(1_000_000, 20_000)
	capacity := keys / 10
	trace := zipfTrace(keys, scale(1<<21, 1<<16))
	ctx := context.Background()
	run := func(b *testing.B, get func(k int) bool) {
		// hit% is measured over the second pass, untimed: the same accesses
		// for every implementation (the timed loop's length depends on the
		// implementation's speed, and a longer run would give an adaptive
		// policy more passes to tune itself on).
		for _, k := range trace {
			get(k)
		}
		hits := 0
		for _, k := range trace {
			if get(k) {
				hits++
			}
		}
		b.ReportAllocs()
		b.ResetTimer()
		defer cpuPerOp(b)()
		for i := 0; b.Loop(); i++ {
			get(trace[i&(len(trace)-1)])
		}
		b.ReportMetric(100*float64(hits)/float64(len(trace)), "hit%")
	}
	b.Run("1.01/cachekit", func(b *testing.B) {
		probe := must(cachekit.New(quiet()))
		must(cachekit.MustWrap1(probe, loadZipf).Call(ctx, 123456))
		perEntry := probe.Info().L1Bytes
		_ = probe.Close()
		c := must(cachekit.New(quiet(), cachekit.WithL1Size(perEntry*int64(capacity))))
		defer c.Close()
		f := cachekit.MustWrap1(c, loadZipf)
		run(b, func(k int) bool {
			before := zipfLoads.Load()
			if _, err := f.Call(ctx, k); err != nil {
				b.Fatal(err)
			}
			return zipfLoads.Load() == before
		})
	})
	b.Run("1.01/otter", func(b *testing.B) {
		c := otter.Must(&otter.Options[int, int]{MaximumSize: capacity})
		var loads int
		loader := otter.LoaderFunc[int, int](func(_ context.Context, k int) (int, error) { loads++; return k, nil })
		run(b, func(k int) bool {
			before := loads
			if _, err := c.Get(ctx, k, loader); err != nil {
				b.Fatal(err)
			}
			return loads == before
		})
	})
	b.Run("1.01/ristretto", func(b *testing.B) {
		c := must(ristretto.NewCache(&ristretto.Config[int, int]{NumCounters: int64(capacity) * 10, MaxCost: int64(capacity), BufferItems: 64}))
		defer c.Close()
		run(b, func(k int) bool {
			if _, ok := c.Get(k); ok {
				return true
			}
			c.Set(k, k, 1)
			return false
		})
	})
}

// BenchmarkL1Memory: the live heap of an L1 given a byte budget, after
// writing 1M distinct keys (20k at test sizes) with values of 16 B, 100 B
// and 1 KiB (each a fresh slice, as a loader returns). heap/budget is the
// target metric (at most 1.25). otter gets the same budget with a weigher
// charging key + value + 96 B. ns/op is the fill time and means nothing.
func BenchmarkL1Memory(b *testing.B) {
	keys := scale(1_000_000, 20_000)
	budget := int64(scale(64<<20, 2<<20))
	names := make([]string, keys)
	for i := range names {
		names[i] = "k" + strconv.Itoa(i)
	}
	measure := func(b *testing.B, fill func() (held int, keep any)) {
		b.ReportAllocs()
		var ratio, per float64
		for b.Loop() {
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			held, keep := fill()
			runtime.GC()
			runtime.ReadMemStats(&after)
			heap := float64(after.HeapAlloc) - float64(before.HeapAlloc)
			ratio, per = heap/float64(budget), heap/float64(max(held, 1))
			runtime.KeepAlive(keep)
		}
		b.ReportMetric(ratio, "heap/budget")
		b.ReportMetric(per, "heapB/entry")
	}
	for _, size := range []int{16, 100, 1024} {
		name := fmt.Sprintf("%dB", size)
		b.Run(name+"/cachekit", func(b *testing.B) {
			ctx := context.Background()
			measure(b, func() (int, any) {
				c := must(cachekit.New(quiet(), cachekit.WithL1Size(budget)))
				for _, k := range names {
					if err := c.Set(ctx, k, make([]byte, size), time.Hour); err != nil {
						b.Fatal(err)
					}
				}
				return int(c.Info().L1Entries), c
			})
		})
		b.Run(name+"/otter", func(b *testing.B) {
			measure(b, func() (int, any) {
				c := otter.Must(&otter.Options[string, []byte]{MaximumWeight: uint64(budget),
					Weigher: func(k string, v []byte) uint32 { return uint32(len(k) + len(v) + 96) }})
				for _, k := range names {
					c.Set(k, make([]byte, size))
				}
				c.CleanUp()
				return c.EstimatedSize(), c
			})
		})
	}
}

// keygenArgs are the argument lists of the key generation scenario.
var keygenArgs = map[int][]any{
	1:  {42},
	3:  {42, "ada", 7},
	10: {42, "ada", 7, "lovelace", 1815, "analytical", 3, "engine", 99, "notes"},
}

// handPreimage writes MessagePack([args, {}]) for non-negative ints and
// short strings, the encoding a careful hand-written key function would use.
func handPreimage(b []byte, args []any) []byte {
	b = append(b, 0x92, 0x90|byte(len(args)))
	for _, a := range args {
		switch v := a.(type) {
		case int:
			switch {
			case v < 128:
				b = append(b, byte(v))
			case v < 1<<16:
				b = append(b, 0xcd, byte(v>>8), byte(v))
			default:
				b = append(b, 0xce, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
			}
		case string:
			b = append(b, 0xa0|byte(len(v)))
			b = append(b, v...)
		}
	}
	return append(b, 0x80)
}

// BenchmarkKeygen: cachekit's key for 1, 3 and 10 arguments against the
// same MessagePack preimage written by hand, hashed with blake2b-256 and
// hex-encoded into the same key shape.
func BenchmarkKeygen(b *testing.B) {
	const ident = "github.com/acme/app/users.GetUser"
	for _, n := range []int{1, 3, 10} {
		args := keygenArgs[n]
		b.Run(fmt.Sprintf("%dargs/cachekit", n), func(b *testing.B) {
			b.ReportAllocs()
			defer cpuPerOp(b)()
			for b.Loop() {
				if _, err := key.Build("", ident, args, nil, true); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("%dargs/by-hand", n), func(b *testing.B) {
			b.ReportAllocs()
			defer cpuPerOp(b)()
			var buf []byte
			for b.Loop() {
				buf = handPreimage(buf[:0], args)
				sum := blake2b.Sum256(buf)
				_ = "func:" + ident + ":args:" + hex.EncodeToString(sum[:]) + ":1s"
			}
		})
	}
}

// stampedeCalls counts the calls of slowLoad.
var stampedeCalls atomic.Int64

func slowLoad(ctx context.Context, k int) (int, error) {
	stampedeCalls.Add(1)
	time.Sleep(50 * time.Millisecond)
	return k, nil
}

// BenchmarkStampede: 1000 goroutines miss one key at once; the loader takes
// 50 ms. extra-ms is the wall time beyond the loader's 50 ms until the last
// caller has its value; calls/op is how often the loader ran (1 is right).
func BenchmarkStampede(b *testing.B) {
	const callers = 1000
	ctx := context.Background()
	run := func(b *testing.B, call func(k int)) {
		var seq int
		var extra time.Duration
		stampedeCalls.Store(0)
		for b.Loop() {
			seq++
			var wg sync.WaitGroup
			start := make(chan struct{})
			for range callers {
				wg.Go(func() {
					<-start
					call(seq)
				})
			}
			t0 := time.Now()
			close(start)
			wg.Wait()
			extra += time.Since(t0) - 50*time.Millisecond
		}
		b.ReportMetric(float64(extra.Microseconds())/1000/float64(b.N), "extra-ms")
		b.ReportMetric(float64(stampedeCalls.Load())/float64(b.N), "calls/op")
	}
	b.Run("1000callers/cachekit", func(b *testing.B) {
		c := must(cachekit.New(quiet()))
		defer c.Close()
		f := cachekit.MustWrap1(c, slowLoad)
		run(b, func(k int) {
			if _, err := f.Call(ctx, k); err != nil {
				b.Error(err)
			}
		})
	})
	b.Run("1000callers/otter", func(b *testing.B) {
		c := otter.Must(&otter.Options[int, int]{MaximumSize: 1 << 10})
		loader := otter.LoaderFunc[int, int](slowLoad)
		run(b, func(k int) {
			if _, err := c.Get(ctx, k, loader); err != nil {
				b.Error(err)
			}
		})
	})
	b.Run("1000callers/sturdyc", func(b *testing.B) {
		c := sturdyc.New[int](1<<10, 4, time.Hour, 10)
		run(b, func(k int) {
			if _, err := c.GetOrFetch(ctx, strconv.Itoa(k), func(ctx context.Context) (int, error) { return slowLoad(ctx, k) }); err != nil {
				b.Error(err)
			}
		})
	})
}

package bench

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	rcache "github.com/go-redis/cache/v9"
	"github.com/pierrec/lz4/v4"
	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/rueidis"
	"github.com/zeebo/xxh3"

	"github.com/cachekit-go/cachekit"
	ckredis "github.com/cachekit-go/cachekit/backend/redis"
	"github.com/cachekit-go/cachekit/protocol/frame"
)

// redisKeys is the number of distinct entries the Redis hit scenarios cycle
// over.
const redisKeys = 64

// blobs holds the payload of each size the Redis scenarios return.
var blobs = map[int][]byte{}

func blobFor(n int) []byte {
	if b, ok := blobs[n]; ok {
		return b
	}
	blobs[n] = payload(n, false)
	return blobs[n]
}

// loadBlob is the wrapped function of the Redis scenarios: the payload size
// travels in the namespace, so every size has its own keys.
func loadBlob(ctx context.Context, id int) ([]byte, error) {
	return blobFor(sizeOf(ctx)), nil
}

type sizeKey struct{}

func sizeOf(ctx context.Context) int { n, _ := ctx.Value(sizeKey{}).(int); return n }

type redisPeers struct {
	ck   *cachekit.Cache
	rue  rueidis.Client
	gor  *goredis.Client
	gorc *rcache.Cache
}

func newRedisPeers(b *testing.B) *redisPeers {
	addr := redisAddr(b)
	p := &redisPeers{}
	be := must(ckredis.New(ckredis.Options{Addrs: []string{addr}}))
	p.ck = must(cachekit.New(quiet(), cachekit.WithBackend(be), cachekit.WithL1(false), cachekit.WithTTL(time.Hour)))
	// Measure a running service, not its first seconds: the cache reads
	// Redis on the caller's goroutine once Redis has answered for 3 s
	// without a failure (docs/reliability.md, "read budget"), and through a
	// goroutine that bounds the read before that.
	if _, err := p.ck.Exists(context.Background(), "bench:steady"); err != nil {
		b.Fatal(err)
	}
	time.Sleep(3200 * time.Millisecond)
	p.rue = must(rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true}))
	p.gor = goredis.NewClient(&goredis.Options{Addr: addr, PoolSize: 128})
	p.gorc = rcache.New(&rcache.Options{Redis: p.gor})
	b.Cleanup(func() {
		_ = p.ck.Close()
		p.rue.Close()
		_ = p.gor.Close()
	})
	return p
}

// blockAt locates the LZ4 block inside a stored frame (frame header, then
// the envelope: 94, bin header, block, ...) and returns its offset and
// length, so that raw-rueidis-unpack can decompress what it GETs with
// pierrec/lz4 alone.
func blockAt(b *testing.B, stored []byte) (off, n int) {
	_, env, err := frame.Decode(stored)
	if err != nil || len(env) < 6 || env[0] != 0x94 {
		b.Fatalf("not a frame around an envelope: %v", err)
	}
	off = len(stored) - len(env) + 1
	switch env[1] {
	case 0xc4:
		n, off = int(env[2]), off+2
	case 0xc5:
		n, off = int(env[2])<<8|int(env[3]), off+3
	case 0xc6:
		n, off = int(env[2])<<24|int(env[3])<<16|int(env[4])<<8|int(env[5]), off+5
	default:
		b.Fatalf("compressed_data is not a bin (%#x)", env[1])
	}
	return off, n
}

// BenchmarkRedisHit: a Redis hit with L1 off, from 1, 16 and 64 goroutines,
// 1 KiB and 64 KiB. raw-rueidis and raw-go-redis GET the very bytes cachekit
// stored (frame + envelope), so they are the limit for those bytes;
// raw-rueidis-unpack also does what any reader of those bytes must (the
// protocol's integrity check): LZ4-decompress the block into a fresh slice
// and xxh3 it. go-redis/cache reads its own entry (MessagePack of the same
// payload, no local cache).
func BenchmarkRedisHit(b *testing.B) {
	p := newRedisPeers(b)
	for _, size := range []int{1 << 10, 64 << 10} {
		ctx := context.WithValue(context.Background(), sizeKey{}, size)
		f := cachekit.MustWrap1(p.ck, loadBlob, cachekit.Namespace("bench-"+strconv.Itoa(size)))
		keys := make([]string, redisKeys)
		for i := range redisKeys {
			must(f.Call(ctx, i))
			keys[i] = must(f.Key(i))
			if err := p.gorc.Set(&rcache.Item{Ctx: ctx, Key: "gorc:" + keys[i], Value: blobFor(size)}); err != nil {
				b.Fatal(err)
			}
		}
		stored, err := p.rue.Do(ctx, p.rue.B().Get().Key(keys[0]).Build()).AsBytes()
		if err != nil {
			b.Fatal(err)
		}
		off, blockLen := blockAt(b, stored)
		// The document cachekit compresses: bin header + payload.
		docLen := size + 3
		if size > 0xffff {
			docLen = size + 5
		}
		doc := make([]byte, docLen)
		if n, err := lz4.UncompressBlock(stored[off:off+blockLen], doc); err != nil || n != docLen {
			b.Fatal("cannot decompress the stored block", n, err)
		}
		sum := xxh3.Hash(doc)
		for _, g := range []int{1, 16, 64} {
			name := fmt.Sprintf("%dKiB-g%d", size>>10, g)
			b.Run(name+"/cachekit", func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(size))
				parallel(b, g, func(next func() bool, w int) {
					for i := w; next(); i++ {
						if v, err := f.Call(ctx, i%redisKeys); err != nil || len(v) != size {
							b.Error("bad hit", err)
							return
						}
					}
				})
			})
			b.Run(name+"/raw-rueidis", func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(size))
				parallel(b, g, func(next func() bool, w int) {
					for i := w; next(); i++ {
						v, err := p.rue.Do(ctx, p.rue.B().Get().Key(keys[i%redisKeys]).Build()).AsBytes()
						if err != nil || len(v) < size/4 {
							b.Error("bad GET", err)
							return
						}
					}
				})
			})
			b.Run(name+"/raw-rueidis-unpack", func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(size))
				parallel(b, g, func(next func() bool, w int) {
					for i := w; next(); i++ {
						v, err := p.rue.Do(ctx, p.rue.B().Get().Key(keys[i%redisKeys]).Build()).AsBytes()
						if err != nil || len(v) < off+blockLen {
							b.Error("bad GET", err)
							return
						}
						out := make([]byte, docLen)
						if n, err := lz4.UncompressBlock(v[off:off+blockLen], out); err != nil || n != docLen {
							b.Error("bad block", n, err)
							return
						}
						if xxh3.Hash(out) != sum {
							b.Error("checksum mismatch")
							return
						}
					}
				})
			})
			b.Run(name+"/raw-go-redis", func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(size))
				parallel(b, g, func(next func() bool, w int) {
					for i := w; next(); i++ {
						v, err := p.gor.Get(ctx, keys[i%redisKeys]).Bytes()
						if err != nil || len(v) < size/4 {
							b.Error("bad GET", err)
							return
						}
					}
				})
			})
			b.Run(name+"/go-redis-cache", func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(size))
				parallel(b, g, func(next func() bool, w int) {
					var v []byte
					for i := w; next(); i++ {
						if err := p.gorc.Get(ctx, "gorc:"+keys[i%redisKeys], &v); err != nil || len(v) != size {
							b.Error("bad hit", err)
							return
						}
					}
				})
			})
		}
	}
}

// serverCPU returns the CPU time (user + system, ns) redis-server has used
// (INFO cpu), or 0 when it cannot be read.
func serverCPU(ctx context.Context, c rueidis.Client) int64 {
	info, err := c.Do(ctx, c.B().Info().Section("cpu").Build()).ToString()
	if err != nil {
		return 0
	}
	var total float64
	for _, line := range strings.Split(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && (k == "used_cpu_sys" || k == "used_cpu_user") {
			f, _ := strconv.ParseFloat(v, 64)
			total += f
		}
	}
	return int64(total * 1e9)
}

// cpuMetrics starts measuring the CPU time this process and redis-server
// use; the function it returns reports them per op as cpu-ns/op and
// srv-cpu-ns/op. On a 2-core machine both share the cores, so the sum is
// what an op costs when the cores are the limit.
func cpuMetrics(ctx context.Context, b *testing.B, c rueidis.Client) func() {
	client, srv := cpuPerOp(b), serverCPU(ctx, c)
	return func() {
		client()
		if b.N > 0 && srv > 0 {
			b.ReportMetric(float64(serverCPU(ctx, c)-srv)/float64(b.N), "srv-cpu-ns/op")
		}
	}
}

// missSeq makes every miss scenario's keys new, across runs and rounds.
var missSeq atomic.Int64

func init() { missSeq.Store(time.Now().UnixNano()) }

// BenchmarkRedisMiss: a miss that stores its result (1 KiB, 16 goroutines):
// cachekit's GET + function + SET against raw GET + SET and go-redis/cache
// Once. cachekit's SET is made by its write-behind queue: the timed region
// ends with Flush, so it includes every store, and dropped/op reports the
// writes the queue dropped (a run with drops did not store everything: it
// is not a valid miss + store, and the report says so).
func BenchmarkRedisMiss(b *testing.B) {
	const size, g = 1 << 10, 16
	ctx := context.WithValue(context.Background(), sizeKey{}, size)
	name := fmt.Sprintf("%dKiB-g%d", size>>10, g)
	p := newRedisPeers(b)
	b.Run(name+"/cachekit", func(b *testing.B) {
		f := cachekit.MustWrap1(p.ck, loadBlob, cachekit.Namespace("bench-miss"))
		if err := p.ck.Flush(ctx); err != nil { // the previous run's stores are not this one's
			b.Fatal(err)
		}
		before := p.ck.Info().Resilience
		b.ReportAllocs()
		defer cpuMetrics(ctx, b, p.rue)()
		parallel(b, g, func(next func() bool, _ int) {
			for next() {
				if v, err := f.Call(ctx, int(missSeq.Add(1))); err != nil || len(v) != size {
					b.Error("bad miss", err)
					return
				}
			}
		})
		if err := p.ck.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		after := p.ck.Info().Resilience
		b.ReportMetric(float64(after.WritesDropped-before.WritesDropped)/float64(b.N), "dropped/op")
	})
	b.Run(name+"/raw-rueidis", func(b *testing.B) {
		data := blobFor(size)
		b.ReportAllocs()
		defer cpuMetrics(ctx, b, p.rue)()
		parallel(b, g, func(next func() bool, _ int) {
			for next() {
				k := "raw-miss:" + strconv.FormatInt(missSeq.Add(1), 10)
				if err := p.rue.Do(ctx, p.rue.B().Get().Key(k).Build()).Error(); !rueidis.IsRedisNil(err) {
					b.Error("not a miss", err)
					return
				}
				if err := p.rue.Do(ctx, p.rue.B().Set().Key(k).Value(rueidis.BinaryString(data)).Ex(time.Hour).Build()).Error(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run(name+"/go-redis-cache", func(b *testing.B) {
		b.ReportAllocs()
		defer cpuMetrics(ctx, b, p.rue)()
		parallel(b, g, func(next func() bool, _ int) {
			var v []byte
			for next() {
				k := "gorc-miss:" + strconv.FormatInt(missSeq.Add(1), 10)
				if err := p.gorc.Once(&rcache.Item{Ctx: ctx, Key: k, Value: &v, TTL: time.Hour,
					Do: func(*rcache.Item) (any, error) { return blobFor(size), nil }}); err != nil || len(v) != size {
					b.Error("bad miss", err)
					return
				}
			}
		})
	})
}

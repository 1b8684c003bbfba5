package bench

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"fmt"
	"strings"
	"testing"

	"github.com/pierrec/lz4/v4"
	"github.com/zeebo/xxh3"

	"github.com/cachekit-go/cachekit"
	"github.com/cachekit-go/cachekit/backend/memory"
	"github.com/cachekit-go/cachekit/protocol/envelope"
	"github.com/cachekit-go/cachekit/secret"
)

// rawCodec is the limit for the byte pipeline: LZ4 block compression
// (pierrec/lz4, its hash table reused), an xxHash3-64 checksum and (sealed)
// AES-256-GCM, and nothing else: no framing, no key binding, no extra copy.
// Like the envelope and the cache, every step returns a fresh slice (what an
// API handing results to its caller must do); only the compressor state is
// reused.
type rawCodec struct {
	c   lz4.Compressor
	gcm cipher.AEAD
}

func newRawCodec() *rawCodec {
	blk, _ := aes.NewCipher(make([]byte, 32))
	gcm, _ := cipher.NewGCM(blk)
	return &rawCodec{gcm: gcm}
}

// pack compresses and checksums data; it returns the block and the sum.
func (r *rawCodec) pack(data []byte) ([]byte, uint64) {
	comp := make([]byte, lz4.CompressBlockBound(len(data)))
	n, _ := r.c.CompressBlock(data, comp)
	if n == 0 { // incompressible: stored as literals
		n = copy(comp, data)
	}
	return comp[:n], xxh3.Hash(data)
}

// unpack decompresses block and verifies the sum.
func (r *rawCodec) unpack(block []byte, sum uint64, n int) bool {
	out := make([]byte, n)
	m, err := lz4.UncompressBlock(block, out)
	if err != nil {
		return len(block) == n && xxh3.Hash(block) == sum // stored as literals
	}
	return xxh3.Hash(out[:m]) == sum
}

func (r *rawCodec) sealBlock(block []byte) []byte {
	ns := r.gcm.NonceSize()
	out := make([]byte, ns, ns+len(block)+r.gcm.Overhead())
	_, _ = rand.Read(out)
	return r.gcm.Seal(out, out[:ns], block, nil)
}

func (r *rawCodec) openBlock(sealed []byte) ([]byte, bool) {
	ns := r.gcm.NonceSize()
	pt, err := r.gcm.Open(nil, sealed[:ns], sealed[ns:], nil)
	return pt, err == nil
}

// BenchmarkEnvelope: the ByteStorage envelope (LZ4 block + xxHash3-64 in
// MessagePack) encode + decode against the bare LZ4 block + xxh3 of
// pierrec/lz4, from 1 KiB to 1 MiB, compressible and random data.
func BenchmarkEnvelope(b *testing.B) {
	for _, random := range []bool{false, true} {
		kind := "compressible"
		if random {
			kind = "random"
		}
		for _, n := range []int{1 << 10, 4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20} {
			data := payload(n, random)
			name := fmt.Sprintf("%s-%s", kind, sizeName(n))
			b.Run(name+"/cachekit", func(b *testing.B) {
				b.SetBytes(int64(n))
				b.ReportAllocs()
				defer cpuPerOp(b)()
				for b.Loop() {
					env, err := envelope.Pack(data)
					if err != nil {
						b.Fatal(err)
					}
					if out, err := envelope.Unpack(env); err != nil || len(out) != n {
						b.Fatal(err)
					}
				}
			})
			b.Run(name+"/raw-lz4-xxh3", func(b *testing.B) {
				r := newRawCodec()
				b.SetBytes(int64(n))
				b.ReportAllocs()
				defer cpuPerOp(b)()
				for b.Loop() {
					block, sum := r.pack(data)
					if !r.unpack(block, sum, n) {
						b.Fatal("raw round trip failed")
					}
				}
			})
		}
	}
}

func sizeName(n int) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%dMiB", n>>20)
	}
	return fmt.Sprintf("%dKiB", n>>10)
}

// BenchmarkSecure: the encrypted path at 64 KiB through the cache API
// (Cache.Set, Get with L1 off, the in-process memory backend so that only
// the pipeline is measured): MessagePack, envelope, AES-256-GCM bound to
// tenant and key, frame. The limit is raw LZ4 + xxh3 + AES-GCM on the same
// bytes. read = Get; round-trip = Set + Get.
func BenchmarkSecure(b *testing.B) {
	const n = 64 << 10
	data := payload(n, false)
	ctx := context.Background()
	newCache := func(b *testing.B) *cachekit.Cache {
		c := must(cachekit.New(quiet(), cachekit.WithBackend(memory.New(memory.Options{})), cachekit.WithL1(false),
			cachekit.WithEncryption(cachekit.Encryption{MasterKey: secret.String(strings.Repeat("11", 32)), Tenant: "bench"})))
		b.Cleanup(func() { _ = c.Close() })
		if err := c.Set(ctx, "blob", data, 0); err != nil {
			b.Fatal(err)
		}
		return c
	}
	get := func(b *testing.B, c *cachekit.Cache) {
		if v, ok, err := cachekit.Get[[]byte](ctx, c, "blob"); err != nil || !ok || len(v) != n {
			b.Fatal("bad read", ok, err)
		}
	}
	b.Run("64KiB-read/cachekit", func(b *testing.B) {
		c := newCache(b)
		b.SetBytes(n)
		b.ReportAllocs()
		defer cpuPerOp(b)()
		for b.Loop() {
			get(b, c)
		}
	})
	b.Run("64KiB-read/raw-lz4-xxh3-aesgcm", func(b *testing.B) {
		r := newRawCodec()
		block, sum := r.pack(data)
		sealed := append([]byte(nil), r.sealBlock(block)...)
		b.SetBytes(n)
		b.ReportAllocs()
		defer cpuPerOp(b)()
		for b.Loop() {
			pt, ok := r.openBlock(sealed)
			if !ok || !r.unpack(pt, sum, n) {
				b.Fatal("raw read failed")
			}
		}
	})
	b.Run("64KiB-round-trip/cachekit", func(b *testing.B) {
		c := newCache(b)
		b.SetBytes(n)
		b.ReportAllocs()
		defer cpuPerOp(b)()
		for b.Loop() {
			if err := c.Set(ctx, "blob", data, 0); err != nil {
				b.Fatal(err)
			}
			get(b, c)
		}
	})
	b.Run("64KiB-round-trip/raw-lz4-xxh3-aesgcm", func(b *testing.B) {
		r := newRawCodec()
		b.SetBytes(n)
		b.ReportAllocs()
		defer cpuPerOp(b)()
		for b.Loop() {
			block, sum := r.pack(data)
			pt, ok := r.openBlock(r.sealBlock(block))
			if !ok || !r.unpack(pt, sum, n) {
				b.Fatal("raw round trip failed")
			}
		}
	})
}

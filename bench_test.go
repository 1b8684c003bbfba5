package cachekit

import (
	"context"
	"testing"

	"github.com/cachekit-go/cachekit/backend/memory"
	"github.com/cachekit-go/cachekit/secret"
)

func benchUser(_ context.Context, id int) (User, error) { return User{ID: id, Name: "ada"}, nil }

// User is a typical small result.
type User struct {
	ID   int    `msgpack:"id"`
	Name string `msgpack:"name"`
}

// An L1 hit through a wrapper: key derivation (blake2b over the MessagePack
// arguments) plus the L1 lookup.
func BenchmarkWrapperL1Hit(b *testing.B) {
	c, _ := New(quiet())
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

// A miss: key, shared-call machinery, the function, serialization into L1
// (in-process only) or L1 and the memory backend (frame + envelope).
func BenchmarkWrapperMiss(b *testing.B) {
	for _, withBackend := range []bool{false, true} {
		name := "l1-only"
		if withBackend {
			name = "memory-backend"
		}
		b.Run(name, func(b *testing.B) {
			// A fresh backend per run: with -count, a backend shared by the
			// runs already holds their keys, and the later runs measured
			// backend hits instead of misses.
			opts := []Option{quiet()}
			if withBackend {
				opts = append(opts, WithBackend(memory.New(memory.Options{})))
			}
			c, _ := New(opts...)
			f := MustWrap1(c, benchUser)
			ctx := context.Background()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				if _, err := f.Call(ctx, i); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// Load with a fixed key. l1-hit: an L1 hit without key derivation. l2-hit:
// L1 off, so every call reads the memory backend (no TTL: neither L1 nor
// stale-while-revalidate needs it) and decodes frame, envelope and
// MessagePack; encrypted-l2-hit decrypts too.
func BenchmarkLoad(b *testing.B) {
	for _, tc := range []struct {
		name string
		opts []Option
	}{
		{"l1-hit", []Option{quiet()}},
		{"l2-hit", []Option{quiet(), WithBackend(memory.New(memory.Options{})), WithL1(false)}},
		// encrypted-l2-hit: l2-hit plus AES-256-GCM decryption (single tenant).
		{"encrypted-l2-hit", []Option{quiet(), WithBackend(memory.New(memory.Options{})), WithL1(false),
			WithEncryption(Encryption{MasterKey: secret.String(hexKey(0x11)), Tenant: "bench"})}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			c, _ := New(tc.opts...)
			ctx := context.Background()
			loader := func(context.Context) (User, error) { return User{ID: 1, Name: "ada"}, nil }
			_, _ = Load(ctx, c, "user:1", loader)
			_ = c.Flush(ctx) // the first write is made in the background
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Load(ctx, c, "user:1", loader); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

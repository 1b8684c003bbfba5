package cachekit

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/backend/memory"
	"github.com/cachekit-go/cachekit/secret"
)

// blobOf is the distinct payload of id: large enough to be compressed and
// to take the pooled and in-place paths, different in every byte.
func blobOf(id, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(id*31 + i/64)
	}
	return b
}

func blobByID(_ context.Context, id int) ([]byte, error) { return blobOf(id, 64<<10), nil }

// No value handed to a caller may live in a buffer that is reused later:
// decryption happens in place in the backend's result, []byte results share
// the decoded document, and store reuses its document buffer. Every result
// is kept and compared with its snapshot after many later reads and writes
// (of the same and other keys), in every L1 mode, with and without
// encryption, through the direct API and through a wrapper (write-behind
// stores, shared loads); a fresh cache over the same backend then reads
// every stored entry back. Where L1 is off, changing a result must not
// change what the next read returns.
func TestByteResultsNeverAliasReusedBuffers(t *testing.T) {
	ctx := context.Background()
	type mode struct {
		name string
		opts []Option
	}
	var modes []mode
	for _, l1 := range []string{"off", "values", "bytes"} {
		for _, enc := range []bool{false, true} {
			var opts []Option
			switch l1 {
			case "off":
				opts = append(opts, WithL1(false))
			case "bytes":
				opts = append(opts, WithL1Bytes(true))
			}
			name := "l1-" + l1
			if enc {
				name += "/encrypted"
				opts = append(opts, WithEncryption(Encryption{MasterKey: secret.String(strings.Repeat("ab", 32)), Tenant: "alias"}))
			}
			modes = append(modes, mode{name, opts})
		}
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			be := memory.New(memory.Options{})
			c := newTestCache(t, be, m.opts...)
			type kept struct {
				what string
				got  []byte
				want []byte
			}
			var results []kept
			keep := func(what string, got []byte, want []byte) {
				t.Helper()
				if !bytes.Equal(got, want) {
					t.Fatalf("%s: wrong value", what)
				}
				results = append(results, kept{what, got, bytes.Clone(got)})
			}
			// Direct API: Set, then Get each key twice.
			for id := range 4 {
				if err := c.Set(ctx, fmt.Sprint("k", id), blobOf(id, 64<<10), time.Hour); err != nil {
					t.Fatal(err)
				}
			}
			for round := range 2 {
				for id := range 4 {
					v, ok, err := Get[[]byte](ctx, c, fmt.Sprint("k", id))
					if err != nil || !ok {
						t.Fatalf("Get k%d: %v %v", id, ok, err)
					}
					keep(fmt.Sprintf("Get k%d round %d", id, round), v, blobOf(id, 64<<10))
				}
			}
			// Wrapper: misses (function, write-behind store), then hits.
			f := MustWrap1(c, blobByID, Namespace("alias"))
			for round := range 2 {
				for id := 10; id < 14; id++ {
					v, err := f.Call(ctx, id)
					if err != nil {
						t.Fatal(err)
					}
					keep(fmt.Sprintf("Call %d round %d", id, round), v, blobOf(id, 64<<10))
				}
				if err := c.Flush(ctx); err != nil {
					t.Fatal(err)
				}
			}
			// Later writes and reads of the same and other keys.
			for id := range 4 {
				if err := c.Set(ctx, fmt.Sprint("k", id), blobOf(id+100, 64<<10), time.Hour); err != nil {
					t.Fatal(err)
				}
				if err := c.Set(ctx, fmt.Sprint("other", id), blobOf(id+200, 64<<10), time.Hour); err != nil {
					t.Fatal(err)
				}
				v, ok, err := Get[[]byte](ctx, c, fmt.Sprint("other", id))
				if err != nil || !ok || !bytes.Equal(v, blobOf(id+200, 64<<10)) {
					t.Fatalf("Get other%d: %v %v", id, ok, err)
				}
				clear(v) // a caller scribbling over its own result
			}
			for _, r := range results {
				if !bytes.Equal(r.got, r.want) {
					t.Fatalf("%s changed after later reads and writes", r.what)
				}
			}
			if !strings.HasPrefix(m.name, "l1-values") {
				// Without L1, and with L1 keeping documents, a result is the
				// caller's own: changing it changes neither the backend's
				// entry nor L1's (with L1 keeping values, callers share the
				// value by design). reader's first Get fills its L1 from the
				// backend read that produced the result.
				reader := newTestCache(t, be, m.opts...)
				for range 2 {
					v, ok, err := Get[[]byte](ctx, reader, "k0")
					if err != nil || !ok || !bytes.Equal(v, blobOf(100, 64<<10)) {
						t.Fatal("changing a result changed the stored entry or L1's copy")
					}
					clear(v)
				}
			}
			// What reached the backend is intact.
			fresh := newTestCache(t, be, append([]Option{WithL1(false)}, m.opts...)...)
			for id := range 4 {
				v, ok, err := Get[[]byte](ctx, fresh, fmt.Sprint("k", id))
				if err != nil || !ok || !bytes.Equal(v, blobOf(id+100, 64<<10)) {
					t.Fatalf("stored k%d is wrong: %v %v", id, ok, err)
				}
			}
			g := MustWrap1(fresh, blobByID, Namespace("alias"))
			for id := 10; id < 14; id++ {
				v, err := g.Call(ctx, id)
				if err != nil || !bytes.Equal(v, blobOf(id, 64<<10)) {
					t.Fatalf("stored entry of Call %d is wrong: %v", id, err)
				}
			}
		})
	}
}

package cachekit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cachekit-go/cachekit/backend"
	"github.com/cachekit-go/cachekit/internal/entry"
	"github.com/cachekit-go/cachekit/protocol/envelope"
	"github.com/cachekit-go/cachekit/protocol/frame"
	"github.com/cachekit-go/cachekit/secret"
)

// hostileShape is bytes a backend may hand back that are not a value of the
// caller's type: corrupt, truncated, oversized claims, foreign frames.
type hostileShape struct {
	name string
	data []byte
}

// mustFrame builds a CK frame around payload.
func mustFrame(t *testing.T, h frame.Header, payload []byte) []byte {
	t.Helper()
	b, err := frame.Encode(h, payload)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// hostileShapes returns every hostile shape for a function returning a
// string (so that no shape is a valid string document by accident).
func hostileShapes(t *testing.T) []hostileShape {
	t.Helper()
	pipe := entry.Pipeline{Mode: entry.Framed}
	good, err := pipe.Encode("k", "a genuine value of another entry")
	if err != nil {
		t.Fatal(err)
	}
	intFrame, err := pipe.Encode("k", 42) // well-formed, wrong type
	if err != nil {
		t.Fatal(err)
	}
	env, err := envelope.Pack([]byte{0xa3, 'a', 'b', 'c'})
	if err != nil {
		t.Fatal(err)
	}
	badSum := bytes.Clone(env)
	badSum[len(badSum)-10] ^= 0x01 // inside the checksum array
	// An envelope whose one compressed byte claims 2 GiB of output.
	bomb := []byte{0x94, 0xc4, 0x01, 0x00, 0x98, 0, 0, 0, 0, 0, 0, 0, 0, 0xce, 0x7f, 0xff, 0xff, 0xff,
		0xa7, 'm', 's', 'g', 'p', 'a', 'c', 'k'}
	foreign := frame.DefaultHeader(true)
	foreign.Serializer = "pickle"
	otherFormat := frame.DefaultHeader(false)
	otherFormat.Format = "json"
	encrypted := frame.SecureHeader("tenant", strings.Repeat("ab", 16))
	encrypted.Compressed = true
	encryptedForeign := encrypted
	encryptedForeign.Serializer = "pickle"
	deep := append(bytes.Repeat([]byte{0x91}, 100_000), 0xc0)
	return []hostileShape{
		{name: "empty", data: []byte{}},
		{name: "magic only", data: []byte("CK")},
		{name: "frame truncated in the header length", data: []byte("CK\x03")},
		{name: "frame header length beyond the input", data: []byte("CK\x03\x00\xff\xff\xff\xff{}")},
		{name: "frame header not JSON", data: []byte("CK\x03\x00\x00\x00\x00\x05nope!payload")},
		{name: "good frame truncated", data: good[:len(good)-1]},
		{name: "good frame with a trailing byte", data: append(bytes.Clone(good), 0x00)},
		{name: "frame around a corrupt envelope", data: mustFrame(t, frame.DefaultHeader(true), []byte{0x94, 0xc4, 0xff})},
		{name: "frame around an envelope with a bad checksum", data: mustFrame(t, frame.DefaultHeader(true), badSum)},
		{name: "frame around a decompression bomb", data: mustFrame(t, frame.DefaultHeader(true), bomb)},
		{name: "frame of another serializer", data: mustFrame(t, foreign, env)},
		{name: "frame with an empty header (CK 03 00000002 {})", data: []byte("CK\x03\x00\x00\x00\x02{}")},
		{name: "encrypted frame of another serializer", data: mustFrame(t, encryptedForeign, bytes.Repeat([]byte{7}, 64))},
		{name: "frame of another format", data: mustFrame(t, otherFormat, []byte{0xa1, 'x'})},
		{name: "encrypted frame", data: mustFrame(t, encrypted, bytes.Repeat([]byte{7}, 64))},
		{name: "well-formed frame of another type", data: intFrame},
		{name: "bare envelope truncated", data: env[:len(env)-3]},
		{name: "bare envelope bomb", data: bomb},
		{name: "array claiming 4G elements", data: []byte{0xdd, 0xff, 0xff, 0xff, 0xff}},
		{name: "str claiming 4 GiB", data: []byte{0xdb, 0xff, 0xff, 0xff, 0xff, 'x'}},
		{name: "map claiming 4G pairs", data: []byte{0xdf, 0xff, 0xff, 0xff, 0xff}},
		{name: "nesting 100k deep", data: deep},
		{name: "string with trailing bytes", data: []byte{0xa1, 'x', 0xa1, 'y'}},
		{name: "reserved byte", data: []byte{0xc1}},
		{name: "random bytes", data: []byte{0x13, 0x37, 0xde, 0xad, 0xbe, 0xef, 0x00, 0xff}},
	}
}

// TestHostileBackendBytes feeds every hostile shape through the cache from a
// real backend: each is a miss that is counted and overwritten, never a
// value and never a panic, for wrappers, Load and Get, in auto and interop
// mode, with and without encryption.
func TestHostileBackendBytes(t *testing.T) {
	t.Parallel()
	for _, k := range []backendKind{memoryKind(), fileKind(), redisKind()} {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			b := k.make(t)
			for _, sh := range hostileShapes(t) {
				t.Run(sh.name, func(t *testing.T) {
					t.Parallel()
					checkHostile(t, b, sh)
				})
			}
		})
	}
}

func checkHostile(t *testing.T, b backend.Backend, sh hostileShape) {
	ctx := context.Background()
	plant := func(t *testing.T, key string) {
		t.Helper()
		if err := b.Set(ctx, key, sh.data, 0); err != nil {
			t.Fatalf("planting: %v", err)
		}
	}
	var calls atomic.Int32
	fresh := func(context.Context, int) (string, error) { calls.Add(1); return "fresh", nil }
	encOne := WithEncryption(Encryption{MasterKey: secret.String(keyOne), Tenant: "t1"})
	// Interop namespaces must be lowercase: number them per subtest.
	interop := func() []FuncOption { return []FuncOption{Interop(fmt.Sprintf("hostile%d", uniqSeq.Add(1)), "op")} }
	modes := []struct {
		name string
		opts []Option
		fn   []FuncOption
	}{
		{"auto", nil, nil},
		{"integrity off", []Option{WithIntegrity(false)}, nil},
		{"L1 bytes", []Option{WithL1Bytes(true)}, nil},
		{"interop", nil, interop()},
		{"encrypted", []Option{encOne}, nil},
		{"encrypted interop", []Option{encOne}, interop()},
	}
	for _, m := range modes {
		c := newTestCache(t, b, m.opts...)
		fopts := append([]FuncOption{Name(uniq(t))}, m.fn...)
		f, err := Wrap1(c, fresh, fopts...)
		if err != nil {
			t.Fatal(err)
		}
		plant(t, mustKey(t, f, 1))
		before := calls.Load()
		v, err := f.Call(ctx, 1)
		if err != nil || v != "fresh" || calls.Load() != before+1 {
			t.Fatalf("%s: Call = %q, %v (function ran %d times)", m.name, v, err, calls.Load()-before)
		}
		if i := f.Info(); i.DecodeErrors != 1 || i.Misses != 1 || i.Hits != 0 {
			t.Fatalf("%s: info %+v", m.name, i)
		}
		// The entry was overwritten with a good one: another process reads it.
		flushBackend(t, b)
		g, _ := Wrap1(newTestCache(t, b, m.opts...), fresh, fopts...)
		if v, err := g.Call(ctx, 1); err != nil || v != "fresh" || g.Info().L2Hits != 1 {
			t.Fatalf("%s: entry not rewritten: %q %v %+v", m.name, v, err, g.Info())
		}
	}

	// Load and Get on the auto-mode key, encryption off and on.
	for _, enc := range []bool{false, true} {
		var opts []Option
		if enc {
			opts = append(opts, encOne)
		}
		c := newTestCache(t, b, opts...)
		key := uniq(t)
		plant(t, key)
		v, found, err := Get[string](ctx, c, key)
		if found || v != "" {
			t.Fatalf("encrypted=%v: Get returned a value from hostile bytes: %q %v %v", enc, v, found, err)
		}
		before := calls.Load()
		if v, err := Load(ctx, c, key, func(ctx context.Context) (string, error) { return fresh(ctx, 0) }); err != nil || v != "fresh" || calls.Load() != before+1 {
			t.Fatalf("encrypted=%v: Load = %q %v", enc, v, err)
		}
	}

	// Fail closed: with encryption on, every one of these shapes (foreign
	// serializers and the header-less "CK 03 {}" frame included) is a counted
	// rejection: an error, the function does not run, the entry is kept.
	c := newTestCache(t, b, WithEncryption(Encryption{MasterKey: secret.String(keyOne), Tenant: "t1", FailClosed: true}))
	f, _ := Wrap1(c, fresh, Name(uniq(t)))
	key := mustKey(t, f, 1)
	plant(t, key)
	before := calls.Load()
	v, err := f.Call(ctx, 1)
	switch {
	case !errors.Is(err, ErrDecrypt) || v != "" || calls.Load() != before:
		t.Fatalf("fail-closed: got %q, %v, function ran %d times", v, err, calls.Load()-before)
	default:
		if got, _, _ := b.Get(ctx, key); !bytes.Equal(got, sh.data) {
			t.Fatal("fail-closed: the rejected entry was not kept as evidence")
		}
		if c.Info().Encryption.Failures.Total() != 1 {
			t.Fatalf("fail-closed: failures %+v", c.Info().Encryption.Failures)
		}
	}
}

// TestDecompressionBombBoundedOnRead plants a real bomb through the file
// backend: a genuine entry of about 256 KiB whose envelope inflates to
// 64 MiB (LZ4 of zeros). A cache whose maximum value size is 1 MiB refuses
// it before decompressing: the call is a counted miss that runs the
// function, Get reports it missing, and the reads allocate a few MiB, not
// the 64 MiB the entry claims. Not parallel: it measures the heap.
func TestDecompressionBombBoundedOnRead(t *testing.T) {
	const (
		inflated = 64 << 20
		limit    = 1 << 20
	)
	b := fileKind().make(t)
	c := newTestCache(t, b, WithMaxValueSize(limit))
	var calls atomic.Int32
	f, err := Wrap1(c, func(context.Context, int) (string, error) { calls.Add(1); return "fresh", nil }, Name(uniq(t)))
	if err != nil {
		t.Fatal(err)
	}
	key := mustKey(t, f, 1)
	bomb, err := entry.Pipeline{Mode: entry.Framed}.Encode(key, make([]byte, inflated))
	if err != nil {
		t.Fatal(err)
	}
	if len(bomb) > inflated/200 {
		t.Fatalf("the bomb is %d bytes, not a bomb", len(bomb))
	}
	ctx := context.Background()
	plant := func() {
		if err := b.Set(ctx, key, bomb, 0); err != nil {
			t.Fatal(err)
		}
	}
	var before, after runtime.MemStats
	plant()
	runtime.GC()
	runtime.ReadMemStats(&before)
	v, err := f.Call(ctx, 1) // recomputes and overwrites the bomb
	runtime.ReadMemStats(&after)
	callAlloc := after.TotalAlloc - before.TotalAlloc
	flushBackend(t, b) // the overwrite is made in the background: let it land before planting again
	plant()
	runtime.ReadMemStats(&before)
	_, found, getErr := Get[[]byte](ctx, c, key)
	runtime.ReadMemStats(&after)
	getAlloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("a %d-byte entry claiming %d MiB: Call allocated %d KiB, Get %d KiB", len(bomb), inflated>>20, callAlloc>>10, getAlloc>>10)
	// Reading the file costs about its size; inflating it would cost 64 MiB
	// more.
	for what, alloc := range map[string]uint64{"Call": callAlloc, "Get": getAlloc} {
		if alloc > 8<<20 {
			t.Fatalf("%s over a %d-byte entry allocated %d MiB: the envelope was inflated", what, len(bomb), alloc>>20)
		}
	}
	if err != nil || v != "fresh" || calls.Load() != 1 {
		t.Fatalf("Call over the bomb = %q, %v (function ran %d times)", v, err, calls.Load())
	}
	if i := f.Info(); i.DecodeErrors != 1 || i.Hits != 0 {
		t.Fatalf("info %+v", i)
	}
	if found || !errors.Is(getErr, entry.ErrTooLarge) { // Get returns undecodable entries as errors
		t.Fatalf("Get of the bomb: found=%v err=%v", found, getErr)
	}
	// The limit is the cache's: a cache that allows the size reads the entry.
	big := newTestCache(t, b, WithMaxValueSize(2*inflated))
	if got, found, err := Get[[]byte](ctx, big, key); err != nil || !found || len(got) != inflated {
		t.Fatalf("a cache allowing %d bytes: found=%v len=%d err=%v", 2*inflated, found, len(got), err)
	}
}

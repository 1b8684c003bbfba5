package secure

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/cachekit-go/cachekit/internal/entry"
	"github.com/cachekit-go/cachekit/protocol/crypto"
	"github.com/cachekit-go/cachekit/protocol/frame"
)

// SealFrame writes exactly what Seal + frame.Encode write (same nonce), after
// whatever dst already holds, and the result opens again.
func TestSealFrameMatchesSealAndEncode(t *testing.T) {
	master := bytes.Repeat([]byte{0x42}, 32)
	fixed := func() [crypto.NonceSize]byte { return [crypto.NonceSize]byte{1, 2, 3} }
	p, err := New(Config{MasterKey: master, Tenant: "t1", Getenv: noEnv, Logger: quiet, NonceSource: fixed})
	if err != nil {
		t.Fatal(err)
	}
	s := bind(t, p, context.Background())
	for _, compressed := range []bool{true, false} {
		want := sealStored(t, s, "k", []byte("payload"), compressed)
		got, err := s.SealFrame([]byte("prefix"), "k", []byte("payload"), compressed)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(got, []byte("prefix")) || !bytes.Equal(got[len("prefix"):], want) {
			t.Fatalf("compressed=%v: SealFrame differs from Seal + frame.Encode", compressed)
		}
		pt, err := openStored(s, "k", got[len("prefix"):])
		if err != nil || string(pt) != "payload" {
			t.Fatalf("open: %q %v", pt, err)
		}
	}
	if _, err := s.SealFrame(nil, "", []byte("x"), true); err != ErrEmptyKey {
		t.Fatalf("empty key: %v", err)
	}
}

// SealFrameFunc (plaintext written by fill, sealed in place) writes exactly
// what SealFrame writes for the same plaintext and nonce, however much room
// dst has; OpenOwned opens it in place, and a tampered frame fails as
// ReasonTamper whether opened in place or not.
func TestSealFrameFuncMatchesSealFrame(t *testing.T) {
	master := bytes.Repeat([]byte{0x42}, 32)
	fixed := func() [crypto.NonceSize]byte { return [crypto.NonceSize]byte{1, 2, 3} }
	p, err := New(Config{MasterKey: master, Tenant: "t1", Getenv: noEnv, Logger: quiet, NonceSource: fixed})
	if err != nil {
		t.Fatal(err)
	}
	s := bind(t, p, context.Background())
	payload := bytes.Repeat([]byte("payload "), 300)
	for _, compressed := range []bool{true, false} {
		want, err := s.SealFrame(nil, "k", payload, compressed)
		if err != nil {
			t.Fatal(err)
		}
		// room too small on purpose in the second case: the result must
		// still be right (only slower).
		for _, room := range []int{len(payload), 1} {
			got, err := s.SealFrameFunc([]byte("prefix"), "k", compressed, room, func(dst []byte) ([]byte, error) {
				return append(dst, payload...), nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(got, []byte("prefix")) || !bytes.Equal(got[len("prefix"):], want) {
				t.Fatalf("compressed=%v room=%d: SealFrameFunc differs from SealFrame", compressed, room)
			}
		}
		h, ct, err := frame.Decode(want)
		if err != nil {
			t.Fatal(err)
		}
		owned := append([]byte(nil), ct...)
		pt, err := s.OpenOwned("k", h, owned)
		if err != nil || !bytes.Equal(pt, payload) {
			t.Fatalf("OpenOwned: %v", err)
		}
		if &pt[0] != &owned[crypto.NonceSize] {
			t.Fatal("OpenOwned did not decrypt in place")
		}
		if cap(pt) != len(pt) {
			t.Fatalf("OpenOwned plaintext has cap %d > len %d: an append would overwrite the tag's bytes", cap(pt), len(pt))
		}
		bad := append([]byte(nil), ct...)
		bad[len(bad)-1] ^= 1
		_, err = s.OpenOwned("k", h, bad)
		wantReason(t, err, ReasonTamper)
	}
	if _, err := s.SealFrameFunc(nil, "", true, 1, nil); err != ErrEmptyKey {
		t.Fatalf("empty key: %v", err)
	}
	boom := errors.New("boom")
	if _, err := s.SealFrameFunc(nil, "k", true, 1, func(dst []byte) ([]byte, error) { return dst, boom }); err != boom {
		t.Fatalf("fill error: %v", err)
	}
}

// copyingScope hides SealFrameFunc and OpenOwned, so a pipeline takes the
// copying paths (SealFrame, Open).
type copyingScope struct{ s *Scope }

func (c copyingScope) Seal(key string, pt []byte, compressed bool) ([]byte, frame.Header, error) {
	return c.s.Seal(key, pt, compressed)
}
func (c copyingScope) Open(key string, h frame.Header, ct []byte) ([]byte, error) {
	return c.s.Open(key, h, ct)
}
func (c copyingScope) SealFrame(dst []byte, key string, pt []byte, compressed bool) ([]byte, error) {
	return c.s.SealFrame(dst, key, pt, compressed)
}

// Through entry.Pipeline, the in-place paths (the envelope sealed inside the
// frame, decryption into the stored bytes) store and read exactly what the
// copying paths do; Open leaves its input alone, OpenOwned decrypts in it.
func TestPipelineInPlacePathsMatchCopyingPaths(t *testing.T) {
	fixed := func() [crypto.NonceSize]byte { return [crypto.NonceSize]byte{4, 5, 6} }
	p, err := New(Config{MasterKey: bytes.Repeat([]byte{0x42}, 32), Tenant: "t1", Getenv: noEnv, Logger: quiet, NonceSource: fixed})
	if err != nil {
		t.Fatal(err)
	}
	s := bind(t, p, context.Background())
	doc := append([]byte{0xc5, 0x10, 0x00}, bytes.Repeat([]byte("0123456789abcdef"), 256)...) // bin 16 of 4096 bytes
	for _, mode := range []entry.Mode{entry.Framed, entry.FramedRaw} {
		inPlace := entry.Pipeline{Mode: mode, Sealer: s}
		copying := entry.Pipeline{Mode: mode, Sealer: copyingScope{s}}
		a, err := inPlace.Wrap("k", doc)
		if err != nil {
			t.Fatal(err)
		}
		b, err := copying.Wrap("k", doc)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Fatalf("mode %d: the in-place Wrap stores other bytes than the copying one", mode)
		}
		stored := bytes.Clone(a)
		got, err := inPlace.Open("k", stored)
		if err != nil || !bytes.Equal(got, doc) || !bytes.Equal(stored, a) {
			t.Fatalf("mode %d: Open: %v (input changed: %v)", mode, err, !bytes.Equal(stored, a))
		}
		got, err = inPlace.OpenOwned("k", stored)
		if err != nil || !bytes.Equal(got, doc) {
			t.Fatalf("mode %d: OpenOwned: %v", mode, err)
		}
		if bytes.Equal(stored, a) {
			t.Fatalf("mode %d: OpenOwned did not decrypt in place", mode)
		}
		got, err = copying.OpenOwned("k", bytes.Clone(a))
		if err != nil || !bytes.Equal(got, doc) {
			t.Fatalf("mode %d: OpenOwned without OwnedOpener: %v", mode, err)
		}
	}
}

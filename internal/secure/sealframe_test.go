package secure

import (
	"bytes"
	"context"
	"errors"
	"testing"

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

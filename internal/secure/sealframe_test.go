package secure

import (
	"bytes"
	"context"
	"testing"

	"github.com/cachekit-go/cachekit/protocol/crypto"
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

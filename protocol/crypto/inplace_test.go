package crypto

import (
	"bytes"
	"errors"
	"testing"
)

// SealInPlace writes the bytes AppendSealWithNonce writes (with or without
// spare capacity), and OpenInPlace returns the plaintext as a subslice of
// its input, capacity cut at the plaintext so that an append cannot reach
// the tag; a wrong AAD fails with ErrAuthentication.
func TestSealAndOpenInPlace(t *testing.T) {
	a, err := NewAEAD(bytes.Repeat([]byte{7}, KeySize))
	if err != nil {
		t.Fatal(err)
	}
	nonce := [NonceSize]byte{9, 8, 7}
	aad := []byte("aad")
	for _, pt := range [][]byte{nil, []byte("x"), bytes.Repeat([]byte("plaintext"), 1000)} {
		want := a.AppendSealWithNonce([]byte("hdr"), nonce, pt, aad)
		for _, spare := range []int{TagSize, 0} {
			buf := make([]byte, 0, 3+NonceSize+len(pt)+spare)
			buf = append(buf, "hdr"...)
			buf = append(buf, make([]byte, NonceSize)...)
			buf = append(buf, pt...)
			got := a.SealInPlaceWithNonce(buf, 3, nonce, aad)
			if !bytes.Equal(got, want) {
				t.Fatalf("len %d spare %d: SealInPlace differs from AppendSeal", len(pt), spare)
			}
		}
		data := append([]byte(nil), want[3:]...)
		out, err := a.OpenInPlace(data, aad)
		if err != nil || !bytes.Equal(out, pt) {
			t.Fatalf("OpenInPlace: %v", err)
		}
		if len(out) > 0 && &out[0] != &data[NonceSize] {
			t.Fatal("OpenInPlace allocated instead of decrypting in place")
		}
		if cap(out) != len(out) {
			t.Fatalf("cap %d > len %d", cap(out), len(out))
		}
		data = append([]byte(nil), want[3:]...)
		if _, err := a.OpenInPlace(data, []byte("other")); !errors.Is(err, ErrAuthentication) {
			t.Fatalf("wrong AAD: %v", err)
		}
	}
	if _, err := a.OpenInPlace(make([]byte, Overhead-1), aad); !errors.Is(err, ErrTooShort) {
		t.Fatalf("short: %v", err)
	}
}

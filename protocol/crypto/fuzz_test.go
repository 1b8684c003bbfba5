package crypto

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzCryptoOpen: arbitrary bytes and AAD never authenticate (the one genuine
// seed aside) and never panic; the genuine seed fails after any single-bit flip.
func FuzzCryptoOpen(f *testing.F) {
	a := testAEAD(f)
	aad := AAD("tamper-test", "k", "msgpack", true, "msgpack")
	genuine := a.SealWithNonce([NonceSize]byte{1, 2, 3}, []byte("payload"), aad)
	f.Add(genuine, aad)
	f.Add(genuine[:Overhead], aad)
	f.Add([]byte{}, []byte{})
	f.Add(make([]byte, Overhead), []byte{AADVersion})
	f.Add(bytes.Repeat([]byte{0xff}, 100), aad)
	f.Fuzz(func(t *testing.T, data, ad []byte) {
		pt, err := a.Open(data, ad)
		if bytes.Equal(data, genuine) && bytes.Equal(ad, aad) {
			if err != nil || string(pt) != "payload" {
				t.Fatalf("genuine ciphertext: %v", err)
			}
			return
		}
		if err == nil {
			t.Fatalf("forged input authenticated: %x / %x", data, ad)
		}
		if !errors.Is(err, ErrAuthentication) && !errors.Is(err, ErrTooShort) {
			t.Fatalf("untyped error %v", err)
		}
		if (len(data) < Overhead) != errors.Is(err, ErrTooShort) {
			t.Fatalf("ErrTooShort for %d bytes", len(data))
		}
	})
}

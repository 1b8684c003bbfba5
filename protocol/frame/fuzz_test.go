package frame

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzFrameDecode: Decode never panics, returns a typed error or a header
// that survives Encode/Decode unchanged; Classify never panics.
func FuzzFrameDecode(f *testing.F) {
	plain, _ := Encode(DefaultHeader(true), []byte{0x94})
	secure, _ := Encode(SecureHeader("tenant", "00112233445566778899aabbccddeeff"), []byte("x"))
	f.Add(plain)
	f.Add(secure)
	f.Add([]byte("CK\x03\x00\x00\x00\x02{}"))
	f.Add([]byte("CK\x03\xff\xff\xff\xff{}"))
	f.Add([]byte("CK\x03\x00\x00\x00\x0b{\"m\": null}"))
	f.Add([]byte{})
	f.Add([]byte("CK\x03\x00\x00\x00\x0f{\"s\": \"\\ud800\"}"))
	f.Add([]byte("CK\x03\x00\x01\x00\x00"))
	f.Fuzz(func(t *testing.T, in []byte) {
		_ = Classify(in)
		h, payload, err := Decode(in)
		if err != nil {
			if !errors.Is(err, ErrBadMagic) && !errors.Is(err, ErrTruncated) &&
				!errors.Is(err, ErrUnsupportedVersion) && !errors.Is(err, ErrMalformedHeader) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if !bytes.HasSuffix(in, payload) {
			t.Fatal("payload is not the tail of the input")
		}
		again, err := Encode(h, payload)
		if err != nil {
			// Encode writes every known field, so a header that was close
			// to MaxHeaderSize may legitimately grow past it.
			if hdrLen := len(in) - len(payload) - PrefixSize; errors.Is(err, ErrMalformedHeader) && hdrLen > MaxHeaderSize-512 {
				return
			}
			t.Fatalf("re-encode of a decoded header: %v", err)
		}
		if !h.Encrypted { // Encode writes the encryption fields only when Encrypted
			h.TenantID, h.EncryptionAlgorithm, h.KeyFingerprint = "", "", ""
		}
		h2, p2, err := Decode(again)
		if err != nil || h2 != h || !bytes.Equal(p2, payload) {
			t.Fatalf("re-decode: %+v %v", h2, err)
		}
	})
}

package envelope

import (
	"bytes"
	"errors"
	"testing"

	"github.com/pierrec/lz4/v4"
)

var kinds = []error{ErrMalformed, ErrTruncated, ErrTrailingBytes, ErrTooLarge, ErrBomb, ErrDecompress, ErrChecksum, ErrSizeMismatch}

// FuzzEnvelopeUnpack feeds arbitrary bytes to Unpack (it must return data or
// one of the typed errors, never panic) and packs the same bytes as a payload
// (the envelope must round-trip and decode with pierrec/lz4 too).
func FuzzEnvelopeUnpack(f *testing.F) {
	for _, v := range loadWire(f).Vectors {
		f.Add(unhex(f, v.EnvelopeHex))
	}
	f.Add([]byte{})
	f.Add([]byte{0x94, 0xc4, 0x00, 0x98, 0, 0, 0, 0, 0, 0, 0, 0, 0x05, 0xa7, 'm', 's', 'g', 'p', 'a', 'c', 'k'})
	f.Add([]byte{0x84, 0x00, 0xc4, 0x01, 0x00, 0x01, 0x98, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x00, 0x03, 0xa0})
	f.Add(bytes.Repeat([]byte("abcd"), 100))
	// Hostile shapes: ratio bomb, original_size over the limit, a legacy
	// array claiming more elements than the input holds, an unknown map field
	// nested deeper than the reader allows, a bin32 length of 4 GiB.
	f.Add([]byte{0x94, 0xc4, 0x01, 0x00, 0x98, 0, 0, 0, 0, 0, 0, 0, 0, 0xcd, 0x03, 0xe9, 0xa7, 'm', 's', 'g', 'p', 'a', 'c', 'k'})
	f.Add([]byte{0x94, 0xc4, 0x01, 0x00, 0x98, 0, 0, 0, 0, 0, 0, 0, 0, 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xa0})
	f.Add([]byte{0x94, 0xdd, 0xff, 0xff, 0xff, 0xff, 0x00})
	f.Add(append(append([]byte{0x85, 0xa1, 'x'}, bytes.Repeat([]byte{0x91}, 600)...), 0xc0))
	f.Add([]byte{0x94, 0xc6, 0xff, 0xff, 0xff, 0xff, 0x00})
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := Unpack(in)
		if err != nil {
			matched := false
			for _, k := range kinds {
				if errors.Is(err, k) {
					matched = true
				}
			}
			if !matched || out != nil {
				t.Fatalf("untyped error or data with error: %v", err)
			}
		} else if len(out) > MaxCompressionRatio*len(in) {
			t.Fatalf("%d bytes out of %d in", len(out), len(in))
		}

		env, err := Pack(in)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Unpack(env)
		if err != nil || !bytes.Equal(got, in) {
			t.Fatalf("round trip: %v", err)
		}
		f, err := parse(env)
		if err != nil {
			t.Fatal(err)
		}
		dec := make([]byte, len(in))
		if n, err := lz4.UncompressBlock(f.compressed, dec); err != nil || n != len(in) || !bytes.Equal(dec, in) {
			t.Fatalf("pierrec decode of our block: n=%d err=%v", n, err)
		}
	})
}

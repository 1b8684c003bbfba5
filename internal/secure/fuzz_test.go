package secure

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/cachekit-go/cachekit/protocol/frame"
)

// FuzzOpen feeds arbitrary stored bytes to the policy's decoders (auto mode
// through the frame, and interop): they never panic, never return plaintext
// with an error, and every failure of a well-formed key is a classified
// decrypt failure.
func FuzzOpen(f *testing.F) {
	p := newPolicy(f, "fuzz-tenant", key32(0x42), key32(0x43))
	s := bind(f, p, context.Background())
	good := sealStored(f, s, "k", []byte("payload"), true)
	raw := sealStored(f, s, "k", []byte{0x01}, false)
	interop, _ := s.SealInterop("k", []byte{0x92, 0x01, 0x02})
	plainFrame, _ := frame.Encode(frame.DefaultHeader(true), []byte("x"))
	f.Add(good, false)
	f.Add(raw, false)
	f.Add(good[:len(good)-3], false)
	f.Add(plainFrame, false)
	f.Add(interop, true)
	f.Add(interop[:20], true)
	f.Add([]byte{0x92, 0x01, 0x02}, true)
	f.Add([]byte{}, true)
	f.Add(bytes.Repeat([]byte{0xff}, 40), true)
	f.Fuzz(func(t *testing.T, data []byte, isInterop bool) {
		var (
			pt  []byte
			err error
		)
		if isInterop {
			pt, err = s.OpenInterop("k", data)
		} else {
			h, payload, derr := frame.Decode(data)
			if derr != nil {
				return
			}
			pt, err = s.Open("k", h, payload)
		}
		if err != nil {
			if pt != nil {
				t.Fatal("plaintext returned with an error")
			}
			if !errors.Is(err, ErrDecrypt) {
				t.Fatalf("unclassified failure: %v", err)
			}
			if _, ok := ReasonOf(err); !ok {
				t.Fatalf("no reason: %v", err)
			}
		}
	})
}

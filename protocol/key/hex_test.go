package key

import (
	"bytes"
	"encoding/hex"
	"math/rand/v2"
	"testing"
)

// TestAppendHex: appendHex writes what hex.AppendEncode writes, for every
// byte value in every position, after a prefix.
func TestAppendHex(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 3))
	for c := range 256 {
		var h [32]byte
		for i := range h {
			h[i] = byte(rnd.Uint32())
		}
		h[c%32] = byte(c)
		if got, want := appendHex([]byte("k:"), &h), hex.AppendEncode([]byte("k:"), h[:]); !bytes.Equal(got, want) {
			t.Fatalf("% x: %s, want %s", h, got, want)
		}
	}
}

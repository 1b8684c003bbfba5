package codec_test

import (
	"bytes"
	"encoding/hex"
	"math/big"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/protocol/codec"
)

func fuzzSeeds(f *testing.F) {
	for _, h := range []string{
		"c0", "c3", "7f", "cfffffffffffffffff", "d38000000000000000", "cb7ff8000000000000", "ca3fc00000",
		"a26869", "c4026869", "9201a161", "82a16102a16201", "c1", "dd7fffffff", "df7fffffff", "db0000ffff6161",
		"d40100", "810101", "a1ff", "c0c0",
		"82ac5f5f6461746574696d655f5fc3a576616c7565b3323032342d30312d30315430303a30303a3030",
		"82a85f5f646174655f5fc3a576616c7565aa323032352d31312d3134",
		"82a85f5f74696d655f5fc3a576616c7565a831303a33303a3030",
		strings.Repeat("91", 600) + "c0",
		strings.Repeat("81a0", 300) + "c0",
		// nested headers that each claim the whole remaining input
		strings.Repeat("dd00000040", 8) + strings.Repeat("c0", 64),
		// typed fields: overflow, short fixed arrays, a UUID of the wrong length
		"85a26938cccca56e616d6564c40301020aa26964c403010203a36172729401020304a17005",
		"81a16d81a17881a16d81a17880",
		strings.Repeat("df00000020a0", 8) + strings.Repeat("c0", 64),
	} {
		b, err := hex.DecodeString(h)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// FuzzCodecDecode: Decode and Unmarshal never panic, and whatever decodes
// re-encodes to a document that decodes to the same value.
func FuzzCodecDecode(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		var u benchUser
		_ = codec.Unmarshal(data, &u)
		var rich fuzzTarget
		_ = codec.Unmarshal(data, &rich)
		var list []fuzzTarget
		_ = codec.Unmarshal(data, &list)
		var generic any
		_ = codec.Unmarshal(data, &generic)
		v, err := codec.Decode(data)
		if err != nil {
			return
		}
		b, err := codec.Marshal(v)
		if err != nil {
			// Decoded times may lie outside what isoformat can print
			// (offsets are range-checked on parse, so this is a bug).
			t.Fatalf("re-encode of decoded value failed: %v", err)
		}
		v2, err := codec.Decode(b)
		if err != nil {
			t.Fatalf("decode of re-encoded value failed: %v", err)
		}
		if !equal(v, v2) {
			t.Fatalf("round trip changed the value:\n%#v\n%#v", v, v2)
		}
		b2, err := codec.Marshal(v2)
		if err != nil || !bytes.Equal(b, b2) {
			t.Fatalf("encoding not stable: %x vs %x (%v)", b, b2, err)
		}
	})
}

// fuzzTarget has a field of every kind Unmarshal fills, so the fuzzer reaches
// each typed path (overflow checks, fixed arrays, UUIDs, text, embedding).
type fuzzTarget struct {
	*fuzzEmbedded
	I8    int8                   `msgpack:"i8"`
	U16   uint16                 `msgpack:"u16"`
	F32   float32                `msgpack:"f32"`
	B     bool                   `msgpack:"b"`
	S     string                 `msgpack:"s"`
	Bin   []byte                 `msgpack:"bin"`
	Arr   [3]int                 `msgpack:"arr"`
	Named [4]namedByte           `msgpack:"named"`
	ID    codec.UUID             `msgpack:"id"`
	Addr  netip.Addr             `msgpack:"addr"`
	Big   *big.Int               `msgpack:"big"`
	T     time.Time              `msgpack:"t"`
	Any   any                    `msgpack:"any"`
	M     map[string]*fuzzTarget `msgpack:"m"`
	P     **int                  `msgpack:"p"`
}

type fuzzEmbedded struct {
	E []map[string][]byte `msgpack:"e"`
}

// equal is reflect.DeepEqual with NaN == NaN and time.Time compared by instant
// at microsecond precision.
func equal(a, b any) bool {
	switch x := a.(type) {
	case float64:
		y, ok := b.(float64)
		return ok && (x == y || (x != x && y != y))
	case time.Time:
		y, ok := b.(time.Time)
		return ok && x.Equal(y)
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equal(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !equal(v, w) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}

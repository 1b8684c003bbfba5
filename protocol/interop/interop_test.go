package interop_test

import (
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/protocol/codec"
	"github.com/cachekit-go/cachekit/protocol/interop"
)

func TestValidSegment(t *testing.T) {
	t.Parallel()
	cases := map[string]bool{
		"users": true, "get_user": true, "a": true, "0": true, "a.b-c_d": true,
		strings.Repeat("a", 64): true, strings.Repeat("a", 65): false,
		"": false, "Users": false, "users\n": false, "-a": false, ".a": false, "_a": false,
		"get:user": false, "a b": false, "é": false, "a\x00": false,
	}
	for s, want := range cases {
		if got := interop.ValidSegment(s); got != want {
			t.Errorf("ValidSegment(%q) = %v", s, got)
		}
		_, err := interop.Key(s, "op", nil)
		if want != (err == nil) || (err != nil && !errors.Is(err, interop.ErrInvalidSegment)) {
			t.Errorf("Key(%q): %v", s, err)
		}
	}
}

type Args struct {
	B string `msgpack:"b"`
	A int    `msgpack:"a"`
}

type hiddenArgs struct {
	A int
	x int
}

var _ = hiddenArgs{x: 0}

func TestCanonicalArgs(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		args []any
		want string
	}{
		{"float collapse", []any{2.0, math.Copysign(0, -1), 1.5}, "930200cb3ff8000000000000"},
		{"float32 collapse", []any{float32(3)}, "9103"},
		{"collapse 2^63", []any{math.Ldexp(1, 63)}, "91cf8000000000000000"},
		{"no collapse 2^64", []any{math.Ldexp(1, 64)}, "91cb43f0000000000000"},
		{"struct sorted", []any{Args{B: "x", A: 1}}, "9182a16101a162a178"},
		{"set dedupe", []any{interop.Set{2, 2.0, 1}}, "9192" + "0102"},
		{"epoch", []any{time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}, "91ce65920080"},
		{"epoch pre-1970 floor", []any{time.Date(1969, 12, 31, 23, 59, 59, 999999999, time.UTC)}, "91cbbeb0c6f7a0b5ed8d"},
		{"uuid", []any{codec.UUID{0xff}}, "91d924" + hex.EncodeToString([]byte("ff000000-0000-0000-0000-000000000000"))},
		{"big in range", []any{new(big.Int).SetUint64(math.MaxUint64)}, "91cfffffffffffffffff"},
		{"nested map sorted", []any{map[string]map[string]int{"z": {"b": 1, "a": 2}}}, "9181a17a82a16102a16201"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b, err := interop.CanonicalArgs(c.args)
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(b); got != c.want {
				t.Fatalf("got %s want %s", got, c.want)
			}
		})
	}
}

func TestCanonicalErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		v    any
		want error
	}{
		{"nan", math.NaN(), interop.ErrNonFinite},
		{"inf", math.Inf(1), interop.ErrNonFinite},
		{"-inf", float32(math.Inf(-1)), interop.ErrNonFinite},
		{"nested nan", map[string]any{"a": []any{math.NaN()}}, interop.ErrNonFinite},
		{"big over", new(big.Int).Lsh(big.NewInt(1), 64), interop.ErrIntRange},
		{"big under", new(big.Int).Sub(big.NewInt(math.MinInt64), big.NewInt(1)), interop.ErrIntRange},
		{"invalid utf8", "a\xffb", interop.ErrInvalidUTF8},
		{"invalid utf8 key", map[string]int{"\xff": 1}, interop.ErrInvalidUTF8},
		{"int key", map[int]int{1: 1}, interop.ErrUnsupportedType},
		{"chan", make(chan int), interop.ErrUnsupportedType},
		{"complex", 1i, interop.ErrUnsupportedType},
		{"year 0", time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), interop.ErrTimeRange},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if _, err := interop.CanonicalArgs([]any{c.v}); !errors.Is(err, c.want) {
				t.Errorf("CanonicalArgs: got %v want %v", err, c.want)
			}
			if _, err := interop.EncodeValue(c.v); !errors.Is(err, c.want) {
				t.Errorf("EncodeValue: got %v want %v", err, c.want)
			}
		})
	}
	if _, err := interop.CanonicalArgs([]any{hiddenArgs{A: 1}}); !errors.Is(err, interop.ErrUnsupportedType) {
		t.Errorf("struct with unexported fields in args: %v", err)
	}
	if b, err := interop.EncodeValue(hiddenArgs{A: 1}); err != nil || hex.EncodeToString(b) != "81a14101" {
		t.Errorf("struct with unexported fields as value: %x %v", b, err)
	}
}

func TestEncodeValue(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		v    any
		want string
	}{
		{"float stays", 2.0, "cb4000000000000000"},
		{"neg zero stays", math.Copysign(0, -1), "cb8000000000000000"},
		{"struct sorted", Args{B: "x", A: 1}, "82a16101a162a178"},
		{"time sentinel", time.Date(2024, 1, 1, 12, 30, 45, 123456000, time.UTC),
			"82ac5f5f6461746574696d655f5fc3a576616c7565d920323032342d30312d30315431323a33303a34352e3132333435362b30303a3030"},
	}
	for _, c := range cases {
		b, err := interop.EncodeValue(c.v)
		if err != nil || hex.EncodeToString(b) != c.want {
			t.Errorf("%s: got %x (%v) want %s", c.name, b, err, c.want)
		}
	}
}

func TestDecodeValue(t *testing.T) {
	t.Parallel()
	frame := append([]byte("CK\x03\x00\x00\x00\x02{}"), 0xc0)
	if _, err := interop.DecodeValue(frame); !errors.Is(err, interop.ErrPythonFrame) {
		t.Errorf("CK frame: %v", err)
	}
	var v any
	if err := interop.UnmarshalValue(frame, &v); !errors.Is(err, interop.ErrPythonFrame) {
		t.Errorf("CK frame (Unmarshal): %v", err)
	}
	if _, err := interop.DecodeValue([]byte{0x01, 0x02}); !errors.Is(err, codec.ErrTrailingBytes) {
		t.Errorf("trailing: %v", err)
	}
	if _, err := interop.DecodeValue([]byte{0xdb, 0, 0, 1, 0}); !errors.Is(err, codec.ErrMalformed) {
		t.Errorf("truncated: %v", err)
	}
	// Unsorted input is accepted.
	got, err := interop.DecodeValue([]byte{0x82, 0xa1, 'b', 0x02, 0xa1, 'a', 0x01})
	if err != nil || fmt.Sprint(got) != "map[a:1 b:2]" {
		t.Errorf("unsorted: %v %v", got, err)
	}
	var a Args
	if err := interop.UnmarshalValue([]byte{0x82, 0xa1, 'b', 0xa1, 'x', 0xa1, 'a', 0x07}, &a); err != nil || a != (Args{B: "x", A: 7}) {
		t.Errorf("UnmarshalValue: %+v %v", a, err)
	}
}

func ExampleKey() {
	k, err := interop.Key("users", "get_user", []any{42})
	if err != nil {
		panic(err)
	}
	fmt.Println(k)
	// Output: users:get_user:61598716255080080f6456eb065c2e51badfaa4320b0efe97469c29cffee8875
}

func ExampleEncodeValue() {
	b, err := interop.EncodeValue(map[string]any{"name": "alice", "age": 30})
	if err != nil {
		panic(err)
	}
	fmt.Printf("%x\n", b)
	v, err := interop.DecodeValue(b)
	if err != nil {
		panic(err)
	}
	fmt.Println(v)
	// Output:
	// 82a36167651ea46e616d65a5616c696365
	// map[age:30 name:alice]
}

func FuzzInteropDecodeValue(f *testing.F) {
	for _, h := range []string{"82a36167651ea46e616d65a5616c696365", "cb4000000000000000", "9501a374776fcb400c000000000000c0c3",
		"434b03", "c1", "dd7fffffff", "db0000ffff6161", strings.Repeat("91", 600) + "c0", "d40100", "0102"} {
		b, _ := hex.DecodeString(h)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var a Args
		_ = interop.UnmarshalValue(data, &a)
		v, err := interop.DecodeValue(data)
		if err != nil {
			return
		}
		enc, err := interop.EncodeValue(v)
		if err != nil {
			if errors.Is(err, interop.ErrNonFinite) {
				return // NaN/Inf are readable but never written
			}
			t.Fatalf("re-encode: %v", err)
		}
		v2, err := interop.DecodeValue(enc)
		if err != nil {
			t.Fatalf("decode canonical: %v", err)
		}
		enc2, err := interop.EncodeValue(v2)
		if err != nil || string(enc) != string(enc2) {
			t.Fatalf("canonical form not stable: %x vs %x (%v)", enc, enc2, err)
		}
	})
}

func ExampleCanonicalArgs() {
	b, err := interop.CanonicalArgs([]any{2.0, interop.Set{3, 1, 2}, map[string]any{"b": 1, "a": 2}})
	if err != nil {
		panic(err)
	}
	fmt.Printf("%x\n", b)
	// Output: 93029301020382a16102a16201
}

func ExampleDecodeValue() {
	_, err := interop.DecodeValue([]byte("CK\x03..."))
	fmt.Println(errors.Is(err, interop.ErrPythonFrame))
	// Output: true
}

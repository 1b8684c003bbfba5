package interop_test

import (
	"encoding/binary"
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
		{"nested int key", []any{map[uint64]string{1: "a"}}, interop.ErrUnsupportedType},
		{"date", codec.Date{Year: 2025, Month: 1, Day: 2}, interop.ErrUnsupportedType},
		{"time of day", codec.TimeOfDay{Hour: 1}, interop.ErrUnsupportedType},
		{"date in map", map[string]any{"d": codec.Date{Year: 2025, Month: 1, Day: 2}}, interop.ErrUnsupportedType},
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
		"434b03", "c1", "dd7fffffff", strings.Repeat("dd00000040", 8) + strings.Repeat("c0", 64), "d90243", "db0000ffff6161", strings.Repeat("91", 600) + "c0", "d40100", "0102"} {
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

// TestIntegralCollapseBoundaries: in the ARGS profile a float with an integral
// value in [-2^63, 2^64) is written as that integer, in the shortest form; the
// bounds are exact powers of two (2^64-1 is not a float64).
func TestIntegralCollapseBoundaries(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		f    float64
		want string
	}{
		{"0.0", 0, "00"},
		{"-0.0", math.Copysign(0, -1), "00"},
		{"-1.0", -1, "ff"},
		{"127.0", 127, "7f"},
		{"128.0", 128, "cc80"},
		{"-33.0", -33, "d0df"},
		{"2^32", 1 << 32, "cf0000000100000000"},
		{"-2^31-1", -(1 << 31) - 1, "d3ffffffff7fffffff"},
		{"1e18", 1e18, "cf0de0b6b3a7640000"},
		{"largest below 2^63", math.Nextafter(1<<63, 0), "cf7ffffffffffffc00"},
		{"2^63", 1 << 63, "cf8000000000000000"},
		{"largest below 2^64", math.Nextafter(1<<64, 0), "cffffffffffffff800"},
		{"2^64 stays float", 1 << 64, "cb43f0000000000000"},
		{"-2^63", -(1 << 63), "d38000000000000000"},
		{"below -2^63 stays float", math.Nextafter(-(1 << 63), math.Inf(-1)), "cbc3e0000000000001"},
		{"max float stays float", math.MaxFloat64, "cb7fefffffffffffff"},
		{"0.5", 0.5, "cb3fe0000000000000"},
		{"subnormal", math.SmallestNonzeroFloat64, "cb0000000000000001"},
		{"-0.5", -0.5, "cbbfe0000000000000"},
	}
	for _, c := range cases {
		b, err := interop.CanonicalArgs([]any{c.f})
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if got := hex.EncodeToString(b[1:]); got != c.want {
			t.Errorf("%s: got %s want %s", c.name, got, c.want)
		}
		// The VALUE profile never collapses.
		v, err := interop.EncodeValue(c.f)
		if err != nil || v[0] != 0xcb || math.Float64frombits(binary.BigEndian.Uint64(v[1:])) != c.f {
			t.Errorf("%s: EncodeValue %x %v", c.name, v, err)
		}
	}
	// Collapse applies inside containers and sets too, so {2, 2.0} and
	// {0, -0.0} have one element each.
	b, err := interop.CanonicalArgs([]any{map[string]any{"a": []any{3.0}}, interop.Set{0, math.Copysign(0, -1)}, interop.Set{}})
	if err != nil || hex.EncodeToString(b) != "9381a1619103910090" {
		t.Fatalf("nested collapse: %x %v", b, err)
	}
}

// TestDatetimeArgs: floor(microseconds since the epoch) / 1e6 as ONE float64
// division, then the integral collapse. The expected bytes were computed with
// CPython (micros / 1_000_000.0). At the end of year 9999 the single division
// rounds to an integral value (and collapses); adding seconds and fractional
// microseconds separately would not.
func TestDatetimeArgs(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		t    time.Time
		want string
	}{
		{"epoch", time.Unix(0, 0).UTC(), "00"},
		{"epoch + 1us", time.Unix(0, 1000), "cb3eb0c6f7a0b5ed8d"},
		{"epoch + 999ns floors to 0", time.Unix(0, 999), "00"},
		{"epoch - 1ns floors to -1us", time.Unix(0, -1), "cbbeb0c6f7a0b5ed8d"},
		{"9999-12-31T23:59:59.999999", time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC), "cf0000003afff44180"},
		{"0001-01-01T00:00:00.000001", time.Date(1, 1, 1, 0, 0, 0, 1000, time.UTC), "d3fffffff1886e0900"},
		{"same instant, other zone", time.Date(2024, 1, 1, 18, 0, 45, 123456000, time.FixedZone("", 5*3600+30*60)), "cb41d964ac1d47e6b4"},
	}
	for _, c := range cases {
		b, err := interop.CanonicalArgs([]any{c.t})
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if got := hex.EncodeToString(b[1:]); got != c.want {
			t.Errorf("%s: got %s want %s", c.name, got, c.want)
		}
	}
}

// TestSets: elements are encoded one by one, sorted by their encoded bytes
// (not by value or type) and de-duplicated after encoding.
func TestSets(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		set  interop.Set
		want string
	}{
		{"empty", interop.Set{}, "90"},
		{"bytes order, not numeric", interop.Set{-1, 1, 200, "a"}, "9401a161ccc8ff"},
		{"dedupe after encoding", interop.Set{"x", "x", 1.0, 1, uint8(1)}, "9201a178"},
		{"maps are sorted before comparing", interop.Set{map[string]int{"b": 1, "a": 2}, map[string]int{"a": 2, "b": 1}}, "9182a16102a16201"},
		{"nested set", interop.Set{interop.Set{2, 1}, interop.Set{1, 2}}, "91920102"},
	}
	for _, c := range cases {
		b, err := interop.CanonicalArgs([]any{c.set})
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if got := hex.EncodeToString(b[1:]); got != c.want {
			t.Errorf("%s: got %s want %s", c.name, got, c.want)
		}
	}
	if _, err := interop.CanonicalArgs([]any{interop.Set{math.NaN()}}); !errors.Is(err, interop.ErrNonFinite) {
		t.Fatalf("NaN in a set: %v", err)
	}
}

// TestMapOrderIsUTF8ByteOrder: keys are sorted by code point, which is UTF-8
// byte order; a UTF-16 code-unit sort would put U+10000 (D800 DC00) before
// U+FF61. Struct fields follow the same order.
func TestMapOrderIsUTF8ByteOrder(t *testing.T) {
	t.Parallel()
	type S struct {
		Hi int `msgpack:"\U00010000"`
		Lo int `msgpack:"\uff61"`
		A  int `msgpack:"a"`
	}
	m, err := interop.CanonicalArgs([]any{map[string]int{"\U00010000": 1, "\uff61": 2, "a": 3}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := interop.CanonicalArgs([]any{S{Hi: 1, Lo: 2, A: 3}})
	if err != nil {
		t.Fatal(err)
	}
	const want = "9183a16103a3efbda102a4f090808001"
	if hex.EncodeToString(m) != want || hex.EncodeToString(s) != want {
		t.Fatalf("map %x, struct %x, want %s", m, s, want)
	}
}

// TestDecodeValueRejects: the VALUE reader takes one document and nothing
// else.
func TestDecodeValueRejects(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, codec.ErrMalformed},
		{"two documents", []byte{0xc0, 0xc0}, codec.ErrTrailingBytes},
		{"map then byte", []byte{0x80, 0x00}, codec.ErrTrailingBytes},
		{"CK alone", []byte("CK"), interop.ErrPythonFrame},
		{"CK frame prefix", []byte("CK\x03\x00\x00\x00\x02{}\xc0"), interop.ErrPythonFrame},
		{"invalid UTF-8", []byte{0xa1, 0xff}, codec.ErrInvalidUTF8},
		{"extension", []byte{0xd4, 0x01, 0x00}, codec.ErrExtension},
	}
	for _, c := range cases {
		if _, err := interop.DecodeValue(c.in); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v want %v", c.name, err, c.want)
		}
	}
	// A lone "C" is the integer 67, not a frame.
	if v, err := interop.DecodeValue([]byte("C")); err != nil || v != int64(67) {
		t.Fatalf("C: %v %v", v, err)
	}
}

type setHolder struct {
	S interface{ SetElements() []any } `msgpack:"s"`
}

// TestSetPointersAndInterfaces: a nil *Set or a nil interface that could hold
// a set is nil (it used to panic); a non-nil one is followed to the set.
func TestSetPointersAndInterfaces(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		v    any
		want string
	}{
		{"nil *Set", (*interop.Set)(nil), "c0"},
		{"*Set", &interop.Set{2, 1, 2}, "920102"},
		{"nil set interface field", setHolder{}, "81a173c0"},
		{"set in interface field", setHolder{S: interop.Set{"b", "a"}}, "81a17392a161a162"},
	}
	for _, c := range cases {
		b, err := interop.CanonicalArgs([]any{c.v})
		if err != nil || hex.EncodeToString(b[1:]) != c.want {
			t.Errorf("%s: CanonicalArgs %x, %v; want %s", c.name, b, err, c.want)
		}
		// Sets are arguments only: the interop value data model has none.
		b, err = interop.EncodeValue(c.v)
		if wantErr := strings.Contains(c.name, "Set") && !strings.Contains(c.name, "nil") ||
			c.name == "set in interface field"; wantErr != (err != nil) {
			t.Errorf("%s: EncodeValue %x, %v", c.name, b, err)
		} else if err == nil && hex.EncodeToString(b) != c.want {
			t.Errorf("%s: EncodeValue %x; want %s", c.name, b, c.want)
		}
	}
}

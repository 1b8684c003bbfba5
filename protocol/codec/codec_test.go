package codec_test

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/big"
	"net/netip"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/protocol/codec"
)

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type Inner struct {
	Z int
}

type User struct {
	Name    string            `msgpack:"name"`
	Age     int               `msgpack:"age"`
	Email   string            `msgpack:"email,omitempty"`
	Secret  string            `msgpack:"-"`
	Tags    []string          `msgpack:"tags,omitempty"`
	Created time.Time         `msgpack:"created"`
	ID      codec.UUID        `msgpack:"id"`
	Extra   map[string]string `msgpack:"extra,omitempty"`
	Ptr     *int              `msgpack:"ptr"`
	private int
}

type Embedded struct {
	Inner
	A int
}

type otherUUID [16]byte

func (o otherUUID) String() string { return "" }

func TestMarshalBytes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		v    any
		want string
	}{
		{"nil", nil, "c0"},
		{"true", true, "c3"},
		{"int 0", 0, "00"},
		{"int 127", 127, "7f"},
		{"int 128", int16(128), "cc80"},
		{"int 256", uint32(256), "cd0100"},
		{"int 65536", int64(65536), "ce00010000"},
		{"int 2^32", uint64(1 << 32), "cf0000000100000000"},
		{"int -1", int8(-1), "ff"},
		{"int -32", -32, "e0"},
		{"int -33", -33, "d0df"},
		{"int -129", -129, "d1ff7f"},
		{"int -32769", int32(-32769), "d2ffff7fff"},
		{"int min", int64(math.MinInt64), "d38000000000000000"},
		{"float 3.0", 3.0, "cb4008000000000000"},
		{"float32 widened", float32(1.5), "cb3ff8000000000000"},
		{"nan kept", math.Float64frombits(0x7ff8000000000001), "cb7ff8000000000001"},
		{"neg zero kept", math.Copysign(0, -1), "cb8000000000000000"},
		{"str", "hi", "a26869"},
		{"bin", []byte("hi"), "c4026869"},
		{"array", []any{1, "a"}, "9201a161"},
		{"map sorted", map[string]int{"b": 1, "a": 2}, "82a16102a16201"},
		{"struct field order", Embedded{Inner{1}, 2}, "82a15a01a14102"},
		{"uuid", codec.UUID{1}, "d924" + hex.EncodeToString([]byte("01000000-0000-0000-0000-000000000000"))},
		{"other uuid", otherUUID{1}, "d924" + hex.EncodeToString([]byte("01000000-0000-0000-0000-000000000000"))},
		{"big int", big.NewInt(-5), "fb"},
		{"netip text", netip.MustParseAddr("10.0.0.1"), "a831302e302e302e31"},
		{"time", time.Date(2024, 1, 1, 12, 30, 45, 123456789, time.UTC),
			"82ac5f5f6461746574696d655f5fc3a576616c7565d920323032342d30312d30315431323a33303a34352e3132333435362b30303a3030"},
		{"nil map", map[string]int(nil), "c0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got, err := codec.Marshal(c.v)
			if err != nil {
				t.Fatal(err)
			}
			if hex.EncodeToString(got) != c.want {
				t.Fatalf("got %x want %s", got, c.want)
			}
		})
	}
}

func TestFormatTime(t *testing.T) {
	t.Parallel()
	cases := []struct {
		t    time.Time
		want string
	}{
		{time.Date(2025, 11, 14, 10, 30, 0, 0, time.UTC), "2025-11-14T10:30:00+00:00"},
		{time.Date(2025, 11, 14, 10, 30, 0, 1000, time.UTC), "2025-11-14T10:30:00.000001+00:00"},
		{time.Date(2025, 11, 14, 10, 30, 0, 999, time.UTC), "2025-11-14T10:30:00+00:00"}, // sub-µs truncated
		{time.Date(2025, 11, 14, 10, 30, 0, 120000000, time.FixedZone("", 5*3600+1800)), "2025-11-14T10:30:00.120000+05:30"},
		{time.Date(2025, 1, 2, 3, 4, 5, 0, time.FixedZone("", -(3*3600+30*60))), "2025-01-02T03:04:05-03:30"},
		{time.Date(2025, 1, 2, 3, 4, 5, 0, time.FixedZone("", 3600+61)), "2025-01-02T03:04:05+01:01:01"},
		{time.Date(2025, 1, 2, 3, 4, 5, 0, time.FixedZone("", -61)), "2025-01-02T03:04:05-00:01:01"},
		{time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), "0001-01-01T00:00:00+00:00"},
		{time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC), "9999-12-31T23:59:59.999999+00:00"},
	}
	for _, c := range cases {
		got, err := codec.FormatTime(c.t)
		if err != nil || got != c.want {
			t.Errorf("FormatTime(%v) = %q, %v; want %q", c.t, got, err, c.want)
		}
		back, naive, err := codec.ParseTime(got)
		if err != nil || naive || !back.Equal(c.t.Truncate(time.Microsecond)) {
			t.Errorf("ParseTime(%q) = %v, %v, %v", got, back, naive, err)
		}
	}
	for _, bad := range []time.Time{
		time.Date(0, 12, 31, 0, 0, 0, 0, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2000, 1, 1, 0, 0, 0, 0, time.FixedZone("", 86400)),
	} {
		if _, err := codec.FormatTime(bad); !errors.Is(err, codec.ErrTimeRange) {
			t.Errorf("FormatTime(%v): %v", bad, err)
		}
	}
}

func TestParseTime(t *testing.T) {
	t.Parallel()
	good := map[string]time.Time{
		"2024-01-01T00:00:00":                 time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		"2024-01-01 00:00:00Z":                time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		"2024-01-01T10:20+0100":               time.Date(2024, 1, 1, 9, 20, 0, 0, time.UTC),
		"2024-01-01T10:20:30.5-01:00":         time.Date(2024, 1, 1, 11, 20, 30, 5e8, time.UTC),
		"2024-01-01T00:00:00.123456789Z":      time.Date(2024, 1, 1, 0, 0, 0, 123456000, time.UTC),
		"2024-02-29T00:00:00+00:00:30.000000": time.Date(2024, 2, 28, 23, 59, 30, 0, time.UTC),
	}
	for in, want := range good {
		got, _, err := codec.ParseTime(in)
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "2024-01-01", "2024-13-01T00:00:00", "2023-02-29T00:00:00", "2024-01-01T24:00:00",
		"2024-01-01T00:00:00+25:00", "2024-01-01T00:00:00.", "2024-01-01T00:00:00.1234567890", "2024-01-01X00:00:00",
		"2024-01-01T00:00:00+01", "2024-01-01T00:00:00 ", "+024-01-01T00:00:00"} {
		if _, _, err := codec.ParseTime(bad); !errors.Is(err, codec.ErrInvalidTime) {
			t.Errorf("ParseTime(%q) accepted: %v", bad, err)
		}
	}
}

func TestRoundTripStruct(t *testing.T) {
	t.Parallel()
	n := 5
	u := User{
		Name: "alice", Age: 30, Secret: "s", Tags: []string{"a", "b"},
		Created: time.Date(2025, 11, 14, 10, 30, 0, 123000, time.FixedZone("", 3600)),
		ID:      codec.UUID{0xde, 0xad}, Extra: map[string]string{"k": "v"}, Ptr: &n, private: 9,
	}
	b, err := codec.Marshal(u)
	if err != nil {
		t.Fatal(err)
	}
	var got User
	if err := codec.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.Secret != "" || got.private != 0 {
		t.Fatal("skipped fields were written")
	}
	u.Secret, u.private = "", 0
	if !got.Created.Equal(u.Created) {
		t.Fatalf("time %v != %v", got.Created, u.Created)
	}
	got.Created = u.Created
	if !reflect.DeepEqual(got, u) {
		t.Fatalf("got %+v\nwant %+v", got, u)
	}
	// Generic decode sees the same document.
	m, err := codec.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	mm := m.(map[string]any)
	if mm["name"] != "alice" || mm["age"] != int64(30) || mm["id"] != "dead0000-0000-0000-0000-000000000000" {
		t.Fatalf("decode: %#v", mm)
	}
	if _, ok := mm["email"]; ok {
		t.Fatal("omitempty field present")
	}
	if _, ok := mm["created"].(time.Time); !ok {
		t.Fatalf("created is %T", mm["created"])
	}
}

func TestDecodeGeneric(t *testing.T) {
	t.Parallel()
	cases := []struct {
		hex  string
		want any
	}{
		{"c0", nil},
		{"c2", false},
		{"7f", int64(127)},
		{"cfffffffffffffffff", uint64(math.MaxUint64)},
		{"cf7fffffffffffffff", int64(math.MaxInt64)},
		{"d0df", int64(-33)},
		{"ca3fc00000", 1.5},
		{"a26869", "hi"},
		{"c4026869", []byte("hi")},
		{"920102", []any{int64(1), int64(2)}},
		{"81a16101", map[string]any{"a": int64(1)}},
		// sentinel-lookalikes stay maps
		{"82ac5f5f6461746574696d655f5f01a576616c7565a0", map[string]any{"__datetime__": int64(1), "value": ""}},
		{"82ac5f5f6461746574696d655f5fc3a576616c7565a0", map[string]any{"__datetime__": true, "value": ""}},
		{"83ac5f5f6461746574696d655f5fc3a576616c7565b3323032342d30312d30315430303a30303a3030a178c0",
			map[string]any{"__datetime__": true, "value": "2024-01-01T00:00:00", "x": nil}},
		// sentinels
		{"82ac5f5f6461746574696d655f5fc3a576616c7565b3323032342d30312d30315430303a30303a3030",
			time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"82a85f5f646174655f5fc3a576616c7565aa323032352d31312d3134", codec.Date{Year: 2025, Month: 11, Day: 14}},
		{"82a85f5f74696d655f5fc3a576616c7565a831303a33303a3030", codec.TimeOfDay{Hour: 10, Minute: 30}},
	}
	for _, c := range cases {
		got, err := codec.Decode(mustHex(t, c.hex))
		if err != nil {
			t.Errorf("%s: %v", c.hex, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: got %#v want %#v", c.hex, got, c.want)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		hex  string
		want error
	}{
		{"empty", "", codec.ErrMalformed},
		{"c1", "c1", codec.ErrMalformed},
		{"truncated str32", "db0000ffff6161", codec.ErrMalformed},
		{"huge array header", "dd7fffffff", codec.ErrMalformed},
		{"huge map header", "df7fffffff", codec.ErrMalformed},
		{"trailing", "c0c0", codec.ErrTrailingBytes},
		{"ext", "d40100", codec.ErrExtension},
		{"int key", "810101", codec.ErrNonStringKey},
		{"invalid utf8", "a1ff", codec.ErrInvalidUTF8},
		{"invalid utf8 key", "81a1ff01", codec.ErrInvalidUTF8},
		{"deep", strings.Repeat("91", 600) + "c0", codec.ErrTooDeep},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			data := mustHex(t, c.hex)
			if _, err := codec.Decode(data); !errors.Is(err, c.want) {
				t.Errorf("Decode: got %v want %v", err, c.want)
			}
			var v any
			if err := codec.Unmarshal(data, &v); !errors.Is(err, c.want) {
				t.Errorf("Unmarshal: got %v want %v", err, c.want)
			}
		})
	}
}

func TestUnmarshalTyped(t *testing.T) {
	t.Parallel()
	var i8 int8
	if err := codec.Unmarshal(mustHex(t, "cd0100"), &i8); !errors.Is(err, codec.ErrOverflow) {
		t.Errorf("int8 overflow: %v", err)
	}
	var u8 uint8
	if err := codec.Unmarshal(mustHex(t, "ff"), &u8); !errors.Is(err, codec.ErrOverflow) {
		t.Errorf("uint8 negative: %v", err)
	}
	var i64 int64
	if err := codec.Unmarshal(mustHex(t, "cfffffffffffffffff"), &i64); !errors.Is(err, codec.ErrOverflow) {
		t.Errorf("int64 from uint64 max: %v", err)
	}
	if err := codec.Unmarshal(mustHex(t, "cb4008000000000000"), &i64); !errors.Is(err, codec.ErrTypeMismatch) {
		t.Errorf("float into int: %v", err)
	}
	var f32 float32
	if err := codec.Unmarshal(mustHex(t, "cb7fefffffffffffff"), &f32); !errors.Is(err, codec.ErrOverflow) {
		t.Errorf("float32 overflow: %v", err)
	}
	var f64 float64
	if err := codec.Unmarshal(mustHex(t, "2a"), &f64); err != nil || f64 != 42 {
		t.Errorf("int into float: %v %v", f64, err)
	}
	var s string
	if err := codec.Unmarshal(mustHex(t, "01"), &s); !errors.Is(err, codec.ErrTypeMismatch) {
		t.Errorf("int into string: %v", err)
	}
	if err := codec.Unmarshal(mustHex(t, "c0"), nil); !errors.Is(err, codec.ErrInvalidTarget) {
		t.Errorf("nil target: %v", err)
	}
	if err := codec.Unmarshal(mustHex(t, "c0"), s); !errors.Is(err, codec.ErrInvalidTarget) {
		t.Errorf("non-pointer target: %v", err)
	}
	var arr [2]int
	if err := codec.Unmarshal(mustHex(t, "93010203"), &arr); err != nil || arr != [2]int{1, 2} {
		t.Errorf("array extra: %v %v", arr, err)
	}
	var u codec.UUID
	if err := codec.Unmarshal(mustHex(t, "d924"+hex.EncodeToString([]byte("550E8400-E29B-41D4-A716-446655440000"))), &u); err != nil ||
		u.String() != "550e8400-e29b-41d4-a716-446655440000" {
		t.Errorf("uuid: %v %v", u, err)
	}
	var ou otherUUID
	if err := codec.Unmarshal(mustHex(t, "c410"+strings.Repeat("ab", 16)), &ou); err != nil || ou[15] != 0xab {
		t.Errorf("other uuid from bin: %v %v", ou, err)
	}
	if err := codec.Unmarshal(mustHex(t, "a3616263"), &u); !errors.Is(err, codec.ErrInvalidUUID) {
		t.Errorf("bad uuid: %v", err)
	}
	var m map[float64]string
	if err := codec.Unmarshal(mustHex(t, "80"), &m); !errors.Is(err, codec.ErrUnsupportedType) {
		t.Errorf("float-keyed map target: %v", err)
	}
	var ch chan int
	if err := codec.Unmarshal(mustHex(t, "01"), &ch); !errors.Is(err, codec.ErrUnsupportedType) {
		t.Errorf("chan target: %v", err)
	}
	var addr netip.Addr
	if err := codec.Unmarshal(mustHex(t, "a831302e302e302e31"), &addr); err != nil || addr.String() != "10.0.0.1" {
		t.Errorf("text unmarshaler: %v %v", addr, err)
	}
	var tm time.Time
	if err := codec.Unmarshal(mustHex(t, "b3323032342d30312d30315430303a30303a3030"), &tm); err != nil || tm.Year() != 2024 {
		t.Errorf("time from string: %v %v", tm, err)
	}
	if err := codec.Unmarshal(mustHex(t, "01"), &tm); !errors.Is(err, codec.ErrTypeMismatch) {
		t.Errorf("time from int: %v", err)
	}
	p := new(int)
	if err := codec.Unmarshal(mustHex(t, "c0"), &p); err != nil || p != nil {
		t.Errorf("nil into pointer: %v %v", p, err)
	}
	var bi big.Int
	if err := codec.Unmarshal(mustHex(t, "cfffffffffffffffff"), &bi); err != nil || bi.String() != "18446744073709551615" {
		t.Errorf("big: %v %v", bi.String(), err)
	}
	var e Embedded
	if err := codec.Unmarshal(mustHex(t, "83a15a07a14108a178c0"), &e); err != nil || e.Z != 7 || e.A != 8 {
		t.Errorf("embedded: %+v %v", e, err)
	}
	var raw []byte
	if err := codec.Unmarshal(mustHex(t, "a26869"), &raw); err != nil || string(raw) != "hi" {
		t.Errorf("str into []byte: %v", err)
	}
}

func TestMarshalUnsupported(t *testing.T) {
	t.Parallel()
	type cyc struct{ P *cyc }
	c := &cyc{}
	c.P = c
	m := map[string]any{}
	m["self"] = m
	cases := []struct {
		name string
		v    any
		want error
	}{
		{"chan", make(chan int), codec.ErrUnsupportedType},
		{"func", func() {}, codec.ErrUnsupportedType},
		{"complex", complex64(1), codec.ErrUnsupportedType},
		{"map float key", map[float64]string{1: "a"}, codec.ErrUnsupportedType},
		{"struct with chan", struct{ C chan int }{make(chan int)}, codec.ErrUnsupportedType},
		{"cycle ptr", c, codec.ErrTooDeep},
		{"cycle map", m, codec.ErrTooDeep},
		{"invalid utf8", "\xff", codec.ErrInvalidUTF8},
		{"big out of range", new(big.Int).Lsh(big.NewInt(1), 64), codec.ErrIntRange},
		{"time range", time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), codec.ErrTimeRange},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if _, err := codec.Marshal(c.v); !errors.Is(err, c.want) {
				t.Fatalf("got %v want %v", err, c.want)
			}
		})
	}
}

func TestParseUUID(t *testing.T) {
	t.Parallel()
	want := "550e8400-e29b-41d4-a716-446655440000"
	for _, in := range []string{want, strings.ToUpper(want), "{" + want + "}", "urn:uuid:" + want, strings.ReplaceAll(want, "-", "")} {
		u, err := codec.ParseUUID(in)
		if err != nil || u.String() != want {
			t.Errorf("ParseUUID(%q) = %v, %v", in, u, err)
		}
	}
	for _, in := range []string{"", "550e8400e29b-41d4-a716-4466554400000", "550e8400-e29b-41d4-a716-44665544000g", "550e8400-e29b-41d4-a716_446655440000"} {
		if _, err := codec.ParseUUID(in); !errors.Is(err, codec.ErrInvalidUUID) {
			t.Errorf("ParseUUID(%q) accepted", in)
		}
	}
	var u codec.UUID
	if err := u.UnmarshalText([]byte(want)); err != nil {
		t.Fatal(err)
	}
	if txt, _ := u.MarshalText(); string(txt) != want {
		t.Fatal(string(txt))
	}
}

// A small input claiming a huge container must not allocate much.
func TestNoAmplification(t *testing.T) {
	data := append(mustHex(t, "dcffff"), bytes.Repeat([]byte{0xc0}, 10)...)
	var big [][1024]byte
	var err error
	allocs := testing.AllocsPerRun(10, func() { err = codec.Unmarshal(data, &big) })
	if !errors.Is(err, codec.ErrMalformed) || allocs > 10 {
		t.Fatalf("allocs %v err %v", allocs, err)
	}
	data = append(mustHex(t, "dc0400"), bytes.Repeat([]byte{0xc0}, 1024)...)
	if err := codec.Unmarshal(data, &big); err != nil || len(big) != 1024 {
		t.Fatalf("legit array: %v %d", err, len(big))
	}
}

func ExampleMarshal() {
	type User struct {
		Name string `msgpack:"name"`
		Age  int    `msgpack:"age"`
	}
	b, err := codec.Marshal(User{Name: "alice", Age: 30})
	if err != nil {
		panic(err)
	}
	fmt.Printf("%x\n", b)
	var back User
	if err := codec.Unmarshal(b, &back); err != nil {
		panic(err)
	}
	fmt.Println(back.Name, back.Age)
	// Output:
	// 82a46e616d65a5616c696365a36167651e
	// alice 30
}

func ExampleDecode() {
	v, err := codec.Decode([]byte{0x82, 0xa1, 0x62, 0x02, 0xa1, 0x61, 0x01})
	if err != nil {
		panic(err)
	}
	fmt.Println(v)
	// Output: map[a:1 b:2]
}

type benchUser struct {
	ID    int64     `msgpack:"id"`
	Name  string    `msgpack:"name"`
	Email string    `msgpack:"email"`
	Tags  []string  `msgpack:"tags"`
	Seen  time.Time `msgpack:"seen"`
}

var benchValue = benchUser{ID: 42, Name: "alice", Email: "a@example.com", Tags: []string{"x", "y"}, Seen: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}

func BenchmarkMarshal(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := codec.Marshal(benchValue); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnmarshal(b *testing.B) {
	data, err := codec.Marshal(benchValue)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		var u benchUser
		if err := codec.Unmarshal(data, &u); err != nil {
			b.Fatal(err)
		}
	}
}

type EA struct {
	N int
	A int
}

type EB struct {
	N int
	B int
}

type withEmbeds struct {
	EA
	*EB
	C int `msgpack:"c"`
}

type shadow struct {
	EA
	N string
}

func TestEmbeddedFieldRules(t *testing.T) {
	t.Parallel()
	// N is ambiguous at depth 1 and dropped; a nil embedded pointer omits its fields.
	b, err := codec.Marshal(withEmbeds{EA: EA{N: 1, A: 2}, C: 3})
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(b); got != "82a14102a16303" {
		t.Fatalf("got %s", got)
	}
	b, err = codec.Marshal(withEmbeds{EA: EA{A: 2}, EB: &EB{B: 5}, C: 3})
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(b); got != "83a14102a14205a16303" {
		t.Fatalf("got %s", got)
	}
	var back withEmbeds
	if err := codec.Unmarshal(b, &back); err != nil || back.EB == nil || back.B != 5 || back.A != 2 || back.C != 3 {
		t.Fatalf("unmarshal: %+v %v", back, err)
	}
	// The shallower field wins.
	b, err = codec.Marshal(shadow{EA: EA{N: 1, A: 2}, N: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(b); got != "82a14102a14ea178" {
		t.Fatalf("got %s", got)
	}
}

// nestedClaims builds levels of array32 headers that each claim the whole
// remaining input, then fill nils: every header passes the reader's "enough
// bytes left" check, but only the innermost array can ever be filled.
func nestedClaims(levels, fill int, header func(n int) []byte) []byte {
	var b []byte
	for range levels {
		b = append(b, header(fill)...)
	}
	return append(b, bytes.Repeat([]byte{0xc0}, fill)...)
}

// allocated reports the bytes f allocates. Not parallel: TotalAlloc is
// process-wide.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

type node struct {
	C []node `msgpack:"c"`
}

// TestNestedClaimsNoAmplification: headers nested inside each other may each
// claim the remaining input; together they must not make the decoder reserve
// more than a small multiple of the input (before the budget, 260 KB of input
// allocated about 1 GB in Decode, 4000 times its size).
func TestNestedClaimsNoAmplification(t *testing.T) {
	array32 := func(n int) []byte { return binary.BigEndian.AppendUint32([]byte{0xdd}, uint32(n)) }
	map32 := func(n int) []byte { return binary.BigEndian.AppendUint32([]byte{0xdf}, uint32(n)) }
	nodeLevel := func(n int) []byte {
		return binary.BigEndian.AppendUint32([]byte{0x81, 0xa1, 'c', 0xdd}, uint32(n))
	}
	cases := []struct {
		name string
		data []byte
		run  func(data []byte) error
	}{
		{"Decode arrays", nestedClaims(250, 1<<16, array32), func(d []byte) error { _, err := codec.Decode(d); return err }},
		{"Decode maps", nestedClaims(250, 1<<16, func(n int) []byte { return append(map32(n/2), 0xa0) }),
			func(d []byte) error { _, err := codec.Decode(d); return err }},
		{"Unmarshal any", nestedClaims(250, 1<<16, array32), func(d []byte) error { var v any; return codec.Unmarshal(d, &v) }},
		{"Unmarshal recursive struct", nestedClaims(120, 1<<16, nodeLevel), func(d []byte) error { var v node; return codec.Unmarshal(d, &v) }},
		{"Unmarshal nested maps", nestedClaims(250, 1<<16, func(n int) []byte { return append(map32(n/2), 0xa0) }),
			func(d []byte) error { var v map[string]any; return codec.Unmarshal(d, &v) }},
	}
	for _, c := range cases {
		var err error
		n := allocated(func() { err = c.run(c.data) })
		if err == nil {
			t.Errorf("%s: a truncated document decoded", c.name)
		}
		// What remains is the innermost container really filled with
		// 16..24-byte elements, one per input byte, plus append growth.
		if limit := uint64(256 * len(c.data)); n > limit {
			t.Errorf("%s: %d input bytes allocated %d bytes (limit %d)", c.name, len(c.data), n, limit)
		}
	}
	// Legitimate nesting still decodes.
	v, err := codec.Decode([]byte{0x91, 0x91, 0x90})
	if err != nil || fmt.Sprint(v) != "[[[]]]" {
		t.Fatalf("nested empty arrays: %v %v", v, err)
	}
}

type namedByte uint8

type namedByteUUID [16]namedByte

func (namedByteUUID) String() string { return "" }

// TestNamedByteElements: slices and arrays whose element type is a named
// byte type are bin (UUIDs: their string) both ways; they used to panic in
// reflect.Copy, which needs identical element types.
func TestNamedByteElements(t *testing.T) {
	t.Parallel()
	u := namedByteUUID{0x55, 0x0e, 0x84}
	uuidHex := "d924" + hex.EncodeToString([]byte("550e8400-0000-0000-0000-000000000000"))
	cases := []struct {
		name string
		v    any
		want string
		back any // pointer to a zero value of the same type
	}{
		{"array", [3]namedByte{1, 2, 3}, "c403010203", new([3]namedByte)},
		{"slice", []namedByte{1, 2}, "c4020102", new([]namedByte)},
		{"uuid", u, uuidHex, new(namedByteUUID)},
	}
	for _, c := range cases {
		b, err := codec.Marshal(c.v)
		if err != nil || hex.EncodeToString(b) != c.want {
			t.Errorf("%s: Marshal %x, %v; want %s", c.name, b, err, c.want)
			continue
		}
		if err := codec.Unmarshal(b, c.back); err != nil || !reflect.DeepEqual(reflect.ValueOf(c.back).Elem().Interface(), c.v) {
			t.Errorf("%s: Unmarshal %v, %v", c.name, reflect.ValueOf(c.back).Elem(), err)
		}
	}
	var fromBin namedByteUUID
	if err := codec.Unmarshal([]byte{0xc4, 16, 0x55, 0x0e, 0x84, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, &fromBin); err != nil || fromBin != u {
		t.Errorf("uuid from bin: %v %v", fromBin, err)
	}
}

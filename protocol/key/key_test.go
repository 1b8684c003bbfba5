package key_test

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/blake2b"

	"github.com/cachekit-go/cachekit/protocol/codec"
	"github.com/cachekit-go/cachekit/protocol/internal/msgpack"
	"github.com/cachekit-go/cachekit/protocol/interop"
	"github.com/cachekit-go/cachekit/protocol/key"
)

type cacheKeyVector struct {
	Name        string         `json:"name"`
	Namespace   *string        `json:"namespace"`
	Module      string         `json:"function_module"`
	Qualname    string         `json:"function_qualname"`
	Args        []any          `json:"args"`
	Kwargs      map[string]any `json:"kwargs"`
	Integrity   bool           `json:"integrity_checking"`
	ExpectedKey string         `json:"expected_key"`
}

func loadVectors(t *testing.T) []cacheKeyVector {
	t.Helper()
	path := filepath.Join("..", "..", "testdata", "vectors", "cache-keys.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("vectors are required: %v", err)
	}
	var doc struct {
		Vectors []cacheKeyVector `json:"vectors"`
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Vectors) != 10 {
		t.Fatalf("want 10 vectors, got %d", len(doc.Vectors))
	}
	return doc.Vectors
}

// fromJSON turns json.Number into int64 (or float64 when it has a fraction or
// exponent, as Python would have a float there) recursively.
func fromJSON(t *testing.T, v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil && !strings.ContainsAny(x.String(), ".eE") {
			return i
		}
		f, err := x.Float64()
		if err != nil {
			t.Fatal(err)
		}
		return f
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = fromJSON(t, e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = fromJSON(t, e)
		}
		return out
	}
	return v
}

func TestVectors(t *testing.T) {
	t.Parallel()
	for _, v := range loadVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			t.Parallel()
			ns := ""
			if v.Namespace != nil {
				ns = *v.Namespace
			}
			args := fromJSON(t, v.Args).([]any)
			kwargs := fromJSON(t, v.Kwargs).(map[string]any)
			got, err := key.Build(ns, v.Module+"."+v.Qualname, args, kwargs, v.Integrity)
			if err != nil {
				t.Fatal(err)
			}
			if got != v.ExpectedKey {
				t.Fatalf("key mismatch\n got %s\nwant %s", got, v.ExpectedKey)
			}
		})
	}
}

// The vector "multiple_args" has 3.0, which JSON decoding with UseNumber keeps
// as "3.0" -> float64; check that this really is the float path.
func TestFloatIsFloat64(t *testing.T) {
	t.Parallel()
	b, err := key.AppendPreimage(nil, []any{3.0, float32(1.5)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := "9292cb4008000000000000cb3ff800000000000080"
	if hex.EncodeToString(b) != want {
		t.Fatalf("got %x want %s", b, want)
	}
}

type point struct {
	Y    int    `msgpack:"y"`
	X    int    `msgpack:"x"`
	Skip string `msgpack:"-"`
	Note string `msgpack:"note,omitempty"`
}

type hidden struct {
	A int
	b int
}

var _ = hidden{b: 0} // b exists to be refused

type hiddenOK struct {
	A int
	b int `msgpack:"-"`
}

type myUUID [16]byte

func (u myUUID) String() string { return "not used" }

func TestNormalization(t *testing.T) {
	t.Parallel()
	ts := time.Date(2025, 11, 14, 10, 30, 0, 0, time.UTC)
	u := codec.UUID{0x55, 0x0e, 0x84, 0x00, 0xe2, 0x9b, 0x41, 0xd4, 0xa7, 0x16, 0x44, 0x66, 0x55, 0x44, 0x00, 0x00}
	n := 7
	var nilPtr *int
	cases := []struct {
		name string
		arg  any
		want string // hex of the single encoded argument
	}{
		{"neg zero", math.Copysign(0, -1), "cb0000000000000000"},
		{"nan", math.NaN(), "cb7ff8000000000000"},
		{"nan other bits", math.Float64frombits(0xfff8000000000001), "cb7ff8000000000000"},
		{"inf", math.Inf(1), "cb7ff0000000000000"},
		{"-inf", math.Inf(-1), "cbfff0000000000000"},
		{"float32", float32(0.5), "cb3fe0000000000000"},
		{"time utc", ts, hex.EncodeToString(append([]byte{0xb9}, "2025-11-14T10:30:00+00:00"...))},
		{"uuid", u, "d924" + hex.EncodeToString([]byte("550e8400-e29b-41d4-a716-446655440000"))},
		{"other uuid type", myUUID(u), "d924" + hex.EncodeToString([]byte("550e8400-e29b-41d4-a716-446655440000"))},
		{"struct sorted with tags", point{Y: 2, X: 1, Skip: "zz"}, "82a17801a17902"},
		{"struct omitempty present", point{Note: "n"}, "83a46e6f7465a16ea17800a17900"},
		{"hidden tagged dash", hiddenOK{A: 1, b: 2}, "81a14101"},
		{"pointer", &n, "07"},
		{"nil pointer", nilPtr, "c0"},
		{"nil set pointer", (*interop.Set)(nil), "c0"},
		{"nil slice", []int(nil), "c0"},
		{"typed slice", []int{1, 2}, "920102"},
		{"go map sorted", map[string]int{"b": 2, "a": 1}, "82a16101a16202"},
		{"bytes", []byte{1, 2}, "c4020102"},
		{"byte array", [2]byte{1, 2}, "c4020102"},
		{"nested any map", map[string]any{"z": []any{int8(-1)}, "a": nil}, "82a161c0a17a91ff"},
		{"bool", true, "c3"},
		{"uint64 max", uint64(math.MaxUint64), "cfffffffffffffffff"},
		{"int64 min", int64(math.MinInt64), "d38000000000000000"},
		// Python sorts a dict with int keys numerically and packs the keys as
		// integers: packb({-1: "c", 2: "b", 10: "a"}).
		{"int-keyed map", map[int]string{10: "a", 2: "b", -1: "c"}, "83ffa16302a1620aa161"},
		{"uint-keyed map", map[uint8]bool{200: true, 7: false}, "8207c2ccc8c3"},
		{"json tags", jsonTagged{Name: "n", Hash: "h", Zero: 0}, "81a46e616d65a16e"},
		{"cachekit tag wins", tagOrder{A: 1}, "81a16301"},
		{"date", codec.Date{Year: 2025, Month: 11, Day: 14}, hex.EncodeToString(append([]byte{0xaa}, "2025-11-14"...))},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b, err := key.AppendPreimage(nil, []any{c.arg}, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := hex.EncodeToString(b[2 : len(b)-1]) // strip 92 91 ... 80
			if got != c.want {
				t.Fatalf("got %s want %s", got, c.want)
			}
		})
	}
}

type jsonTagged struct {
	Name string `json:"name"`
	Hash string `json:"-"`
	Zero int    `json:"zero,omitempty"`
}

type tagOrder struct {
	A int `cachekit:"c" msgpack:"m" json:"j"`
}

func TestUnsupported(t *testing.T) {
	t.Parallel()
	type cyc struct{ Next *cyc }
	loop := &cyc{}
	loop.Next = loop
	self := []any{nil}
	self[0] = self
	cases := []struct {
		name string
		arg  any
		want error
	}{
		{"chan", make(chan int), key.ErrUnsupportedType},
		{"func", func() {}, key.ErrUnsupportedType},
		{"complex", complex(1, 2), key.ErrUnsupportedType},
		{"float map", map[float64]string{1: "a"}, key.ErrUnsupportedType},
		{"uintptr", uintptr(1), key.ErrUnsupportedType},
		{"unexported fields", hidden{A: 1}, key.ErrUnsupportedType},
		{"nested chan", map[string]any{"a": []any{make(chan int)}}, key.ErrUnsupportedType},
		{"cycle via pointer", loop, key.ErrTooDeep},
		{"cycle via slice", self, key.ErrTooDeep},
		{"year 0", time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), key.ErrTimeRange},
		{"set", interop.Set{1, 2}, key.ErrUnsupportedType},
		{"nested set", map[string]any{"s": []any{interop.Set{}}}, key.ErrUnsupportedType},
		{"pointer to set", &interop.Set{1}, key.ErrUnsupportedType},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := key.Build("ns", "f", []any{c.arg}, nil, true)
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
	if _, err := key.Build("ns", "f", nil, map[string]any{"k": make(chan int)}, true); !errors.Is(err, key.ErrUnsupportedType) {
		t.Fatalf("kwargs: got %v", err)
	}
}

func TestKwargsNilIsEmptyMap(t *testing.T) {
	t.Parallel()
	a, err := key.ArgsHash([]any{1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := key.ArgsHash([]any{1}, map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	if a != b || len(a) != 64 {
		t.Fatalf("%s != %s", a, b)
	}
	c, _ := key.ArgsHash([]any{1}, map[string]any{"x": 1})
	if c == a {
		t.Fatal("kwargs ignored")
	}
}

func TestSanitizeIdentity(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"__main__.get_user":       "__main__.get_user",
		"github.com/x/y.(*T).Get": "github.com_x_y.__T_.Get",
		"a..b...c":                "a.b.c",
		"a b-c":                   "a_b_c",
		"é.f":                     "_.f",
		"a/.b":                    "a_.b",
		strings.Repeat("a", 205):  strings.Repeat("a", 200),
		strings.Repeat("é", 205):  strings.Repeat("_", 200),
		"":                        "",
	}
	for in, want := range cases {
		if got := key.SanitizeIdentity(in); got != want {
			t.Errorf("SanitizeIdentity(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNamespaceWhitespace(t *testing.T) {
	t.Parallel()
	k, err := key.Build("my ns\r\nx", "f g", nil, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(k, "ns:my_ns__x:func:f_g:args:") || !strings.HasSuffix(k, ":0s") {
		t.Fatalf("got %s", k)
	}
}

func TestLongKeyTruncation(t *testing.T) {
	t.Parallel()
	for _, unit := range []string{"a", "é", "😀"} {
		t.Run(unit, func(t *testing.T) {
			t.Parallel()
			// ns:<ns>:func:f:args:<64>:1s -> fixed part is 3+1+5+1+6+64+3 = 83 code points
			fixed := utf8.RuneCountInString("ns::func:f:args:") + 64 + 3
			atLimit := strings.Repeat(unit, key.MaxKeyLen-fixed)
			k, err := key.Build(atLimit, "f", nil, nil, true)
			if err != nil {
				t.Fatal(err)
			}
			if utf8.RuneCountInString(k) != key.MaxKeyLen || !strings.HasPrefix(k, "ns:"+atLimit) {
				t.Fatalf("a key of exactly 250 code points must be kept: %d", utf8.RuneCountInString(k))
			}
			over := atLimit + unit
			k, err = key.Build(over, "f", nil, nil, true)
			if err != nil {
				t.Fatal(err)
			}
			h, _ := key.ArgsHash(nil, nil)
			full := "ns:" + over + ":func:f:args:" + h + ":1s"
			sum := blake2b.Sum256([]byte(full))
			want := string([]rune(full)[:50]) + ":" + hex.EncodeToString(sum[:])[:32]
			if k != want {
				t.Fatalf("got %s\nwant %s", k, want)
			}
			if utf8.RuneCountInString(k) != 83 {
				t.Fatalf("shortened key has %d code points", utf8.RuneCountInString(k))
			}
		})
	}
}

func TestDeepNestingLimit(t *testing.T) {
	t.Parallel()
	var v any = 1
	for range 300 {
		v = []any{v}
	}
	if _, err := key.ArgsHash([]any{v}, nil); !errors.Is(err, key.ErrTooDeep) {
		t.Fatalf("got %v", err)
	}
	v = 1
	for range 100 {
		v = []any{v}
	}
	if _, err := key.ArgsHash([]any{v}, nil); err != nil {
		t.Fatalf("100 levels must work: %v", err)
	}
}

func ExampleBuild() {
	k, err := key.Build("test", "__main__.get_user", []any{42}, nil, true)
	if err != nil {
		panic(err)
	}
	fmt.Println(k)
	// Output: ns:test:func:__main__.get_user:args:3870b2ea5735ae639ded9450ef117768db676f037bec636503796c5b81095153:1s
}

type benchArg struct {
	ID    int
	Name  string
	Admin bool
}

func BenchmarkBuildInt(b *testing.B) {
	b.ReportAllocs()
	args := []any{42}
	for b.Loop() {
		if _, err := key.Build("users", "github.com/acme/users.GetUser", args, nil, true); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBuildStruct(b *testing.B) {
	b.ReportAllocs()
	args := []any{benchArg{ID: 42, Name: "alice", Admin: true}}
	for b.Loop() {
		if _, err := key.Build("users", "github.com/acme/users.GetUser", args, nil, true); err != nil {
			b.Fatal(err)
		}
	}
}

func ExampleArgsHash() {
	// Python: get_user(42) -> msgpack([[42], {}]) = 92 91 2a 80
	h, err := key.ArgsHash([]any{42}, nil)
	if err != nil {
		panic(err)
	}
	fmt.Println(h)
	// Output: 3870b2ea5735ae639ded9450ef117768db676f037bec636503796c5b81095153
}

func ExampleBuild_unsupported() {
	_, err := key.Build("", "pkg.F", []any{make(chan int)}, nil, true)
	fmt.Println(errors.Is(err, key.ErrUnsupportedType))
	// Output: true
}

// TestPreimageRules pins the MessagePack rules of PROTOCOL.md section 1 one
// by one, through the Go types a caller passes (each type reaches the writer
// by its own path: fast type switch, reflection, named types).
func TestPreimageRules(t *testing.T) {
	t.Parallel()
	type myInt int16
	type myString string
	type inner struct {
		B int `msgpack:"b"`
		A any `msgpack:"a"`
	}
	negZero := math.Copysign(0, -1)
	cases := []struct {
		name string
		arg  any
		want string
	}{
		// integers: shortest form at every width boundary, whatever the Go type
		{"127", int64(127), "7f"}, {"128", uint8(128), "cc80"},
		{"255", uint8(255), "ccff"}, {"256", int16(256), "cd0100"},
		{"65535", uint16(65535), "cdffff"}, {"65536", int32(65536), "ce00010000"},
		{"2^32-1", uint32(math.MaxUint32), "ceffffffff"}, {"2^32", int64(1 << 32), "cf0000000100000000"},
		{"-32", int8(-32), "e0"}, {"-33", int8(-33), "d0df"},
		{"-128", int16(-128), "d080"}, {"-129", int16(-129), "d1ff7f"},
		{"-32768", int32(-32768), "d18000"}, {"-32769", int32(-32769), "d2ffff7fff"},
		{"-2^31", int64(math.MinInt32), "d280000000"}, {"-2^31-1", int64(math.MinInt32 - 1), "d3ffffffff7fffffff"},
		{"named int", myInt(-129), "d1ff7f"},
		// floats: always float64, never collapsed to an integer
		{"float 2.0", 2.0, "cb4000000000000000"},
		{"float 0.0", 0.0, "cb0000000000000000"},
		{"nested -0.0", []any{map[string]any{"z": negZero}}, "9181a17acb0000000000000000"},
		{"nested NaN", map[string]any{"n": math.Float64frombits(0xfff8000000000000)}, "81a16ecb7ff8000000000000"},
		{"float32 NaN", float32(math.NaN()), "cb7ff8000000000000"},
		// str versus bin
		{"empty str", "", "a0"}, {"named str", myString("a"), "a161"},
		{"empty bytes", []byte{}, "c400"}, {"str 32 bytes", strings.Repeat("x", 32), "d920" + strings.Repeat("78", 32)},
		// maps sorted at every level, by code point (U+FF61 before U+10000,
		// which a UTF-16 sort would reverse)
		{"code point order", map[string]int{"\U00010000": 1, "\uff61": 2}, "82a3efbda102a4f090808001"},
		{"sorted at every level", map[string]any{"z": map[string]any{"y": 1, "b": map[string]int{"d": 1, "c": 2}}, "a": 0},
			"82a16100a17a82a16282a16302a16401a17901"},
		{"struct inside map inside struct", inner{B: 1, A: map[string]any{"q": inner{B: 2}, "p": nil}},
			"82a16182a170c0a17182a161c0a16202a16201"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b, err := key.AppendPreimage(nil, []any{c.arg}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(b[2 : len(b)-1]); got != c.want {
				t.Fatalf("got %s want %s", got, c.want)
			}
		})
	}
	// The kwargs map is sorted like any other map.
	b, err := key.AppendPreimage(nil, nil, map[string]any{"b": 1, "a": 2, "B": 3})
	if err != nil || hex.EncodeToString(b) != "929083a14203a16102a16201" {
		t.Fatalf("kwargs: %x %v", b, err)
	}
}

// TestTimeInKeys: an aware datetime is Python's isoformat() of the time in its
// own zone, ".ffffff" only when the microseconds are not zero (nanoseconds
// below a microsecond are dropped, not rounded).
func TestTimeInKeys(t *testing.T) {
	t.Parallel()
	ist := time.FixedZone("IST", 5*3600+30*60)
	cases := []struct {
		t    time.Time
		want string
	}{
		{time.Date(2025, 11, 14, 10, 30, 0, 0, time.UTC), "2025-11-14T10:30:00+00:00"},
		{time.Date(2025, 11, 14, 10, 30, 0, 999, time.UTC), "2025-11-14T10:30:00+00:00"},
		{time.Date(2025, 11, 14, 10, 30, 0, 1000, time.UTC), "2025-11-14T10:30:00.000001+00:00"},
		{time.Date(2025, 11, 14, 10, 30, 0, 999999999, time.UTC), "2025-11-14T10:30:00.999999+00:00"},
		{time.Date(2025, 11, 14, 16, 0, 0, 0, ist), "2025-11-14T16:00:00+05:30"},
		{time.Date(2025, 11, 14, 2, 0, 0, 500000000, time.FixedZone("", -8*3600)), "2025-11-14T02:00:00.500000-08:00"},
		{time.Date(2025, 11, 14, 2, 0, 0, 0, time.FixedZone("", -(8*3600+30))), "2025-11-14T02:00:00-08:00:30"},
	}
	for _, c := range cases {
		b, err := key.AppendPreimage(nil, []any{c.t}, nil)
		if err != nil {
			t.Fatal(err)
		}
		want := "9291" + hex.EncodeToString(msgpack.AppendString(nil, c.want)) + "80"
		if got := hex.EncodeToString(b); got != want {
			t.Errorf("%v: got %s want %s (%s)", c.t, got, want, c.want)
		}
	}
	// The same instant in two zones gives two keys, as in Python.
	a, _ := key.ArgsHash([]any{time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}, nil)
	b, _ := key.ArgsHash([]any{time.Date(2025, 1, 1, 5, 30, 0, 0, ist)}, nil)
	if a == b {
		t.Fatal("zone ignored")
	}
}

// TestSanitizeOrder: replace, then collapse runs of dots, then truncate to 200
// (Python's order). Truncating first would give a different identity.
func TestSanitizeOrder(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, want string }{
		// collapse first: 198 a + "." + "bc" = 201 -> 198 a + ".b"; truncating
		// first would give 198 a + "." (199).
		{strings.Repeat("a", 198) + "....bc", strings.Repeat("a", 198) + ".b"},
		// replacement happens before the collapse: "<" becomes "_" and
		// separates the dots.
		{"a.<.b", "a._.b"},
		{"a..<..b", "a._.b"},
		{"outer.<locals>.inner", "outer._locals_.inner"},
		{"...", "."},
		{strings.Repeat(".", 500), "."},
		{strings.Repeat("ab.", 100), strings.Repeat("ab.", 66) + "ab"},
		{"a\u00e9\U0001F600b", "a__b"},
	}
	for _, c := range cases {
		if got := key.SanitizeIdentity(c.in); got != c.want {
			t.Errorf("SanitizeIdentity(%q) = %q, want %q", c.in, got, c.want)
		}
		if got := string(key.AppendSanitizedIdentity([]byte("x:"), c.in)); got != "x:"+c.want {
			t.Errorf("AppendSanitizedIdentity(%q) = %q", c.in, got)
		}
	}
}

// TestWhitespaceReplacedBeforeShortening: the space/CR/LF rule applies to the
// assembled key, and the shortening hash is taken over the replaced key.
func TestWhitespaceReplacedBeforeShortening(t *testing.T) {
	t.Parallel()
	ns := strings.Repeat("a b\r\n", 50) // 250 code points
	k, err := key.Build(ns, "pkg.F", nil, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := key.ArgsHash(nil, nil)
	replaced := "ns:" + strings.Repeat("a_b__", 50) + ":func:pkg.F:args:" + h + ":1s"
	sum := blake2b.Sum256([]byte(replaced))
	want := replaced[:50] + ":" + hex.EncodeToString(sum[:16])
	if k != want {
		t.Fatalf("got  %s\nwant %s", k, want)
	}
}

type keyByte uint8

func TestNamedByteArrayArg(t *testing.T) {
	t.Parallel()
	b, err := key.AppendPreimage(nil, []any{[2]keyByte{1, 2}, []keyByte{3}}, nil)
	if err != nil || hex.EncodeToString(b) != "9292c4020102c4010380" {
		t.Fatalf("%x %v", b, err)
	}
}

// TestSanitizeMatchesRegexp compares AppendSanitizedIdentity (whose ASCII
// fast path and general path must agree) with Python's rule written as
// regular expressions, on random strings around the 200-character cut.
func TestSanitizeMatchesRegexp(t *testing.T) {
	t.Parallel()
	bad := regexp.MustCompile(`[^A-Za-z0-9_.]`)
	dots := regexp.MustCompile(`\.+`)
	alphabet := []string{"a", "Z", "0", "_", ".", ".", "/", "(", "*", " ", "é", "\U0001F600"}
	rnd := rand.New(rand.NewPCG(5, 5))
	for range 3000 {
		var sb strings.Builder
		for range rnd.IntN(260) {
			sb.WriteString(alphabet[rnd.IntN(len(alphabet))])
		}
		in := sb.String()
		want := dots.ReplaceAllString(bad.ReplaceAllString(in, "_"), ".")
		if len(want) > key.MaxIdentityLen {
			want = want[:key.MaxIdentityLen]
		}
		if got := string(key.AppendSanitizedIdentity([]byte("p:"), in)); got != "p:"+want {
			t.Fatalf("AppendSanitizedIdentity(%q) = %q, want %q", in, got, "p:"+want)
		}
	}
}

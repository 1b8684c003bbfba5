package taggedjson_test

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/internal/taggedjson"
	"github.com/cachekit-go/cachekit/protocol/codec"
	"github.com/cachekit-go/cachekit/protocol/interop"
)

func TestParse(t *testing.T) {
	t.Parallel()
	u, _ := codec.ParseUUID("550e8400-e29b-41d4-a716-446655440000")
	huge, _ := new(big.Int).SetString("18446744073709551616", 10)
	cases := []struct {
		in   string
		want any
	}{
		{`42`, int64(42)},
		{`-9223372036854775808`, int64(math.MinInt64)},
		{`18446744073709551615`, uint64(math.MaxUint64)},
		{`18446744073709551616`, huge},
		{`1.5`, 1.5},
		{`1e2`, 100.0},
		{`null`, nil},
		{`"s"`, "s"},
		{`[true, {"a": 1}]`, []any{true, map[string]any{"a": int64(1)}}},
		{`{"$bytes": "DEADbeef"}`, []byte{0xde, 0xad, 0xbe, 0xef}},
		{`{"$uuid": "550E8400-E29B-41D4-A716-446655440000"}`, u},
		{`{"$float": "2.0"}`, 2.0},
		{`{"$int": "-9223372036854775809"}`, new(big.Int).Sub(big.NewInt(math.MinInt64), big.NewInt(1))},
		{`{"$int": "9223372036854775808"}`, uint64(1 << 63)},
		{`{"$set": [1, {"$float": "1.5"}]}`, interop.Set{int64(1), 1.5}},
		{`{"$other": 1}`, map[string]any{"$other": int64(1)}},
		{`{"$float": "1", "x": 2}`, map[string]any{"$float": "1", "x": int64(2)}},
		{`{"$datetime": "2024-01-01T18:00:45.123456+05:30"}`, time.Date(2024, 1, 1, 18, 0, 45, 123456000, time.FixedZone("", 19800))},
		{`{"$date": "2024-02-29"}`, codec.Date{Year: 2024, Month: 2, Day: 29}},
		{`{"$time": "10:30:00.5+02:00"}`, codec.TimeOfDay{Hour: 10, Minute: 30, Microsecond: 500000, HasOffset: true, OffsetSeconds: 7200}},
		{`{"$time": "23:59"}`, codec.TimeOfDay{Hour: 23, Minute: 59}},
	}
	for _, c := range cases {
		got, err := taggedjson.Parse([]byte(c.in))
		if err != nil {
			t.Errorf("%s: %v", c.in, err)
			continue
		}
		if tm, ok := c.want.(time.Time); ok {
			if g, ok := got.(time.Time); !ok || !g.Equal(tm) {
				t.Errorf("%s: got %v", c.in, got)
			}
			continue
		}
		if b, ok := c.want.(*big.Int); ok {
			if g, ok := got.(*big.Int); !ok || g.Cmp(b) != 0 {
				t.Errorf("%s: got %#v", c.in, got)
			}
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: got %#v want %#v", c.in, got, c.want)
		}
	}
	for in, f := range map[string]func(float64) bool{
		`{"$float": "nan"}`:    math.IsNaN,
		`{"$float": "1e999"}`:  func(f float64) bool { return math.IsInf(f, 1) },
		`{"$float": "-1e999"}`: func(f float64) bool { return math.IsInf(f, -1) },
		`{"$float": "-0.0"}`:   func(f float64) bool { return f == 0 && math.Signbit(f) },
	} {
		got, err := taggedjson.Parse([]byte(in))
		if x, ok := got.(float64); err != nil || !ok || !f(x) {
			t.Errorf("%s: %v %v", in, got, err)
		}
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	cases := map[string]error{
		``:                                     taggedjson.ErrSyntax,
		`{`:                                    taggedjson.ErrSyntax,
		`1 2`:                                  taggedjson.ErrSyntax,
		`{"$bytes": "zz"}`:                     taggedjson.ErrBadTag,
		`{"$bytes": 1}`:                        taggedjson.ErrBadTag,
		`{"$float": "x"}`:                      taggedjson.ErrBadTag,
		`{"$int": "1.5"}`:                      taggedjson.ErrBadTag,
		`{"$int": "abc"}`:                      taggedjson.ErrBadTag,
		`{"$uuid": "nope"}`:                    taggedjson.ErrBadTag,
		`{"$set": 1}`:                          taggedjson.ErrBadTag,
		`{"$datetime": "2024-01-01T00:00:00"}`: taggedjson.ErrNaiveDatetime,
		`{"$datetime": "2024-01-01"}`:          taggedjson.ErrBadTag,
		`{"$date": "2023-02-29"}`:              taggedjson.ErrBadTag,
		`{"$time": "24:00:00"}`:                taggedjson.ErrBadTag,
		`[{"$set": [{"$bytes": "q"}]}]`:        taggedjson.ErrBadTag,
	}
	for in, want := range cases {
		if _, err := taggedjson.Parse([]byte(in)); !errors.Is(err, want) {
			t.Errorf("%q: got %v want %v", in, err, want)
		}
	}
}

func TestFormat(t *testing.T) {
	t.Parallel()
	v := map[string]any{
		"z":    []any{int64(1), uint64(1 << 60), int64(-1 << 60), 2.0, math.NaN(), math.Inf(-1), nil, true},
		"b":    []byte{1, 2},
		"t":    time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		"u":    codec.UUID{1},
		"s":    interop.Set{"a"},
		"<&>":  "x\"y",
		"f":    0.1,
		"big":  new(big.Int).Lsh(big.NewInt(1), 70),
		"i53":  int64(1 << 53),
		"f32":  float32(0.5),
		"tiny": 5e-324,
		"d":    codec.Date{Year: 2025, Month: 11, Day: 14},
		"tod":  codec.TimeOfDay{Hour: 9, Second: 1, Microsecond: 20},
	}
	got, err := taggedjson.Format(v)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"<&>": "x\"y", "b": {"$bytes": "0102"}, "big": {"$int": "1180591620717411303424"}, "d": {"$date": "2025-11-14"}, "f": {"$float": "0.1"}, ` +
		`"f32": {"$float": "0.5"}, "i53": 9007199254740992, "s": {"$set": ["a"]}, "t": {"$datetime": "2024-01-01T00:00:00+00:00"}, ` +
		`"tiny": {"$float": "5e-324"}, "tod": {"$time": "09:00:01.000020"}, "u": {"$uuid": "01000000-0000-0000-0000-000000000000"}, ` +
		`"z": [1, {"$int": "1152921504606846976"}, {"$int": "-1152921504606846976"}, {"$float": "2.0"}, {"$float": "nan"}, {"$float": "-1e999"}, null, true]}`
	if string(got) != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	back, err := taggedjson.Parse(got)
	if err != nil {
		t.Fatal(err)
	}
	again, err := taggedjson.Format(back)
	if err != nil || string(again) != string(got) {
		t.Fatalf("Format(Parse(Format(v))) differs:\n%s\n%s (%v)", again, got, err)
	}
	for _, bad := range []any{map[string]any{"$bytes": "x"}, make(chan int), "\xff", time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), codec.Date{}} {
		if _, err := taggedjson.Format(bad); err == nil {
			t.Errorf("Format(%T) accepted", bad)
		}
	}
}

func TestFormatFloatRoundTrips(t *testing.T) {
	t.Parallel()
	for _, f := range []float64{0, 1, -1.5, 0.1, 1e21, 1e-7, math.MaxFloat64, math.SmallestNonzeroFloat64, 123456789012345678} {
		s := taggedjson.FormatFloat(f)
		got, err := taggedjson.Parse([]byte(`{"$float": "` + s + `"}`))
		if err != nil || got.(float64) != f {
			t.Errorf("%v -> %s -> %v (%v)", f, s, got, err)
		}
	}
}

func ExampleParse() {
	v, err := taggedjson.Parse([]byte(`[42, {"$float": "2.0"}, {"$bytes": "ff"}]`))
	if err != nil {
		panic(err)
	}
	out, _ := taggedjson.Format(v)
	fmt.Println(string(out))
	// Output: [42, {"$float": "2.0"}, {"$bytes": "ff"}]
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{`[42, {"$float": "2.0"}]`, `{"$set": [{"$set": []}]}`, `{"$int": "99999999999999999999999"}`,
		`{"$datetime": "2024-01-01T00:00:00+05:30"}`, `{"$uuid": "x"}`, `[[[[[[[[[[[]]]]]]]]]]]`, `{"$float": "nan"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := taggedjson.Parse(data)
		if err != nil {
			return
		}
		out, err := taggedjson.Format(v)
		if err != nil {
			return // e.g. a map that looks like a tag, or a big.Int
		}
		v2, err := taggedjson.Parse(out)
		if err != nil {
			t.Fatalf("Parse(Format(v)) failed: %v\n%s", err, out)
		}
		out2, err := taggedjson.Format(v2)
		if err != nil || string(out2) != string(out) {
			t.Fatalf("not stable:\n%s\n%s", out, out2)
		}
	})
}

func ExampleFormat() {
	out, err := taggedjson.Format(map[string]any{"id": uint64(1) << 60, "score": 1.0, "raw": []byte{0xca, 0xfe}})
	if err != nil {
		panic(err)
	}
	fmt.Println(string(out))
	// Output: {"id": {"$int": "1152921504606846976"}, "raw": {"$bytes": "cafe"}, "score": {"$float": "1.0"}}
}

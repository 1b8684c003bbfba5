package codec_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/protocol/codec"
)

// These tests pin the Python <-> Go type mapping documented in
// docs/python.md: Python values, as cachekit-py's StandardSerializer writes
// them (the public value vectors, and msgpack.packb(use_bin_type=True) output
// written out by hand), decoded into the typed Go results a service declares;
// and typed Go values encoded into the bytes Python's packb gives for the
// matching Python value.

func valueVectors(t *testing.T) map[string][]byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "testdata", "vectors", "interop-mode.json"))
	if err != nil {
		t.Fatalf("test vectors missing: %v", err)
	}
	var f struct {
		Values []struct {
			Name string `json:"name"`
			Hex  string `json:"canonical_msgpack_hex"`
		} `json:"value_vectors"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	m := map[string][]byte{}
	for _, v := range f.Values {
		b, err := hex.DecodeString(v.Hex)
		if err != nil {
			t.Fatal(err)
		}
		m[v.Name] = b
	}
	if len(m) != 4 {
		t.Fatalf("%d value vectors, want 4", len(m))
	}
	return m
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type vecUser struct {
	Name string `msgpack:"name"`
	Age  int64  `msgpack:"age"`
}

func TestPythonValueVectorsIntoTypedGo(t *testing.T) {
	t.Parallel()
	vv := valueVectors(t)

	// dict -> struct with msgpack tags.
	var u vecUser
	if err := codec.Unmarshal(vv["issue_example_object"], &u); err != nil || u != (vecUser{"alice", 30}) {
		t.Fatalf("dict into struct: %+v, %v", u, err)
	}
	// dict -> map[string]T.
	var m map[string]any
	if err := codec.Unmarshal(vv["issue_example_object"], &m); err != nil || m["age"] != int64(30) || m["name"] != "alice" {
		t.Fatalf("dict into map: %#v, %v", m, err)
	}
	// float -> float64; never into an integer, even when integral.
	var f float64
	if err := codec.Unmarshal(vv["float_value_stays_float64"], &f); err != nil || f != 2.0 {
		t.Fatalf("float: %v, %v", f, err)
	}
	var n int64
	if err := codec.Unmarshal(vv["float_value_stays_float64"], &n); !errors.Is(err, codec.ErrTypeMismatch) {
		t.Fatalf("float into int64: %v, want ErrTypeMismatch", err)
	}
	// list of mixed scalars -> []any with Go's natural types.
	var arr []any
	if err := codec.Unmarshal(vv["mixed_array"], &arr); err != nil ||
		!reflect.DeepEqual(arr, []any{int64(1), "two", 3.5, nil, true}) {
		t.Fatalf("mixed list: %#v, %v", arr, err)
	}
	// UTC datetime sentinel -> time.Time (same instant, fixed UTC offset).
	var ts time.Time
	if err := codec.Unmarshal(vv["datetime_sentinel_value"], &ts); err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2024, 1, 1, 12, 30, 45, 123456000, time.UTC); !ts.Equal(want) {
		t.Fatalf("datetime: %v, want %v", ts, want)
	}
	if _, off := ts.Zone(); off != 0 {
		t.Fatalf("datetime offset %d", off)
	}
}

// Python values as msgpack.packb(value, use_bin_type=True) writes them.
func TestPythonScalarsIntoTypedGo(t *testing.T) {
	t.Parallel()
	type target struct {
		IDs   []int64           `msgpack:"ids"`
		Big   uint64            `msgpack:"big"`
		Neg   int64             `msgpack:"neg"`
		Ratio float64           `msgpack:"ratio"`
		Blob  []byte            `msgpack:"blob"`
		Tags  map[string]string `msgpack:"tags"`
		Maybe *string           `msgpack:"maybe"`
	}
	// {"ids": [1, 2, 3], "big": 2**64-1, "neg": -2**63, "ratio": 0.5,
	//  "blob": b"\x00\x01", "tags": {"a": "b"}, "maybe": None}
	py := unhex(t, "87"+
		"a3696473"+"93010203"+
		"a3626967"+"cfffffffffffffffff"+
		"a36e6567"+"d38000000000000000"+
		"a5726174696f"+"cb3fe0000000000000"+
		"a4626c6f62"+"c4020001"+
		"a474616773"+"81a161a162"+
		"a56d61796265"+"c0")
	var got target
	if err := codec.Unmarshal(py, &got); err != nil {
		t.Fatal(err)
	}
	want := target{IDs: []int64{1, 2, 3}, Big: math.MaxUint64, Neg: math.MinInt64, Ratio: 0.5,
		Blob: []byte{0, 1}, Tags: map[string]string{"a": "b"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	// 2**64-1 does not fit an int64: an error, never a wrapped value.
	var small struct {
		Big int64 `msgpack:"big"`
	}
	if err := codec.Unmarshal(py, &small); !errors.Is(err, codec.ErrOverflow) {
		t.Fatalf("uint64 max into int64: %v, want ErrOverflow", err)
	}
	// Untyped: ints are int64, uint64 only above MaxInt64.
	v, err := codec.Decode(py)
	if err != nil {
		t.Fatal(err)
	}
	mv := v.(map[string]any)
	if mv["big"] != uint64(math.MaxUint64) || mv["neg"] != int64(math.MinInt64) || !bytes.Equal(mv["blob"].([]byte), []byte{0, 1}) {
		t.Fatalf("generic decode %#v", mv)
	}
}

// Go values encode to the bytes Python's packb writes for the matching Python
// value (struct fields in declaration order, as a dict literal in that order).
func TestTypedGoIntoPythonBytes(t *testing.T) {
	t.Parallel()
	type out struct {
		Name  string    `msgpack:"name"`
		Age   uint8     `msgpack:"age"`
		Score float32   `msgpack:"score"`
		Raw   []byte    `msgpack:"raw"`
		When  time.Time `msgpack:"when"`
		Tags  []string  `msgpack:"tags"`
		Skip  string    `msgpack:"-"`
	}
	v := out{Name: "alice", Age: 30, Score: 1.5, Raw: []byte{0xff},
		When: time.Date(2025, 11, 14, 10, 30, 0, 0, time.UTC), Tags: []string{"x"}, Skip: "never stored"}
	got, err := codec.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	// {"name": "alice", "age": 30, "score": 1.5, "raw": b"\xff",
	//  "when": {"__datetime__": True, "value": "2025-11-14T10:30:00+00:00"},
	//  "tags": ["x"]}
	want := unhex(t, "86"+
		"a46e616d65"+"a5616c696365"+
		"a3616765"+"1e"+
		"a573636f7265"+"cb3ff8000000000000"+
		"a3726177"+"c401ff"+
		"a47768656e"+"82ac5f5f6461746574696d655f5fc3a576616c7565"+
		"b9"+hex.EncodeToString([]byte("2025-11-14T10:30:00+00:00"))+
		"a474616773"+"91a178")
	if !bytes.Equal(got, want) {
		t.Fatalf("Go wrote\n% x\nPython writes\n% x", got, want)
	}
}

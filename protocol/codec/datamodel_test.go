package codec_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/protocol/codec"
)

type account struct {
	ID           int64  `json:"id"`
	Email        string `json:"email,omitempty"`
	PasswordHash string `json:"-"`
	Internal     string `json:"internal" msgpack:"-"`
	Label        string `json:"j" msgpack:"m" cachekit:"c"`
	Dash         string `json:"-,"` //lint:ignore SA5008 json's own spelling of a field named "-", tested on purpose
}

func TestJSONTagsGovernFields(t *testing.T) {
	t.Parallel()
	in := account{ID: 7, PasswordHash: "secret-hash", Internal: "x", Label: "l", Dash: "d"}
	b, err := codec.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("secret-hash")) || bytes.Contains(b, []byte("PasswordHash")) {
		t.Fatalf("json:\"-\" field written: %x", b)
	}
	got, err := codec.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"id": int64(7), "c": "l", "-": "d"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v want %#v", got, want)
	}
	var back account
	if err := codec.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back != (account{ID: 7, Label: "l", Dash: "d"}) {
		t.Fatalf("round trip %+v", back)
	}
}

func TestIntKeyedMaps(t *testing.T) {
	t.Parallel()
	in := map[int]string{10: "a", 2: "b", -1: "c"}
	b, err := codec.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	// Keys as decimal strings (Python's strict_map_key reader loads them),
	// sorted numerically.
	if got, want := hex.EncodeToString(b), "83a22d31a163a132a162a23130a161"; got != want {
		t.Fatalf("bytes %s want %s", got, want)
	}
	var back map[int]string
	if err := codec.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, in) {
		t.Fatalf("round trip %v, %v", back, err)
	}
	// What Python's packb writes for {-1: "c", 2: "b", 10: "a"} (integer keys).
	var py map[int64]string
	if err := codec.Unmarshal(mustHex(t, "83ffa16302a1620aa161"), &py); err != nil ||
		!reflect.DeepEqual(py, map[int64]string{-1: "c", 2: "b", 10: "a"}) {
		t.Fatalf("python int keys: %v, %v", py, err)
	}
	var u8 map[uint8]int
	if err := codec.Unmarshal(mustHex(t, "81a3323536"+"01"), &u8); !errors.Is(err, codec.ErrTypeMismatch) {
		t.Fatalf("key 256 into uint8: %v", err)
	}
	if err := codec.Unmarshal(mustHex(t, "81cd010001"), &u8); !errors.Is(err, codec.ErrOverflow) {
		t.Fatalf("int key 256 into uint8: %v", err)
	}
	nested := map[string]map[uint64][]int{"a": {1 << 63: {1}, 0: nil}}
	if b, err = codec.Marshal(nested); err != nil {
		t.Fatal(err)
	}
	var nb map[string]map[uint64][]int
	if err := codec.Unmarshal(b, &nb); err != nil || !reflect.DeepEqual(nb, nested) {
		t.Fatalf("nested %v, %v", nb, err)
	}
}

func TestCivilTypes(t *testing.T) {
	t.Parallel()
	d := codec.Date{Year: 2025, Month: time.November, Day: 14}
	tod := codec.TimeOfDay{Hour: 10, Minute: 30, Second: 5, Microsecond: 120, HasOffset: true, OffsetSeconds: -5 * 3600}
	cases := []struct {
		v    any
		want string
	}{
		{d, "82a85f5f646174655f5fc3a576616c7565aa323032352d31312d3134"},
		{codec.TimeOfDay{Hour: 10, Minute: 30}, "82a85f5f74696d655f5fc3a576616c7565a831303a33303a3030"},
	}
	for _, c := range cases {
		b, err := codec.Marshal(c.v)
		if err != nil || hex.EncodeToString(b) != c.want {
			t.Errorf("%v: %x, %v want %s", c.v, b, err, c.want)
		}
	}
	type rec struct {
		D  codec.Date        `json:"d"`
		T  codec.TimeOfDay   `json:"t"`
		DP *codec.Date       `json:"dp"`
		TS []codec.TimeOfDay `json:"ts"`
	}
	in := rec{D: d, T: tod, DP: &d, TS: []codec.TimeOfDay{{Hour: 23, Minute: 59, Second: 59, Microsecond: 999999}}}
	b, err := codec.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var back rec
	if err := codec.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, in) {
		t.Fatalf("round trip %+v, %v", back, err)
	}
	got, err := codec.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if m := got.(map[string]any); m["d"] != d || m["t"] != tod {
		t.Fatalf("Decode: %#v", m)
	}
	if _, err := codec.Marshal(codec.Date{Year: 2025, Month: 2, Day: 30}); !errors.Is(err, codec.ErrTimeRange) {
		t.Fatalf("Feb 30: %v", err)
	}
	if _, err := codec.Marshal(codec.TimeOfDay{Hour: 24}); !errors.Is(err, codec.ErrTimeRange) {
		t.Fatalf("hour 24: %v", err)
	}
	// A Python date decoded where Go declares a time.Time: midnight UTC.
	var tm time.Time
	if err := codec.Unmarshal(mustHex(t, cases[0].want), &tm); err != nil || !tm.Equal(d.In(time.UTC)) {
		t.Fatalf("date into time.Time: %v, %v", tm, err)
	}
}

func TestStoredNilIsNoValueOfNonNilableTypes(t *testing.T) {
	t.Parallel()
	nilDoc := []byte{0xc0}
	var s string
	var n int
	var st account
	var tm time.Time
	for _, target := range []any{&s, &n, &st, &tm} {
		if err := codec.Unmarshal(nilDoc, target); !errors.Is(err, codec.ErrTypeMismatch) {
			t.Errorf("nil into %T: %v", target, err)
		}
	}
	var p *account
	var sl []int
	var m map[string]int
	var a any
	for _, target := range []any{&p, &sl, &m, &a} {
		if err := codec.Unmarshal(nilDoc, target); err != nil {
			t.Errorf("nil into %T: %v", target, err)
		}
	}
	// Inside a document nil still sets the zero value (Python's None in an
	// Optional field).
	var st2 struct{ A string }
	if err := codec.Unmarshal(mustHex(t, "81a141c0"), &st2); err != nil || st2.A != "" {
		t.Fatalf("nested nil: %+v %v", st2, err)
	}
}

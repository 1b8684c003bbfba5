package msgpack_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/cachekit-go/cachekit/protocol/internal/msgpack"
)

func TestAppendShortestForms(t *testing.T) {
	t.Parallel()
	ints := []struct {
		v    int64
		want string
	}{
		{0, "00"}, {127, "7f"}, {128, "cc80"}, {255, "ccff"}, {256, "cd0100"}, {65535, "cdffff"},
		{65536, "ce00010000"}, {math.MaxUint32, "ceffffffff"}, {math.MaxUint32 + 1, "cf0000000100000000"},
		{math.MaxInt64, "cf7fffffffffffffff"},
		{-1, "ff"}, {-32, "e0"}, {-33, "d0df"}, {-128, "d080"}, {-129, "d1ff7f"}, {-32768, "d18000"},
		{-32769, "d2ffff7fff"}, {math.MinInt32, "d280000000"}, {math.MinInt32 - 1, "d3ffffffff7fffffff"},
		{math.MinInt64, "d38000000000000000"},
	}
	for _, c := range ints {
		if got := hex.EncodeToString(msgpack.AppendInt(nil, c.v)); got != c.want {
			t.Errorf("AppendInt(%d) = %s want %s", c.v, got, c.want)
		}
		r := msgpack.NewReader(msgpack.AppendInt(nil, c.v))
		if v, err := r.ReadInt(); err != nil || v != c.v || r.Remaining() != 0 {
			t.Errorf("ReadInt(%d) = %d, %v", c.v, v, err)
		}
	}
	if got := hex.EncodeToString(msgpack.AppendUint(nil, math.MaxUint64)); got != "cfffffffffffffffff" {
		t.Errorf("AppendUint max = %s", got)
	}
	lens := []struct {
		n                   int
		str, bin, arr, mapp string
	}{
		{0, "a0", "c400", "90", "80"},
		{15, "af", "c40f", "9f", "8f"},
		{16, "b0", "c410", "dc0010", "de0010"},
		{31, "bf", "c41f", "dc001f", "de001f"},
		{32, "d920", "c420", "dc0020", "de0020"},
		{255, "d9ff", "c4ff", "dc00ff", "de00ff"},
		{256, "da0100", "c50100", "dc0100", "de0100"},
		{65535, "daffff", "c5ffff", "dcffff", "deffff"},
		{65536, "db00010000", "c600010000", "dd00010000", "df00010000"},
	}
	for _, c := range lens {
		s := strings.Repeat("x", c.n)
		check := func(name string, b []byte, want string, payload int) {
			t.Helper()
			if got := hex.EncodeToString(b[:len(b)-payload]); got != want {
				t.Errorf("%s(%d) header = %s want %s", name, c.n, got, want)
			}
		}
		check("AppendString", msgpack.AppendString(nil, s), c.str, c.n)
		check("AppendStringBytes", msgpack.AppendStringBytes(nil, []byte(s)), c.str, c.n)
		check("AppendBytes", msgpack.AppendBytes(nil, []byte(s)), c.bin, c.n)
		check("AppendArrayHeader", msgpack.AppendArrayHeader(nil, c.n), c.arr, 0)
		check("AppendMapHeader", msgpack.AppendMapHeader(nil, c.n), c.mapp, 0)
	}
	if got := hex.EncodeToString(msgpack.AppendFloat64(nil, 3)); got != "cb4008000000000000" {
		t.Errorf("AppendFloat64(3) = %s", got)
	}
	if got := hex.EncodeToString(msgpack.AppendBool(msgpack.AppendNil(nil), true)); got != "c0c3" {
		t.Errorf("nil/bool = %s", got)
	}
}

func TestReaderTokens(t *testing.T) {
	t.Parallel()
	var b []byte
	b = msgpack.AppendArrayHeader(b, 9)
	b = msgpack.AppendNil(b)
	b = msgpack.AppendBool(b, false)
	b = msgpack.AppendUint(b, math.MaxUint64)
	b = msgpack.AppendInt(b, -200)
	b = msgpack.AppendFloat64(b, 1.25)
	b = append(b, 0xca, 0x3f, 0xc0, 0, 0) // float32 1.5
	b = msgpack.AppendString(b, "héllo")
	b = msgpack.AppendBytes(b, []byte{1, 2, 3})
	b = append(b, 0xd5, 0x07, 0xaa, 0xbb) // fixext2 type 7
	r := msgpack.NewReader(b)
	if n, err := r.ReadArrayHeader(); err != nil || n != 9 {
		t.Fatalf("array header %d %v", n, err)
	}
	if err := r.ReadNil(); err != nil {
		t.Fatal(err)
	}
	if v, err := r.ReadBool(); err != nil || v {
		t.Fatal(v, err)
	}
	if _, err := r.ReadInt(); err == nil {
		t.Fatal("ReadInt accepted MaxUint64")
	}
	if v, err := r.ReadUint(); err != nil || v != math.MaxUint64 {
		t.Fatal(v, err)
	}
	if _, err := r.ReadUint(); err == nil {
		t.Fatal("ReadUint accepted a negative")
	}
	if v, err := r.ReadInt(); err != nil || v != -200 {
		t.Fatal(v, err)
	}
	if v, err := r.ReadFloat(); err != nil || v != 1.25 {
		t.Fatal(v, err)
	}
	tok, err := r.Next()
	if err != nil || tok.Type != msgpack.TypeFloat || !tok.Float32 || tok.Float != 1.5 {
		t.Fatalf("%+v %v", tok, err)
	}
	var te *msgpack.TypeError
	if _, err := r.ReadBinary(); !errors.As(err, &te) || te.Want != msgpack.TypeBin || te.Got != msgpack.TypeStr {
		t.Fatalf("type error: %v", err)
	}
	if s, err := r.ReadString(); err != nil || string(s) != "héllo" {
		t.Fatal(string(s), err)
	}
	if p, err := r.ReadBinary(); err != nil || !bytes.Equal(p, []byte{1, 2, 3}) {
		t.Fatal(p, err)
	}
	if typ, _ := r.PeekType(); typ != msgpack.TypeExt || typ.String() != "ext" {
		t.Fatal(typ)
	}
	tok, err = r.Next()
	if err != nil || tok.ExtType != 7 || !bytes.Equal(tok.Bytes, []byte{0xaa, 0xbb}) {
		t.Fatalf("%+v %v", tok, err)
	}
	if r.Remaining() != 0 || r.Offset() != len(b) {
		t.Fatal("not at end")
	}
	if _, err := r.PeekType(); !errors.Is(err, msgpack.ErrTruncated) {
		t.Fatal(err)
	}
}

func TestReaderHostile(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		hex  string
		want error
	}{
		{"empty", "", msgpack.ErrTruncated},
		{"c1", "c1", msgpack.ErrInvalid},
		{"truncated uint16", "cd01", msgpack.ErrTruncated},
		{"truncated float64", "cb400800", msgpack.ErrTruncated},
		{"truncated str8", "d905616263", msgpack.ErrTruncated},
		{"truncated str32", "db0000ffff6161", msgpack.ErrTruncated},
		{"str32 4GiB", "dbffffffff", msgpack.ErrTruncated},
		{"bin32 4GiB", "c6ffffffff", msgpack.ErrTruncated},
		{"huge array32", "ddffffffff", msgpack.ErrTruncated},
		{"huge map32", "dfffffffff00", msgpack.ErrTruncated},
		{"array16 short", "dc0003c0c0", msgpack.ErrTruncated},
		{"map needs two bytes per pair", "82c0c0c0", msgpack.ErrTruncated},
		{"ext32 huge", "c9ffffffff01", msgpack.ErrTruncated},
		{"ext missing type", "c701", msgpack.ErrTruncated},
		{"fixext16 short", "d801aabb", msgpack.ErrTruncated},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b, _ := hex.DecodeString(c.hex)
			if _, err := msgpack.NewReader(b).Next(); !errors.Is(err, c.want) {
				t.Errorf("Next: got %v want %v", err, c.want)
			}
			if err := msgpack.NewReader(b).Skip(); err == nil {
				t.Errorf("Skip accepted")
			}
		})
	}
}

func TestSkip(t *testing.T) {
	t.Parallel()
	var b []byte
	b = msgpack.AppendMapHeader(b, 2)
	b = msgpack.AppendString(b, "a")
	b = msgpack.AppendArrayHeader(b, 3)
	b = msgpack.AppendInt(b, -5)
	b = msgpack.AppendArrayHeader(b, 0)
	b = msgpack.AppendMapHeader(b, 1)
	b = msgpack.AppendString(b, "x")
	b = msgpack.AppendNil(b)
	b = msgpack.AppendString(b, "b")
	b = msgpack.AppendBytes(b, []byte{1})
	b = msgpack.AppendBool(b, true) // next value
	r := msgpack.NewReader(b)
	if err := r.Skip(); err != nil {
		t.Fatal(err)
	}
	if v, err := r.ReadBool(); err != nil || !v || r.Remaining() != 0 {
		t.Fatalf("Skip stopped at the wrong place: %v %v", v, err)
	}

	deep := append(bytes.Repeat([]byte{0x91}, msgpack.MaxDepth+1), 0xc0)
	if err := msgpack.NewReader(deep).Skip(); !errors.Is(err, msgpack.ErrTooDeep) {
		t.Fatalf("deep: %v", err)
	}
	ok := append(bytes.Repeat([]byte{0x91}, msgpack.MaxDepth), 0xc0)
	if err := msgpack.NewReader(ok).Skip(); err != nil {
		t.Fatalf("MaxDepth levels must be accepted: %v", err)
	}
	// Wide but flat input does not count as depth.
	wide := append(msgpack.AppendArrayHeader(nil, 10000), bytes.Repeat([]byte{0x90}, 10000)...)
	if err := msgpack.NewReader(wide).Skip(); err != nil {
		t.Fatalf("wide: %v", err)
	}
}

func TestTypeString(t *testing.T) {
	t.Parallel()
	if msgpack.TypeMap.String() != "map" || msgpack.Type(200).String() != "type(200)" {
		t.Fatal(msgpack.TypeMap.String(), msgpack.Type(200).String())
	}
}

// FuzzMsgpackReader: Next, Skip and the typed readers never panic, never read
// past the input, and Skip consumes exactly one value as a token walk does.
func FuzzMsgpackReader(f *testing.F) {
	for _, h := range []string{"c0", "92c3c2", "82a16101a162920102", "c1", "ddffffffff", "dfffffffff", "db0000ffff6161",
		"c9ffffffff01", "d801aabb", strings.Repeat("91", 600) + "c0", "dc0003c0c0", "cb400800"} {
		b, _ := hex.DecodeString(h)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := msgpack.NewReader(data)
		skipErr := r.Skip()
		skipped := r.Offset()
		if skipped > len(data) || r.Remaining() < 0 {
			t.Fatalf("offset %d beyond input %d", skipped, len(data))
		}
		// Walk the same value token by token.
		w := msgpack.NewReader(data)
		pending, depth := 1, 0
		var stack []int
		var walkErr error
		for pending > 0 || len(stack) > 0 {
			if pending == 0 {
				pending, stack = stack[len(stack)-1], stack[:len(stack)-1]
				depth--
				continue
			}
			tok, err := w.Next()
			if err != nil {
				walkErr = err
				break
			}
			pending--
			n := tok.Len
			if tok.Type == msgpack.TypeMap {
				n *= 2
			}
			if (tok.Type == msgpack.TypeArray || tok.Type == msgpack.TypeMap) && n > 0 {
				if depth >= msgpack.MaxDepth {
					walkErr = msgpack.ErrTooDeep
					break
				}
				stack = append(stack, pending)
				pending = n
				depth++
			}
			if tok.Len > len(data) || len(tok.Bytes) > len(data) {
				t.Fatalf("token larger than input: %+v", tok)
			}
		}
		if (skipErr == nil) != (walkErr == nil) {
			t.Fatalf("Skip err %v, walk err %v", skipErr, walkErr)
		}
		if skipErr == nil && w.Offset() != skipped {
			t.Fatalf("Skip consumed %d bytes, walk %d", skipped, w.Offset())
		}
		// Typed readers on arbitrary input.
		for _, read := range []func(*msgpack.Reader) error{
			func(r *msgpack.Reader) error { _, err := r.ReadInt(); return err },
			func(r *msgpack.Reader) error { _, err := r.ReadUint(); return err },
			func(r *msgpack.Reader) error { _, err := r.ReadFloat(); return err },
			func(r *msgpack.Reader) error { _, err := r.ReadString(); return err },
			func(r *msgpack.Reader) error { _, err := r.ReadBinary(); return err },
			func(r *msgpack.Reader) error { _, err := r.ReadMapHeader(); return err },
			func(r *msgpack.Reader) error { _, err := r.ReadArrayHeader(); return err },
			func(r *msgpack.Reader) error { _, err := r.ReadBool(); return err },
			(*msgpack.Reader).ReadNil,
		} {
			rr := msgpack.NewReader(data)
			if err := read(rr); err != nil && rr.Offset() != 0 {
				t.Fatalf("failed read moved the offset to %d", rr.Offset())
			}
		}
	})
}

package entry

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/cachekit-go/cachekit/protocol/codec"
	"github.com/cachekit-go/cachekit/protocol/envelope"
	"github.com/cachekit-go/cachekit/protocol/frame"
)

type user struct {
	Name string `msgpack:"name"`
	Age  int    `msgpack:"age"`
}

func vectors(t *testing.T, name string, into any) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "vectors", name))
	if err != nil {
		t.Fatalf("test vectors missing: %v", err)
	}
	if err := json.Unmarshal(data, into); err != nil {
		t.Fatal(err)
	}
}

// The bytes of an auto-mode entry are exactly what Python's @cache writes:
// "CK" 03, a 125-byte default header, then an envelope around MessagePack.
func TestFramedIsPythonReadable(t *testing.T) {
	t.Parallel()
	p := Pipeline{Mode: Framed}
	v := user{Name: "alice", Age: 30}
	stored, err := p.Encode("k", v)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(stored, []byte{'C', 'K', 3}) {
		t.Fatalf("no CK v3 prefix: % x", stored[:8])
	}
	if n := binary.BigEndian.Uint32(stored[3:7]); n != 125 {
		t.Fatalf("header length %d, Python writes 125", n)
	}
	h, payload, err := frame.Decode(stored)
	if err != nil {
		t.Fatal(err)
	}
	if h != frame.DefaultHeader(true) {
		t.Fatalf("header %+v", h)
	}
	raw, err := envelope.Unpack(payload)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := codec.Marshal(v)
	if !bytes.Equal(raw, want) {
		t.Fatalf("payload % x, want % x", raw, want)
	}
	var got user
	if err := p.Decode("k", stored, &got); err != nil || got != v {
		t.Fatalf("round trip: %+v %v", got, err)
	}
}

func TestFramedRaw(t *testing.T) {
	t.Parallel()
	p := Pipeline{Mode: FramedRaw}
	stored, err := p.Encode("k", []int{1, 2, 3})
	if err != nil {
		t.Fatal(err)
	}
	h, payload, err := frame.Decode(stored)
	if err != nil || h.Compressed {
		t.Fatalf("header %+v, %v", h, err)
	}
	if !bytes.Equal(payload, []byte{0x93, 1, 2, 3}) {
		t.Fatalf("payload % x", payload)
	}
	// Either auto mode reads the other's entries (the frame says which).
	var got []int
	if err := (Pipeline{Mode: Framed}).Decode("k", stored, &got); err != nil || len(got) != 3 {
		t.Fatalf("integrity-on reader: %v %v", got, err)
	}
}

// Bare envelopes (Rust writers) from the published vectors decode to their
// input.
func TestReadsBareEnvelopes(t *testing.T) {
	t.Parallel()
	var wf struct {
		Vectors []struct {
			Name        string `json:"name"`
			EnvelopeHex string `json:"envelope_hex"`
			InputHex    string `json:"input_hex"`
		} `json:"vectors"`
	}
	vectors(t, "wire-format.json", &wf)
	if len(wf.Vectors) == 0 {
		t.Fatal("no vectors")
	}
	p := Pipeline{Mode: Framed}
	for _, v := range wf.Vectors {
		env, _ := hex.DecodeString(v.EnvelopeHex)
		in, _ := hex.DecodeString(v.InputHex)
		if k := frame.Classify(env); k != frame.KindEnvelope {
			t.Errorf("%s: classified as %v", v.Name, k)
			continue
		}
		doc, err := p.Open("k", env)
		if err != nil {
			t.Errorf("%s: %v", v.Name, err)
			continue
		}
		if !bytes.Equal(doc, in) {
			t.Errorf("%s: got % x", v.Name, doc)
		}
	}
}

func TestReadsRawMsgpack(t *testing.T) {
	t.Parallel()
	var s string
	if err := (Pipeline{Mode: Framed}).Decode("k", []byte{0xa2, 'h', 'i'}, &s); err != nil || s != "hi" {
		t.Fatalf("%q %v", s, err)
	}
}

func TestInteropValueVectors(t *testing.T) {
	t.Parallel()
	var iv struct {
		ValueVectors []struct {
			Name string          `json:"name"`
			Val  json.RawMessage `json:"value"`
			Hex  string          `json:"canonical_msgpack_hex"`
		} `json:"value_vectors"`
	}
	vectors(t, "interop-mode.json", &iv)
	p := Pipeline{Mode: Interop}
	checked := 0
	for _, v := range iv.ValueVectors {
		want, _ := hex.DecodeString(v.Hex)
		var decoded any
		if err := p.Decode("k", want, &decoded); err != nil {
			t.Errorf("%s: decode: %v", v.Name, err)
			continue
		}
		re, err := p.Encode("k", decoded)
		if err != nil {
			t.Errorf("%s: encode: %v", v.Name, err)
			continue
		}
		if !bytes.Equal(re, want) {
			t.Errorf("%s: re-encoded % x, want % x", v.Name, re, want)
		}
		checked++
	}
	if checked == 0 {
		t.Fatal("no value vector checked")
	}
	framed, _ := (Pipeline{Mode: Framed}).Encode("k", 1)
	var x any
	if err := p.Decode("k", framed, &x); err == nil {
		t.Fatal("interop reader accepted a CK frame")
	}
}

type fakeSealer struct{}

func (fakeSealer) Seal(_ string, pt []byte, compressed bool) ([]byte, frame.Header, error) {
	h := frame.SecureHeader("tenant", "00112233445566778899aabbccddeeff")
	h.Compressed = compressed
	return append([]byte("sealed:"), pt...), h, nil
}

func (fakeSealer) Open(_ string, _ frame.Header, ct []byte) ([]byte, error) {
	if !bytes.HasPrefix(ct, []byte("sealed:")) {
		return nil, errors.New("bad seal")
	}
	return ct[len("sealed:"):], nil
}

// The encryption hook: sealed frames need a Sealer, and a Sealer refuses
// plaintext entries.
func TestSealerHook(t *testing.T) {
	t.Parallel()
	sealed := Pipeline{Mode: Framed, Sealer: fakeSealer{}}
	plain := Pipeline{Mode: Framed}
	stored, err := sealed.Encode("k", "secret")
	if err != nil {
		t.Fatal(err)
	}
	h, _, _ := frame.Decode(stored)
	if !h.Encrypted {
		t.Fatal("frame not marked encrypted")
	}
	var s string
	if err := sealed.Decode("k", stored, &s); err != nil || s != "secret" {
		t.Fatalf("%q %v", s, err)
	}
	if err := plain.Decode("k", stored, &s); !errors.Is(err, ErrEncrypted) {
		t.Fatalf("plain reader of sealed entry: %v", err)
	}
	pt, _ := plain.Encode("k", "x")
	if err := sealed.Decode("k", pt, &s); !errors.Is(err, ErrNotEncrypted) {
		t.Fatalf("sealed reader of plain entry: %v", err)
	}
}

func TestForeignSerializer(t *testing.T) {
	t.Parallel()
	h := frame.DefaultHeader(false)
	h.Serializer = "orjson"
	b, err := frame.Encode(h, []byte{0x01})
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := (Pipeline{Mode: Framed}).Decode("k", b, &v); !errors.Is(err, ErrForeignSerializer) {
		t.Fatalf("got %v", err)
	}
}

func TestCorruptEntries(t *testing.T) {
	t.Parallel()
	good, _ := (Pipeline{Mode: Framed}).Encode("k", map[string]any{"a": "bcdefghijklmnop"})
	p := Pipeline{Mode: Framed}
	for i := 7; i < len(good); i += 3 {
		bad := bytes.Clone(good)
		bad[i] ^= 0x55
		var v any
		_ = p.Decode("k", bad, &v) // must not panic; errors are misses
	}
	var v any
	if err := p.Decode("k", good[:len(good)-2], &v); err == nil {
		t.Fatal("truncated entry decoded")
	}
}

func FuzzDecode(f *testing.F) {
	for _, m := range []Mode{Framed, FramedRaw, Interop} {
		b, _ := (Pipeline{Mode: m}).Encode("k", map[string]any{"x": []any{1, "two", 3.0}})
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte("CK\x03\x00\x00\x00\x02{}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, m := range []Mode{Framed, Interop} {
			var v any
			_ = (Pipeline{Mode: m}).Decode("k", data, &v)
		}
	})
}

// fakeInteropSealer also seals interop documents.
type fakeInteropSealer struct{ fakeSealer }

func (fakeInteropSealer) SealInterop(_ string, doc []byte) ([]byte, error) {
	return append([]byte("sealed:"), doc...), nil
}

func (fakeInteropSealer) OpenInterop(_ string, data []byte) ([]byte, error) {
	if !bytes.HasPrefix(data, []byte("sealed:")) {
		return nil, errors.New("bad seal")
	}
	return data[len("sealed:"):], nil
}

// Interop values are sealed as a whole by an InteropSealer; a Sealer that
// cannot seal them refuses to write or read rather than store plaintext.
func TestInteropSealerHook(t *testing.T) {
	t.Parallel()
	sealed := Pipeline{Mode: Interop, Sealer: fakeInteropSealer{}}
	stored, err := sealed.Encode("k", map[string]any{"a": 1})
	if err != nil {
		t.Fatal(err)
	}
	plainDoc, _ := (Pipeline{Mode: Interop}).Encode("k", map[string]any{"a": 1})
	if want := append([]byte("sealed:"), plainDoc...); !bytes.Equal(stored, want) {
		t.Fatalf("stored % x, want % x", stored, want)
	}
	var got map[string]int
	if err := sealed.Decode("k", stored, &got); err != nil || got["a"] != 1 {
		t.Fatalf("%v %v", got, err)
	}
	if err := sealed.Decode("k", plainDoc, &got); err == nil {
		t.Fatal("sealed interop reader accepted a plain document")
	}

	noInterop := Pipeline{Mode: Interop, Sealer: fakeSealer{}}
	if _, err := noInterop.Encode("k", 1); !errors.Is(err, ErrInteropUnsealed) {
		t.Fatalf("encode: %v", err)
	}
	if _, err := noInterop.Open("k", plainDoc); !errors.Is(err, ErrInteropUnsealed) {
		t.Fatalf("open: %v", err)
	}
}

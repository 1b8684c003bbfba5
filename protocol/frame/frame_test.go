package frame

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/cachekit-go/cachekit/protocol/envelope"
)

// frameOf builds the expected frame by hand: magic, version, u32 length, JSON.
func frameOf(header string, payload []byte) []byte {
	b := []byte{'C', 'K', 3}
	b = binary.BigEndian.AppendUint32(b, uint32(len(header)))
	return append(append(b, header...), payload...)
}

const plainHeader = `{"s": "default", "m": {"format": "msgpack", "encoding": "utf-8", "compressed": true, "original_type": "msgpack"}, "v": "2.0"}`

func TestPlainHeaderBytes(t *testing.T) {
	t.Parallel()
	if len(plainHeader) != 125 {
		t.Fatalf("hand-built header is %d bytes, PROTOCOL says 125", len(plainHeader))
	}
	payload := []byte{0x94, 0xc4, 0x01, 0x00}
	got, err := Encode(DefaultHeader(true), payload)
	if err != nil {
		t.Fatal(err)
	}
	want := frameOf(plainHeader, payload)
	if !bytes.Equal(got, want) {
		t.Fatalf("Encode:\n got %q\nwant %q", got, want)
	}
	if !bytes.Equal(got[:7], []byte{0x43, 0x4b, 0x03, 0x00, 0x00, 0x00, 0x7d}) {
		t.Fatalf("prefix % x", got[:7])
	}
}

func TestIntegrityOffHeaderBytes(t *testing.T) {
	t.Parallel()
	want := frameOf(strings.Replace(plainHeader, `"compressed": true`, `"compressed": false`, 1), []byte{0x01})
	got, err := Encode(DefaultHeader(false), []byte{0x01})
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("Encode = %q, %v; want %q", got, err, want)
	}
}

func TestEncryptedHeaderFieldOrder(t *testing.T) {
	t.Parallel()
	const fp = "96179a9bc881aa7ca83f04b78a66afd3"
	header := `{"s": "default", "m": {"format": "msgpack", "encoding": "utf-8", "compressed": true, "original_type": "msgpack", ` +
		`"encrypted": true, "tenant_id": "cross-sdk-test", "encryption_algorithm": "AES-256-GCM", "key_fingerprint": "` + fp + `"}, "v": "2.0"}`
	got, err := Encode(SecureHeader("cross-sdk-test", fp), []byte("ct"))
	if err != nil {
		t.Fatal(err)
	}
	if want := frameOf(header, []byte("ct")); !bytes.Equal(got, want) {
		t.Fatalf("Encode:\n got %q\nwant %q", got, want)
	}
	h, payload, err := Decode(got)
	if err != nil || h != SecureHeader("cross-sdk-test", fp) || string(payload) != "ct" {
		t.Fatalf("Decode = %+v %q %v", h, payload, err)
	}
}

func TestPythonStringEscaping(t *testing.T) {
	t.Parallel()
	h := DefaultHeader(true)
	h.Encrypted = true
	h.TenantID = "a\"b\\c\nd\re\tf\bg\fh\x01i\x1fj\x7fk/é€😀\u2028"
	// Python: json.dumps(s, ensure_ascii=False)
	const want = `"a\"b\\c\nd\re\tf\bg\fh\u0001i\u001fj` + "\x7f" + `k/é€😀` + "\u2028" + `"`
	got, err := Encode(h, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(got, []byte(`"tenant_id": `+want+`, "encryption_algorithm": null, "key_fingerprint": null}`)) {
		t.Fatalf("escaping: %q", got)
	}
	back, _, err := Decode(got)
	if err != nil || back != h {
		t.Fatalf("round trip: %+v %v", back, err)
	}
}

func TestNullFields(t *testing.T) {
	t.Parallel()
	h := DefaultHeader(false)
	h.OriginalType = ""
	got, err := Encode(h, nil)
	if err != nil || !bytes.Contains(got, []byte(`"original_type": null}`)) {
		t.Fatalf("%q %v", got, err)
	}
	back, _, err := Decode(got)
	if err != nil || back != h {
		t.Fatalf("%+v %v", back, err)
	}
}

func TestEncodeRejectsInvalidUTF8(t *testing.T) {
	t.Parallel()
	h := DefaultHeader(true)
	h.TenantID, h.Encrypted = "bad\xff", true
	if _, err := Encode(h, nil); !errors.Is(err, ErrMalformedHeader) {
		t.Fatalf("err = %v", err)
	}
	h = DefaultHeader(true)
	h.Serializer = strings.Repeat("s", MaxHeaderSize)
	if _, err := Encode(h, nil); !errors.Is(err, ErrMalformedHeader) {
		t.Fatalf("oversized header: err = %v", err)
	}
}

func TestDecodeAcceptsPythonVariants(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, header string
		want         Header
	}{
		{"plain", plainHeader, DefaultHeader(true)},
		{"compact separators", `{"s":"default","m":{"format":"msgpack","encoding":"utf-8","compressed":true,"original_type":"msgpack"},"v":"2.0"}`, DefaultHeader(true)},
		{"unknown fields", `{"x": [1, {"y": null}], "s": "default", "m": {"zz": 1, "format": "msgpack", "encoding": "utf-8", "compressed": true, "original_type": "msgpack"}, "v": "2.0"}`, DefaultHeader(true)},
		{"no m", `{"s": "arrow", "v": "2.0"}`, Header{Serializer: "arrow", Version: "2.0"}},
		{"empty object", `{}`, Header{}},
		{"escaped unicode", `{"s": "d\u00e9f"}`, Header{Serializer: "déf"}},
		{"duplicate key last wins", `{"s": "a", "s": "default"}`, Header{Serializer: "default"}},
		{"nulls", `{"s": null, "m": {"compressed": null, "tenant_id": null}}`, Header{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h, payload, err := Decode(frameOf(tc.header, []byte{0xc0}))
			if err != nil || h != tc.want || !bytes.Equal(payload, []byte{0xc0}) {
				t.Fatalf("Decode = %+v %x %v, want %+v", h, payload, err, tc.want)
			}
		})
	}
}

func TestDecodeHostile(t *testing.T) {
	t.Parallel()
	withLen := func(n uint32, rest string) []byte {
		return append(binary.BigEndian.AppendUint32([]byte{'C', 'K', 3}, n), rest...)
	}
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrTruncated},
		{"C", []byte("C"), ErrTruncated},
		{"CK", []byte("CK"), ErrTruncated},
		{"CK v3 only", []byte{'C', 'K', 3}, ErrTruncated},
		{"prefix short", []byte{'C', 'K', 3, 0, 0, 0}, ErrTruncated},
		{"bad magic", []byte("XK\x03\x00\x00\x00\x02{}"), ErrBadMagic},
		{"msgpack", []byte{0x94, 0xc4, 0x00}, ErrBadMagic},
		{"version 2", []byte("CK\x02\x00\x00\x00\x02{}"), ErrUnsupportedVersion},
		{"version 4", []byte("CK\x04\x00\x00\x00\x02{}"), ErrUnsupportedVersion},
		{"length beyond input", withLen(3, "{}"), ErrTruncated},
		{"length far beyond input", withLen(1000, "{}"), ErrTruncated},
		{"huge length", withLen(0xffffffff, "{}"), ErrMalformedHeader},
		{"length just over the limit", withLen(MaxHeaderSize+1, "{}"), ErrMalformedHeader},
		{"empty header", withLen(0, ""), ErrMalformedHeader},
		{"non-JSON", withLen(5, "hello"), ErrMalformedHeader},
		{"JSON array", withLen(2, "[]"), ErrMalformedHeader},
		{"JSON null", withLen(4, "null"), ErrMalformedHeader},
		{"JSON string", withLen(4, `"ab"`), ErrMalformedHeader},
		{"trailing garbage in header", withLen(4, "{}{}"), ErrMalformedHeader},
		{"invalid UTF-8", withLen(9, "{\"s\": \"\xff\"}"), ErrMalformedHeader},
		{"s is a number", withLen(8, `{"s": 1}`), ErrMalformedHeader},
		{"v is an object", withLen(9, `{"v": {}}`), ErrMalformedHeader},
		{"m is a list", withLen(9, `{"m": []}`), ErrMalformedHeader},
		{"m is null", withLen(11, `{"m": null}`), ErrMalformedHeader},
		{"compressed is a string", withLen(28, `{"m": {"compressed": "yes"}}`), ErrMalformedHeader},
		{"encrypted is 1", withLen(25, `{"m": {"encrypted": 1}}  `), ErrMalformedHeader},
		{"tenant is a number", withLen(25, `{"m": {"tenant_id": 7}}  `), ErrMalformedHeader},
		{"deep nesting", withLen(20001, strings.Repeat("[", 10000)+strings.Repeat("]", 10000)+"!"), ErrMalformedHeader},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h, payload, err := Decode(tc.in)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Decode = %v, want %v", err, tc.want)
			}
			if h != (Header{}) || payload != nil {
				t.Fatal("header or payload returned with an error")
			}
		})
	}
}

func TestPayloadBoundaries(t *testing.T) {
	t.Parallel()
	for _, payload := range [][]byte{nil, {0}, []byte("CK\x03"), bytes.Repeat([]byte{0xff}, 70000)} {
		f, err := Encode(DefaultHeader(true), payload)
		if err != nil {
			t.Fatal(err)
		}
		_, got, err := Decode(f)
		if err != nil || !bytes.Equal(got, payload) {
			t.Fatalf("payload of %d bytes: %v", len(payload), err)
		}
	}
}

func TestAppendHeaderThenEnvelope(t *testing.T) {
	t.Parallel()
	b, err := AppendHeader(nil, DefaultHeader(true))
	if err != nil {
		t.Fatal(err)
	}
	if b, err = envelope.AppendPack(b, []byte{0x81, 0xa1, 'a', 0x01}); err != nil {
		t.Fatal(err)
	}
	h, payload, err := Decode(b)
	if err != nil || h != DefaultHeader(true) {
		t.Fatalf("%+v %v", h, err)
	}
	if data, err := envelope.Unpack(payload); err != nil || !bytes.Equal(data, []byte{0x81, 0xa1, 'a', 0x01}) {
		t.Fatalf("%x %v", data, err)
	}
}

func TestClassify(t *testing.T) {
	t.Parallel()
	env, err := envelope.Pack([]byte{0x01})
	if err != nil {
		t.Fatal(err)
	}
	framed, err := Encode(DefaultHeader(true), env)
	if err != nil {
		t.Fatal(err)
	}
	legacy := []byte{0x94, 0x92, 0x10, 0xcc, 0xff, 0x98, 0xcc, 0xd6, 0xcc, 0xbc, 0xcc, 0xec, 0x3c, 0x6b, 0x29, 0xcc, 0xd7, 0x2e, 0x01, 0xa7, 'm', 's', 'g', 'p', 'a', 'c', 'k'}
	tests := []struct {
		name string
		in   []byte
		want Kind
	}{
		{"empty", nil, KindUnknown},
		{"frame", framed, KindFrame},
		{"broken frame is still a frame", []byte("CK\x09"), KindFrame},
		{"envelope", env, KindEnvelope},
		{"legacy envelope", legacy, KindEnvelope},
		{"envelope with trailing byte", append(append([]byte(nil), env...), 0), KindRawMsgpack},
		{"4-array of other types", []byte{0x94, 0x01, 0x02, 0x03, 0x04}, KindRawMsgpack},
		{"map", []byte{0x81, 0xa1, 'a', 0x01}, KindRawMsgpack},
		{"fixint 67", []byte{0x43}, KindRawMsgpack},
		{"string", []byte{0xa2, 'C', 'K'}, KindRawMsgpack},
	}
	for _, tc := range tests {
		if got := Classify(tc.in); got != tc.want {
			t.Errorf("%s: Classify = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestHeaderLengthCountsBytes: the u32 is the header's UTF-8 byte length
// (Python measures the encoded bytes), not its character count.
func TestHeaderLengthCountsBytes(t *testing.T) {
	t.Parallel()
	const fp = "00112233445566778899aabbccddeeff"
	got, err := Encode(SecureHeader("tenant-é😀", fp), []byte{0xc0})
	if err != nil {
		t.Fatal(err)
	}
	header := `{"s": "default", "m": {"format": "msgpack", "encoding": "utf-8", "compressed": true, "original_type": "msgpack", ` +
		`"encrypted": true, "tenant_id": "tenant-é😀", "encryption_algorithm": "AES-256-GCM", "key_fingerprint": "` + fp + `"}, "v": "2.0"}`
	if want := frameOf(header, []byte{0xc0}); !bytes.Equal(got, want) {
		t.Fatalf("Encode:\n got %q\nwant %q", got, want)
	}
	if n := binary.BigEndian.Uint32(got[3:7]); int(n) != len(header) || len(header) == len([]rune(header)) {
		t.Fatalf("length prefix %d, header has %d bytes", n, len(header))
	}
}

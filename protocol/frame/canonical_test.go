package frame

import (
	"testing"
	"unicode/utf8"
)

// The fast path accepts the canonical layout of every writer and agrees with
// the general parse.
func TestParseCanonicalAgreesWithGeneral(t *testing.T) {
	cases := []struct {
		raw  string
		fast bool
	}{
		{`{"s": "default", "m": {"format": "msgpack", "encoding": "utf-8", "compressed": true, "original_type": "msgpack"}, "v": "2.0"}`, true},
		{`{"s": "default", "m": {"format": "msgpack", "encoding": "utf-8", "compressed": false, "original_type": null}, "v": "2.0"}`, true},
		{`{"s": "default", "m": {"format": "msgpack", "encoding": "utf-8", "compressed": true, "original_type": "msgpack", "encrypted": true, "tenant_id": "t ü", "encryption_algorithm": "AES-256-GCM", "key_fingerprint": "00112233445566778899aabbccddeeff"}, "v": "2.0"}`, true},
		{`{"s": "default", "m": {"format": "msgpack", "encoding": "utf-8", "compressed": true, "original_type": null, "encrypted": false, "tenant_id": null, "encryption_algorithm": null, "key_fingerprint": null}, "v": "2.0"}`, true},
		// escapes, other layouts and unknown fields take the general parse
		{`{"s": "def\"ault", "m": {"format": "msgpack", "encoding": "utf-8", "compressed": true, "original_type": null}, "v": "2.0"}`, false},
		{`{"s":"default","m":{"format":"msgpack","encoding":"utf-8","compressed":true,"original_type":null},"v":"2.0"}`, false},
		{`{"s": "default", "m": {"format": "msgpack", "encoding": "utf-8", "compressed": true, "original_type": null, "x": 1}, "v": "2.0"}`, false},
		{`{"s": "default", "m": {"format": "msgpack", "encoding": "utf-8", "compressed": true, "original_type": null}, "v": "2.0"} `, false},
		{`{"s": "default", "m": {"format": "msgpack", "encoding": "utf-8", "compressed": 1, "original_type": null}, "v": "2.0"}`, false},
		{"{\"s\": \"a\tb\", \"m\": {\"format\": \"msgpack\", \"encoding\": \"utf-8\", \"compressed\": true, \"original_type\": null}, \"v\": \"2.0\"}", false},
	}
	for _, tc := range cases {
		fast, ok := parseCanonical([]byte(tc.raw))
		if ok != tc.fast {
			t.Errorf("fast path ok=%v, want %v for %s", ok, tc.fast, tc.raw)
		}
		if !ok {
			continue
		}
		general, err := parseGeneral([]byte(tc.raw))
		if err != nil || general != fast {
			t.Errorf("fast %+v, general %+v (%v) for %s", fast, general, err, tc.raw)
		}
	}
}

// Decode allocates nothing for the header of a plain frame.
func TestDecodePlainHeaderAllocs(t *testing.T) {
	b, err := Encode(DefaultHeader(true), []byte{0x94})
	if err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { _, _, _ = Decode(b) }); n != 0 {
		t.Errorf("Decode allocates %v times per call, want 0", n)
	}
}

// FuzzParseCanonical: whatever the fast path accepts, the general parse
// reads identically.
func FuzzParseCanonical(f *testing.F) {
	f.Add([]byte(`{"s": "default", "m": {"format": "msgpack", "encoding": "utf-8", "compressed": true, "original_type": "msgpack"}, "v": "2.0"}`))
	f.Add([]byte(`{"s": "default", "m": {"format": "msgpack", "encoding": "utf-8", "compressed": true, "original_type": null, "encrypted": true, "tenant_id": "t", "encryption_algorithm": "AES-256-GCM", "key_fingerprint": "00"}, "v": "2.0"}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		if !utf8.Valid(raw) {
			return
		}
		fast, ok := parseCanonical(raw)
		if !ok {
			return
		}
		general, err := parseGeneral(raw)
		if err != nil || general != fast {
			t.Fatalf("fast %+v, general %+v (%v)", fast, general, err)
		}
	})
}

package secure

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"testing"

	"github.com/cachekit-go/cachekit/internal/entry"
	"github.com/cachekit-go/cachekit/protocol/envelope"
	"github.com/cachekit-go/cachekit/protocol/frame"
)

// The entry of these tests, written out from PROTOCOL.md sections 5 and 6
// without the code under test: master 0x61 x 32, tenant "cross-sdk-test",
// the value {"age": 30, "name": "alice"}.
const (
	pyKey     = "ns:users:func:__main__.get_user:args:0f1e2d3c:1s"
	pyMsgpack = "82a36167651ea46e616d65a5616c696365"
	// The header Python's json.dumps writes for @cache.secure.
	pyHeaderJSON = `{"s": "default", "m": {"format": "msgpack", "encoding": "utf-8", "compressed": true, ` +
		`"original_type": "msgpack", "encrypted": true, "tenant_id": "cross-sdk-test", ` +
		`"encryption_algorithm": "AES-256-GCM", "key_fingerprint": "96179a9bc881aa7ca83f04b78a66afd3"}, "v": "2.0"}`
	pyNonce = "0102030405060708090a0b0c"
)

// pyDerivedKey is HKDF-SHA256 with the documented salt, computed with the
// standard library only.
func pyDerivedKey(t *testing.T) []byte {
	t.Helper()
	tenant := "cross-sdk-test"
	salt := []byte("cachekit_v1_\x0aencryption")
	salt = binary.BigEndian.AppendUint16(salt, uint16(len(tenant)))
	salt = append(salt, tenant...)
	k, err := hkdf.Key(sha256.New, bytes.Repeat([]byte{0x61}, 32), salt, "encryption", 32)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// pyAAD is AAD v0x03 written out by hand.
func pyAAD(key string, compressed string) []byte {
	aad := []byte{0x03}
	for _, c := range []string{"cross-sdk-test", key, "msgpack", compressed, "msgpack"} {
		aad = binary.BigEndian.AppendUint32(aad, uint32(len(c)))
		aad = append(aad, c...)
	}
	return aad
}

func pyGCM(t *testing.T) cipher.AEAD {
	t.Helper()
	block, err := aes.NewCipher(pyDerivedKey(t))
	if err != nil {
		t.Fatal(err)
	}
	g, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// TestReadPythonSecureEntry decrypts a @cache.secure entry built by hand.
func TestReadPythonSecureEntry(t *testing.T) {
	t.Parallel()
	msg := mustHex(t, pyMsgpack)
	env, err := envelope.Pack(msg)
	if err != nil {
		t.Fatal(err)
	}
	nonce := mustHex(t, pyNonce)
	ct := pyGCM(t).Seal(bytes.Clone(nonce), nonce, env, pyAAD(pyKey, "True"))
	stored := []byte("CK\x03")
	stored = binary.BigEndian.AppendUint32(stored, uint32(len(pyHeaderJSON)))
	stored = append(stored, pyHeaderJSON...)
	stored = append(stored, ct...)

	p := newPolicy(t, "cross-sdk-test", bytes.Repeat([]byte{0x61}, 32))
	s := bind(t, p, context.Background())
	pt, err := openStored(s, pyKey, stored)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	if !bytes.Equal(pt, env) {
		t.Fatal("plaintext is not the envelope")
	}
	// Through the whole value pipeline.
	var v struct {
		Age  int    `msgpack:"age"`
		Name string `msgpack:"name"`
	}
	if err := (entry.Pipeline{Mode: entry.Framed, Sealer: s}).Decode(pyKey, stored, &v); err != nil {
		t.Fatalf("pipeline decode: %v", err)
	}
	if v.Age != 30 || v.Name != "alice" {
		t.Fatalf("decoded %+v", v)
	}
	// Integrity off: raw MessagePack, "compressed": false, AAD ending "False", "msgpack".
	raw := pyGCM(t).Seal(bytes.Clone(nonce), nonce, msg, pyAAD(pyKey, "False"))
	hdr := bytes.Replace([]byte(pyHeaderJSON), []byte(`"compressed": true`), []byte(`"compressed": false`), 1)
	stored = []byte("CK\x03")
	stored = binary.BigEndian.AppendUint32(stored, uint32(len(hdr)))
	stored = append(append(stored, hdr...), raw...)
	if err := (entry.Pipeline{Mode: entry.FramedRaw, Sealer: s}).Decode(pyKey, stored, &v); err != nil || v.Name != "alice" {
		t.Fatalf("integrity-off entry: %+v, %v", v, err)
	}
}

// TestWriteForPython checks that what Go writes is what a Python reader
// parses: the literal header bytes, and AES-GCM under the hand-built key and
// AAD over an envelope of the value.
func TestWriteForPython(t *testing.T) {
	t.Parallel()
	p := newPolicy(t, "cross-sdk-test", bytes.Repeat([]byte{0x61}, 32))
	s := bind(t, p, context.Background())
	stored, err := (entry.Pipeline{Mode: entry.Framed, Sealer: s}).Encode(pyKey, map[string]any{"age": 30, "name": "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if string(stored[:3]) != "CK\x03" {
		t.Fatalf("prefix %x", stored[:3])
	}
	n := binary.BigEndian.Uint32(stored[3:7])
	if got := string(stored[7 : 7+n]); got != pyHeaderJSON {
		t.Fatalf("header\n got %s\nwant %s", got, pyHeaderJSON)
	}
	payload := stored[7+n:]
	env, err := pyGCM(t).Open(nil, payload[:12], payload[12:], pyAAD(pyKey, "True"))
	if err != nil {
		t.Fatalf("hand-built reader: %v", err)
	}
	msg, err := envelope.Unpack(env)
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(msg) != pyMsgpack {
		t.Fatalf("value %x, want %s", msg, pyMsgpack)
	}

	raw, err := (entry.Pipeline{Mode: entry.FramedRaw, Sealer: s}).Encode(pyKey, map[string]any{"age": 30, "name": "alice"})
	if err != nil {
		t.Fatal(err)
	}
	h, payload, err := frame.Decode(raw)
	if err != nil || h.Compressed || !h.Encrypted || h.OriginalType != "msgpack" {
		t.Fatalf("integrity-off header %+v, %v", h, err)
	}
	msg, err = pyGCM(t).Open(nil, payload[:12], payload[12:], pyAAD(pyKey, "False"))
	if err != nil || hex.EncodeToString(msg) != pyMsgpack {
		t.Fatalf("integrity-off hand-built reader: %x, %v", msg, err)
	}
}

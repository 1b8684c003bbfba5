// Package frame implements the "CK v3" frame that cachekit-py puts around every
// auto-mode value (PROTOCOL.md section 5):
//
//	"CK" (43 4b) | 03 | u32 big-endian header length | header JSON (UTF-8) | payload
//
// with the header
//
//	{"s": "default", "m": {"format": "msgpack", "encoding": "utf-8", "compressed": true,
//	 "original_type": "msgpack"}, "v": "2.0"}
//
// written exactly as Python's json.dumps(..., ensure_ascii=False) writes it:
// separators ", " and ": ", keys in that order, non-ASCII characters as raw
// UTF-8, and only '"', '\\' and control characters escaped (\n, \r, \t, \b, \f,
// else \u00XX). Encrypted values add "encrypted", "tenant_id",
// "encryption_algorithm", "key_fingerprint" (in that order) after
// "original_type". The plain header is 125 bytes.
//
// # Decisions
//
//   - Empty strings in the optional metadata fields (original_type, tenant_id,
//     encryption_algorithm, key_fingerprint) are written as JSON null, as Python
//     writes None; Decode maps null back to "".
//   - Decode is strict where Python is loose and bounded where Python is not:
//     the header must be valid UTF-8, a JSON object, at most MaxHeaderSize
//     bytes, and every known field must have its JSON type (strings or null,
//     booleans). Unknown fields are ignored, as Python ignores them. Keys are
//     matched exactly (encoding/json would match them case-insensitively).
//     A missing "s" decodes as "" (Python says "unknown"); neither matches a
//     real serializer name, so both read as a miss.
//   - Decode returns the payload as a sub-slice of its input (no copy).
//
// Classify tells the three kinds of stored auto-mode bytes apart; see Kind.
package frame

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/cachekit-go/cachekit/protocol/envelope"
)

// Wire constants.
const (
	// Magic starts every frame.
	Magic = "CK"
	// Version is the only frame version (byte 2).
	Version byte = 3
	// PrefixSize is magic + version + header length.
	PrefixSize = 7
	// MaxHeaderSize bounds the header JSON Decode accepts and Encode writes.
	// Real headers are ~125 bytes plus the tenant id (at most 1024 bytes).
	MaxHeaderSize = 64 << 10
)

// Header field values the SDKs write.
const (
	SerializerDefault = "default"     // "s" of StandardSerializer values
	FormatMsgpack     = "msgpack"     // "m"."format" and "original_type"
	EncodingUTF8      = "utf-8"       // "m"."encoding"
	AlgorithmAESGCM   = "AES-256-GCM" // "m"."encryption_algorithm"
	HeaderVersion     = "2.0"         // "v"
)

// Errors. Every error from Decode and Encode wraps exactly one of these.
var (
	// ErrBadMagic: the bytes do not start with "CK".
	ErrBadMagic = errors.New("frame: not a CK frame (bad magic)")
	// ErrUnsupportedVersion: the version byte is not 3.
	ErrUnsupportedVersion = errors.New("frame: unsupported frame version")
	// ErrTruncated: the input ends inside the prefix or the header.
	ErrTruncated = errors.New("frame: truncated")
	// ErrMalformedHeader: the header is not valid JSON of the expected shape,
	// not UTF-8, too large, or (Encode) a field is not valid UTF-8.
	ErrMalformedHeader = errors.New("frame: malformed header")
)

// Header is the frame header: "s", the fields of "m", and "v".
type Header struct {
	Serializer          string // "s", e.g. "default"
	Format              string // "m"."format", e.g. "msgpack"
	Encoding            string // "m"."encoding", e.g. "utf-8"
	Compressed          bool   // "m"."compressed": true when the payload is an envelope
	OriginalType        string // "m"."original_type", "" = null
	Encrypted           bool   // "m"."encrypted"; the four fields below are written only when set
	TenantID            string // "m"."tenant_id", "" = null
	EncryptionAlgorithm string // "m"."encryption_algorithm", "" = null
	KeyFingerprint      string // "m"."key_fingerprint" (32 lowercase hex), "" = null
	Version             string // "v", e.g. "2.0"
}

// DefaultHeader is the header of a plain @cache value: compressed=true when the
// payload is a ByteStorage envelope, false for integrity-off (raw MessagePack).
func DefaultHeader(compressed bool) Header {
	return Header{
		Serializer:   SerializerDefault,
		Format:       FormatMsgpack,
		Encoding:     EncodingUTF8,
		Compressed:   compressed,
		OriginalType: FormatMsgpack,
		Version:      HeaderVersion,
	}
}

// SecureHeader is the header of a Python @cache.secure value: the payload is
// AES-256-GCM over an envelope, for tenantID, under the key with fingerprint
// keyFingerprint (crypto.Fingerprint of the derived key).
func SecureHeader(tenantID, keyFingerprint string) Header {
	h := DefaultHeader(true)
	h.Encrypted = true
	h.TenantID = tenantID
	h.EncryptionAlgorithm = AlgorithmAESGCM
	h.KeyFingerprint = keyFingerprint
	return h
}

// Encode returns the frame of h and payload.
func Encode(h Header, payload []byte) ([]byte, error) {
	out, err := AppendHeader(make([]byte, 0, PrefixSize+160+len(h.TenantID)+len(payload)), h)
	if err != nil {
		return nil, err
	}
	return append(out, payload...), nil
}

// AppendHeader appends the frame prefix and header of h to dst; the caller
// appends the payload (for example with envelope.AppendPack), saving a copy.
func AppendHeader(dst []byte, h Header) ([]byte, error) {
	start := len(dst)
	dst = append(dst, Magic[0], Magic[1], Version, 0, 0, 0, 0)
	hdrStart := len(dst)
	var err error
	dst, err = appendHeaderJSON(dst, h)
	if err != nil {
		return dst[:start], err
	}
	n := len(dst) - hdrStart
	if n > MaxHeaderSize {
		return dst[:start], fmt.Errorf("%w: header of %d bytes exceeds %d", ErrMalformedHeader, n, MaxHeaderSize)
	}
	binary.BigEndian.PutUint32(dst[start+3:], uint32(n))
	return dst, nil
}

func appendHeaderJSON(b []byte, h Header) ([]byte, error) {
	type field struct {
		name, val string
		nullable  bool
	}
	check := []field{
		{"s", h.Serializer, false}, {"format", h.Format, false}, {"encoding", h.Encoding, false},
		{"original_type", h.OriginalType, true}, {"tenant_id", h.TenantID, true},
		{"encryption_algorithm", h.EncryptionAlgorithm, true}, {"key_fingerprint", h.KeyFingerprint, true},
		{"v", h.Version, false},
	}
	for _, f := range check {
		if !utf8.ValidString(f.val) {
			return b, fmt.Errorf("%w: field %s is not valid UTF-8", ErrMalformedHeader, f.name)
		}
	}
	b = append(b, `{"s": `...)
	b = appendPyString(b, h.Serializer)
	b = append(b, `, "m": {"format": `...)
	b = appendPyString(b, h.Format)
	b = append(b, `, "encoding": `...)
	b = appendPyString(b, h.Encoding)
	b = append(b, `, "compressed": `...)
	b = appendBool(b, h.Compressed)
	b = append(b, `, "original_type": `...)
	b = appendNullable(b, h.OriginalType)
	if h.Encrypted {
		b = append(b, `, "encrypted": true, "tenant_id": `...)
		b = appendNullable(b, h.TenantID)
		b = append(b, `, "encryption_algorithm": `...)
		b = appendNullable(b, h.EncryptionAlgorithm)
		b = append(b, `, "key_fingerprint": `...)
		b = appendNullable(b, h.KeyFingerprint)
	}
	b = append(b, `}, "v": `...)
	b = appendPyString(b, h.Version)
	return append(b, '}'), nil
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, "true"...)
	}
	return append(b, "false"...)
}

func appendNullable(b []byte, s string) []byte {
	if s == "" {
		return append(b, "null"...)
	}
	return appendPyString(b, s)
}

// appendPyString writes s as Python's json.dumps(ensure_ascii=False) does.
// s must be valid UTF-8.
func appendPyString(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			b = append(b, '\\', '"')
		case c == '\\':
			b = append(b, '\\', '\\')
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c == '\t':
			b = append(b, '\\', 't')
		case c == '\b':
			b = append(b, '\\', 'b')
		case c == '\f':
			b = append(b, '\\', 'f')
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// IsFrame reports whether b starts with the frame magic "CK". It does not
// validate the rest; Decode does.
func IsFrame(b []byte) bool {
	return len(b) >= 2 && b[0] == Magic[0] && b[1] == Magic[1]
}

// Decode splits a frame into its header and payload. The payload aliases b.
func Decode(b []byte) (Header, []byte, error) {
	if !IsFrame(b) {
		if len(b) < 2 && bytes.HasPrefix([]byte(Magic), b) {
			return Header{}, nil, fmt.Errorf("%w: %d bytes", ErrTruncated, len(b))
		}
		return Header{}, nil, ErrBadMagic
	}
	if len(b) < PrefixSize {
		return Header{}, nil, fmt.Errorf("%w: %d bytes, the prefix needs %d", ErrTruncated, len(b), PrefixSize)
	}
	if b[2] != Version {
		return Header{}, nil, fmt.Errorf("%w: %d (want %d)", ErrUnsupportedVersion, b[2], Version)
	}
	n := binary.BigEndian.Uint32(b[3:PrefixSize])
	if n > MaxHeaderSize {
		return Header{}, nil, fmt.Errorf("%w: header length %d exceeds %d", ErrMalformedHeader, n, MaxHeaderSize)
	}
	if uint64(n) > uint64(len(b)-PrefixSize) {
		return Header{}, nil, fmt.Errorf("%w: header length %d, only %d bytes follow", ErrTruncated, n, len(b)-PrefixSize)
	}
	end := PrefixSize + int(n)
	h, err := parseHeader(b[PrefixSize:end])
	if err != nil {
		return Header{}, nil, err
	}
	return h, b[end:], nil
}

func parseHeader(raw []byte) (Header, error) {
	var h Header
	if !utf8.Valid(raw) {
		return h, fmt.Errorf("%w: header is not valid UTF-8", ErrMalformedHeader)
	}
	if h, ok := parseCanonical(raw); ok {
		return h, nil
	}
	return parseGeneral(raw)
}

// parseGeneral reads any header JSON object (raw is valid UTF-8).
func parseGeneral(raw []byte) (Header, error) {
	var h Header
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil || top == nil {
		return h, fmt.Errorf("%w: header is not a JSON object", ErrMalformedHeader)
	}
	var err error
	set := func(dst *string, obj map[string]json.RawMessage, name string) {
		if err == nil {
			err = stringField(dst, obj, name)
		}
	}
	setBool := func(dst *bool, obj map[string]json.RawMessage, name string) {
		if err == nil {
			err = boolField(dst, obj, name)
		}
	}
	set(&h.Serializer, top, "s")
	set(&h.Version, top, "v")
	if mraw, ok := top["m"]; ok && err == nil {
		var m map[string]json.RawMessage
		if json.Unmarshal(mraw, &m) != nil || m == nil {
			return Header{}, fmt.Errorf(`%w: "m" is not a JSON object`, ErrMalformedHeader)
		}
		set(&h.Format, m, "format")
		set(&h.Encoding, m, "encoding")
		setBool(&h.Compressed, m, "compressed")
		set(&h.OriginalType, m, "original_type")
		setBool(&h.Encrypted, m, "encrypted")
		set(&h.TenantID, m, "tenant_id")
		set(&h.EncryptionAlgorithm, m, "encryption_algorithm")
		set(&h.KeyFingerprint, m, "key_fingerprint")
	}
	if err != nil {
		return Header{}, err
	}
	return h, nil
}

// parseCanonical reads a header written in exactly the layout Encode and
// Python's json.dumps produce (keys in that order, ", " and ": " separators,
// strings without escapes or control characters) without a general JSON
// parse: every read decodes a header, and the map-based parse below cost a
// quarter of a Redis hit's CPU. Anything else (other key order, whitespace,
// escapes, unknown fields) reports false and takes the general parse, so the
// two agree on every input the fast path accepts. raw is valid UTF-8.
func parseCanonical(raw []byte) (Header, bool) {
	var h Header
	c := cursor{b: raw}
	ok := c.lit(`{"s": `) && c.str(&h.Serializer) &&
		c.lit(`, "m": {"format": `) && c.str(&h.Format) &&
		c.lit(`, "encoding": `) && c.str(&h.Encoding) &&
		c.lit(`, "compressed": `) && c.boolean(&h.Compressed) &&
		c.lit(`, "original_type": `) && c.nullable(&h.OriginalType)
	if !ok {
		return Header{}, false
	}
	if c.lit(`, "encrypted": `) {
		ok = c.boolean(&h.Encrypted) &&
			c.lit(`, "tenant_id": `) && c.nullable(&h.TenantID) &&
			c.lit(`, "encryption_algorithm": `) && c.nullable(&h.EncryptionAlgorithm) &&
			c.lit(`, "key_fingerprint": `) && c.nullable(&h.KeyFingerprint)
	}
	ok = ok && c.lit(`}, "v": `) && c.str(&h.Version) && c.lit("}") && len(c.b) == 0
	if !ok {
		return Header{}, false
	}
	return h, true
}

// cursor consumes a canonical header from the front.
type cursor struct{ b []byte }

func (c *cursor) lit(s string) bool {
	if len(c.b) < len(s) || string(c.b[:len(s)]) != s {
		return false
	}
	c.b = c.b[len(s):]
	return true
}

// str reads a JSON string without escapes or control characters. The
// values every writer uses are returned as constants (no allocation).
func (c *cursor) str(dst *string) bool {
	if len(c.b) == 0 || c.b[0] != '"' {
		return false
	}
	for i := 1; i < len(c.b); i++ {
		switch ch := c.b[i]; {
		case ch == '"':
			*dst = intern(c.b[1:i])
			c.b = c.b[i+1:]
			return true
		case ch == '\\' || ch < 0x20:
			return false
		}
	}
	return false
}

func (c *cursor) nullable(dst *string) bool {
	if c.lit("null") {
		*dst = ""
		return true
	}
	return c.str(dst)
}

func (c *cursor) boolean(dst *bool) bool {
	switch {
	case c.lit("true"):
		*dst = true
	case c.lit("false"):
		*dst = false
	default:
		return false
	}
	return true
}

func intern(b []byte) string {
	switch string(b) {
	case SerializerDefault:
		return SerializerDefault
	case FormatMsgpack:
		return FormatMsgpack
	case EncodingUTF8:
		return EncodingUTF8
	case AlgorithmAESGCM:
		return AlgorithmAESGCM
	case HeaderVersion:
		return HeaderVersion
	}
	return string(b)
}

// stringField reads obj[name] as a string or null (absent and null give "").
func stringField(dst *string, obj map[string]json.RawMessage, name string) error {
	raw, ok := obj[name]
	if !ok || string(raw) == "null" {
		return nil
	}
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, dst) != nil {
		return fmt.Errorf("%w: field %s is not a string", ErrMalformedHeader, name)
	}
	return nil
}

// boolField reads obj[name] as a boolean (absent and null give false).
func boolField(dst *bool, obj map[string]json.RawMessage, name string) error {
	raw, ok := obj[name]
	switch {
	case !ok || string(raw) == "null" || string(raw) == "false":
		*dst = false
	case string(raw) == "true":
		*dst = true
	default:
		return fmt.Errorf("%w: field %s is not a boolean", ErrMalformedHeader, name)
	}
	return nil
}

// Kind is what Classify finds in stored auto-mode bytes.
type Kind int

// The kinds of stored auto-mode bytes.
const (
	// KindUnknown: empty input.
	KindUnknown Kind = iota
	// KindFrame: starts with "CK" (a Python writer, or cachekit-go).
	KindFrame
	// KindEnvelope: a bare ByteStorage envelope (a Rust writer).
	KindEnvelope
	// KindRawMsgpack: anything else, to be decoded as one MessagePack document
	// (an integrity-off Rust writer).
	KindRawMsgpack
)

// String returns "frame", "envelope", "raw-msgpack" or "unknown".
func (k Kind) String() string {
	switch k {
	case KindFrame:
		return "frame"
	case KindEnvelope:
		return "envelope"
	case KindRawMsgpack:
		return "raw-msgpack"
	}
	return "unknown"
}

// Classify sniffs stored auto-mode bytes.
//
// Ambiguity is resolved in this order:
//
//  1. "CK" first: a frame. No single well-formed MessagePack document of two or
//     more bytes starts with 43 4b (0x43 is the complete document 67, so
//     anything after it is a trailing byte), so this never captures a valid raw
//     value or an envelope (which starts with 0x94 or a map header).
//  2. A complete envelope shape (envelope.IsShape: fixarray(4) or map with the
//     field names, fields of the right types, nothing after it): an envelope.
//     A raw MessagePack value that happens to have exactly that shape (a
//     4-array [bin, 8 small ints, uint, str]) is read as an envelope and then
//     fails its xxHash3 check (a 2^-64 chance to pass); readers report that as
//     corruption and do not fall back to raw decoding, because a fallback would
//     hand a corrupted envelope's fields to the caller as a value.
//  3. Anything else: raw MessagePack.
func Classify(b []byte) Kind {
	switch {
	case len(b) == 0:
		return KindUnknown
	case IsFrame(b):
		return KindFrame
	case envelope.IsShape(b):
		return KindEnvelope
	}
	return KindRawMsgpack
}

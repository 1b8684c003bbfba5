// Package key builds auto-mode cache keys exactly like the Python SDK
// (PROTOCOL.md section 1):
//
//	[ns:<namespace>:]func:<sanitized identity>:args:<blake2b-256 hex>:<1|0>s
//
// The args hash is blake2b-256 over MessagePack([args, kwargs]) with the
// normalization below, so the same arguments give the same hash in Python,
// Rust and Go. The function segment is Python's module.qualname when the Go
// caller passes that string as the identity (sanitized the same way).
//
// # Normalization
//
//   - integers: shortest form; floats: always float64 (float32 widened),
//     -0.0 becomes 0.0, every NaN becomes Python's NaN (cb 7ff8000000000000),
//     infinities are packed as they are (as Python does)
//   - strings: str; []byte and [N]byte: bin; nil, bool as themselves
//   - slices and arrays: arrays; maps with string keys: sorted by key
//     (code point order) at every level
//   - time.Time: the isoformat STRING Python's aware datetime gives
//     ("2025-11-14T10:30:00+00:00") in t's own zone, so the same instant in
//     two zones gives two keys, like in Python
//   - UUIDs (codec.UUID and any named [16]byte implementing fmt.Stringer,
//     e.g. google/uuid): the lowercase hyphenated string
//   - structs: a map of their exported fields sorted by name (the msgpack tag
//     name when tagged; `msgpack:"-"` skips, omitempty omits empty values).
//     Python has no equivalent (it rejects custom objects); sorting makes the
//     hash independent of field order. A struct with unexported fields (not
//     tagged "-") is REFUSED: the hidden fields would not be part of the key,
//     so two different arguments could silently share one entry. Structs
//     implementing encoding.TextMarshaler use their text form instead.
//   - pointers and interfaces: followed; nil is nil
//
// Anything else (channels, functions, complex numbers, maps with non-string
// keys, ...) fails with ErrUnsupportedType; the cache then runs the call
// uncached, as Python does. Sets (interop.Set) are refused too, as Python
// refuses set and frozenset in auto-mode keys: their order is arbitrary, so
// equal sets could give different keys. Pass a sorted slice instead.
//
// Keys longer than 250 code points are shortened to their first 50 code points,
// ":" and the first 32 hex digits of blake2b-256 over the full key. Spaces, CR
// and LF become "_" (they can only come from the namespace).
//
// Build is on the hot path of every cached call: common scalar types are
// encoded without reflection and buffers are pooled.
package key

import (
	"encoding/binary"
	"encoding/hex"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/crypto/blake2b"

	"github.com/cachekit-go/cachekit/protocol/internal/encode"
	"github.com/cachekit-go/cachekit/protocol/internal/msgpack"
)

// Limits of the key format.
const (
	// MaxKeyLen is the longest key (in code points) left unshortened.
	MaxKeyLen = 250
	// ShortPrefixLen is how many code points a shortened key keeps.
	ShortPrefixLen = 50
	// MaxIdentityLen is the length a sanitized function identity is cut to.
	MaxIdentityLen = 200
)

// Errors Build and ArgsHash return.
var (
	// ErrUnsupportedType: an argument cannot be part of a key.
	ErrUnsupportedType = encode.ErrUnsupportedType
	// ErrTooDeep: an argument is nested too deeply (or cyclic).
	ErrTooDeep = encode.ErrTooDeep
	// ErrTimeRange: a time.Time outside what Python's datetime can hold.
	ErrTimeRange = encode.ErrTimeRange
	// ErrIntRange: a *big.Int outside [-2^63, 2^64-1].
	ErrIntRange = encode.ErrIntRange
)

var profile = &encode.Profile{
	Time:             encode.TimeISO,
	SortStructFields: true,
	StrictStructs:    true,
	CanonicalFloats:  true,
	RejectSets:       true,
	IntKeys:          encode.IntKeysAsInt,
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) > 64<<10 {
		return // do not keep huge buffers alive
	}
	*b = (*b)[:0]
	bufPool.Put(b)
}

// AppendPreimage appends MessagePack([args, kwargs]) with the normalization of
// the package documentation; nil kwargs are written as an empty map.
func AppendPreimage(b []byte, args []any, kwargs map[string]any) ([]byte, error) {
	b = append(b, 0x92)
	b = msgpack.AppendArrayHeader(b, len(args))
	var err error
	for _, a := range args {
		if b, err = encode.Append(b, a, profile); err != nil {
			return b, err
		}
	}
	if kwargs == nil {
		return append(b, 0x80), nil
	}
	return encode.Append(b, kwargs, profile)
}

func sum(args []any, kwargs map[string]any) ([32]byte, error) {
	bp := getBuf()
	defer putBuf(bp)
	b, err := AppendPreimage((*bp)[:0], args, kwargs)
	*bp = b
	if err != nil {
		return [32]byte{}, err
	}
	return blake2b.Sum256(b), nil
}

// ArgsHash returns the lowercase hex blake2b-256 of MessagePack([args, kwargs]).
func ArgsHash(args []any, kwargs map[string]any) (string, error) {
	h, err := sum(args, kwargs)
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(h[:]), nil
}

// Build returns the auto-mode key for one call. namespace may be empty (no
// "ns:" segment); funcIdentity is sanitized; integrity selects the "1s" or
// "0s" suffix.
func Build(namespace, funcIdentity string, args []any, kwargs map[string]any, integrity bool) (string, error) {
	// One pooled buffer holds the preimage, then the key.
	bp := getBuf()
	defer putBuf(bp)
	b, err := AppendPreimage((*bp)[:0], args, kwargs)
	*bp = b
	if err != nil {
		return "", err
	}
	h := blake2b.Sum256(b)
	b = b[:0]
	if namespace != "" {
		b = append(b, "ns:"...)
		for i := 0; i < len(namespace); i++ {
			c := namespace[i]
			if c == ' ' || c == '\n' || c == '\r' {
				c = '_'
			}
			b = append(b, c)
		}
		b = append(b, ':')
	}
	b = append(b, "func:"...)
	b = AppendSanitizedIdentity(b, funcIdentity)
	b = append(b, ":args:"...)
	b = appendHex(b, &h)
	if integrity {
		b = append(b, ":1s"...)
	} else {
		b = append(b, ":0s"...)
	}
	*bp = b
	if len(b) > MaxKeyLen && utf8.RuneCount(b) > MaxKeyLen {
		return shorten(b), nil
	}
	return string(b), nil
}

// appendHex appends the lowercase hex of h, the bytes hex.AppendEncode
// writes, with one table lookup and one 2-byte store per input byte (its
// nibble-at-a-time loop was a fifth of a key's instructions).
func appendHex(b []byte, h *[32]byte) []byte {
	var out [64]byte
	for i, c := range h {
		binary.LittleEndian.PutUint16(out[2*i:], hexPairs[c])
	}
	return append(b, out[:]...)
}

// hexPairs holds the two hex digits of each byte value, the first in the
// low byte (little-endian order puts it first in memory).
var hexPairs = func() (t [256]uint16) {
	const digits = "0123456789abcdef"
	for c := range t {
		t[c] = uint16(digits[c>>4]) | uint16(digits[c&0x0f])<<8
	}
	return t
}()

func shorten(full []byte) string {
	h := blake2b.Sum256(full)
	cut := 0
	for range ShortPrefixLen {
		_, size := utf8.DecodeRune(full[cut:])
		cut += size
	}
	var sb strings.Builder
	sb.Grow(cut + 33)
	sb.Write(full[:cut])
	sb.WriteByte(':')
	sb.WriteString(hex.EncodeToString(h[:16]))
	return sb.String()
}

// SanitizeIdentity applies Python's function-identity rule: every character
// outside [A-Za-z0-9_.] becomes "_", runs of dots collapse to one, and the
// result is cut to 200 characters.
func SanitizeIdentity(s string) string {
	if isSanitized(s) {
		return s
	}
	return string(AppendSanitizedIdentity(nil, s))
}

func isSanitized(s string) bool {
	if len(s) > MaxIdentityLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !identChar(c) || (c == '.' && i > 0 && s[i-1] == '.') {
			return false
		}
	}
	return true
}

func identChar(c byte) bool {
	return c == '_' || c == '.' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9')
}

// identPlain marks the bytes that are kept and are not a dot: [A-Za-z0-9_].
var identPlain = func() (t [256]bool) {
	for c := range t {
		t[c] = c != '.' && identChar(byte(c))
	}
	return t
}()

// AppendSanitizedIdentity appends SanitizeIdentity(s) to b without allocating.
func AppendSanitizedIdentity(b []byte, s string) []byte {
	if len(s) <= MaxIdentityLen {
		// Every identity on the hot path (a Go import path and function
		// name) is short ASCII without a run of dots: then each byte maps
		// to one byte in place, with no rune decoding and no cut. A dot
		// stays a dot and anything replaced becomes "_", so the output's
		// previous byte tells whether the input had two dots in a row.
		start := len(b)
		b = append(b, s...)
		out := b[start:]
		for i, c := range out {
			if identPlain[c] {
				continue
			}
			switch {
			case c == '.':
				if i > 0 && out[i-1] == '.' {
					b = b[:start]
					goto general
				}
			case c >= utf8.RuneSelf:
				b = b[:start]
				goto general
			default:
				out[i] = '_'
			}
		}
		return b
	}
general:
	start := len(b)
	for _, r := range s { // one "_" per code point, like Python's re.sub on str
		if len(b)-start >= MaxIdentityLen {
			break
		}
		switch {
		case r < utf8.RuneSelf && identChar(byte(r)):
			if r == '.' && len(b) > start && b[len(b)-1] == '.' {
				continue
			}
			b = append(b, byte(r))
		default:
			b = append(b, '_')
		}
	}
	return b
}

// Package interop implements CacheKit interop mode (PROTOCOL.md section 2): the
// one officially cross-language surface, where the same operation called from
// Python, Rust or Go with the same arguments reads and writes the same entry.
//
// A key is "{namespace}:{operation}:{args_hash}" where both segments must fully
// match ^[a-z0-9][a-z0-9._-]{0,63}$ (a trailing newline is an error, unlike
// Python's re.match) and args_hash is the lowercase hex blake2b-256 of the
// canonical MessagePack of the flat argument array. Segments are checked
// against that pattern only, as cachekit-py 0.17 does; later Python releases
// also refuse ".." inside a segment (the CacheKit API server rejects ".." in
// any key) and the namespaces "ns" and "nsapi", so names shared with them
// should avoid both. Values are one plain
// canonical MessagePack document: no envelope, compression, checksum or frame.
//
// # Canonical encoding
//
// One encoder, two profiles:
//
//   - integers: shortest form; Go's integer types cannot leave [-2^63, 2^64-1],
//     a *big.Int outside it fails with ErrIntRange
//   - floats: NaN and infinities fail with ErrNonFinite. ARGS profile
//     (CanonicalArgs, Key): a float with an integral value in [-2^63, 2^64) is
//     written as that integer (-0.0 becomes 0); VALUE profile (EncodeValue):
//     floats stay float64 (float32 widened)
//   - strings: unchanged, must be valid UTF-8 (ErrInvalidUTF8); []byte: bin
//   - slices and arrays: arrays in order; Set: its elements encoded one by
//     one, sorted by encoded bytes, duplicates dropped, written as an array
//   - maps: string keys only (ErrUnsupportedType otherwise), sorted by code
//     point (UTF-8 byte order) at every level; structs are maps of their
//     exported fields, sorted the same way (msgpack tags honoured). In ARGS a
//     struct with unexported fields is refused, as in protocol/key
//   - time.Time: ARGS: floor(microseconds since the epoch) / 1e6 as one
//     float64 division, then the integral collapse; VALUES: the sentinel map
//     {"__datetime__": true, "value": "<isoformat>"}. Python rejects naive
//     datetimes; a Go time.Time always has a location, so that error cannot
//     happen here (taggedjson rejects naive text on input)
//   - UUIDs (codec.UUID and any named [16]byte implementing fmt.Stringer):
//     the lowercase hyphenated string
//   - pointers and interfaces are followed; nil is nil
//
// Reading: DecodeValue and UnmarshalValue accept any single well-formed
// document (sorted or not), reject trailing bytes, and reject a value starting
// with "CK" (0x43 0x4b), which is a Python CK frame written by an auto-mode
// decorator, with ErrPythonFrame. Decoding otherwise follows protocol/codec,
// including the revival of datetime sentinel maps into time.Time.
package interop

import (
	"encoding/hex"
	"errors"
	"fmt"

	"golang.org/x/crypto/blake2b"

	"github.com/cachekit-go/cachekit/protocol/codec"
	"github.com/cachekit-go/cachekit/protocol/internal/encode"
	"github.com/cachekit-go/cachekit/protocol/internal/msgpack"
)

// Errors for what callers branch on.
var (
	// ErrInvalidSegment: a namespace or operation does not fully match
	// SegmentPattern.
	ErrInvalidSegment = errors.New("interop: namespace and operation must match ^[a-z0-9][a-z0-9._-]{0,63}$")
	// ErrPythonFrame: a value starts with "CK", the Python frame magic; it was
	// written by an auto-mode decorator, not in interop mode.
	ErrPythonFrame = errors.New("interop: value is a Python CK frame, not an interop value")
	// ErrNonFinite: NaN or an infinity.
	ErrNonFinite = encode.ErrNonFinite
	// ErrIntRange: an integer outside [-2^63, 2^64-1].
	ErrIntRange = encode.ErrIntRange
	// ErrInvalidUTF8: a string that is not valid UTF-8.
	ErrInvalidUTF8 = encode.ErrInvalidUTF8
	// ErrUnsupportedType: a Go value with no canonical form (channels,
	// functions, complex numbers, maps with non-string keys, ...).
	ErrUnsupportedType = encode.ErrUnsupportedType
	// ErrTooDeep: nesting beyond codec.MaxDepth (or a cycle).
	ErrTooDeep = encode.ErrTooDeep
	// ErrTimeRange: a time.Time outside what Python's datetime can hold.
	ErrTimeRange = encode.ErrTimeRange
)

// SegmentPattern is the pattern namespace and operation must fully match.
const SegmentPattern = `^[a-z0-9][a-z0-9._-]{0,63}$`

// Set is an unordered collection of arguments (a Python set or frozenset).
// Its elements are encoded one by one, sorted by their encoded bytes and
// de-duplicated, so {3, 1, 2} and {1, 2, 3, 3} hash the same.
type Set []any

// SetElements returns the members of s; it marks Set for the encoder.
func (s Set) SetElements() []any { return s }

var (
	argsProfile = &encode.Profile{
		Time:                   encode.TimeEpoch,
		SortStructFields:       true,
		StrictStructs:          true,
		CollapseIntegralFloats: true,
		RejectNonFinite:        true,
		ValidateUTF8:           true,
		Sets:                   true,
		RejectCivil:            true,
	}
	valueProfile = &encode.Profile{
		Time:             encode.TimeSentinel,
		SortStructFields: true,
		RejectNonFinite:  true,
		ValidateUTF8:     true,
		RejectSets:       true,
		RejectCivil:      true,
	}
)

// ValidSegment reports whether s fully matches SegmentPattern.
func ValidSegment(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case i > 0 && (c == '.' || c == '_' || c == '-'):
		default:
			return false
		}
	}
	return true
}

// CanonicalArgs returns the canonical MessagePack (ARGS profile) of the flat
// argument array.
func CanonicalArgs(args []any) ([]byte, error) {
	return AppendCanonicalArgs(nil, args)
}

// AppendCanonicalArgs appends the canonical MessagePack of args to b.
func AppendCanonicalArgs(b []byte, args []any) ([]byte, error) {
	b = msgpack.AppendArrayHeader(b, len(args))
	var err error
	for i, a := range args {
		if b, err = encode.Append(b, a, argsProfile); err != nil {
			return nil, fmt.Errorf("interop: argument %d: %w", i, err)
		}
	}
	return b, nil
}

// ArgsHash returns the lowercase hex blake2b-256 of CanonicalArgs(args).
func ArgsHash(args []any) (string, error) {
	b, err := CanonicalArgs(args)
	if err != nil {
		return "", err
	}
	h := blake2b.Sum256(b)
	return hex.EncodeToString(h[:]), nil
}

// Key returns "{namespace}:{operation}:{args_hash}". Both segments are
// validated; keys are never truncated.
func Key(namespace, operation string, args []any) (string, error) {
	if !ValidSegment(namespace) {
		return "", fmt.Errorf("%w (namespace)", ErrInvalidSegment)
	}
	if !ValidSegment(operation) {
		return "", fmt.Errorf("%w (operation)", ErrInvalidSegment)
	}
	h, err := ArgsHash(args)
	if err != nil {
		return "", err
	}
	return namespace + ":" + operation + ":" + h, nil
}

// EncodeValue returns the canonical MessagePack (VALUE profile) of v.
func EncodeValue(v any) ([]byte, error) {
	b, err := encode.Append(nil, v, valueProfile)
	if err != nil {
		return nil, fmt.Errorf("interop: %w", err)
	}
	return b, nil
}

func checkFrame(data []byte) error {
	if len(data) >= 2 && data[0] == 'C' && data[1] == 'K' {
		return ErrPythonFrame
	}
	return nil
}

// DecodeValue decodes one interop value into generic Go values (as
// codec.Decode does). Trailing bytes, malformed input and Python CK frames
// are rejected.
func DecodeValue(data []byte) (any, error) {
	if err := checkFrame(data); err != nil {
		return nil, err
	}
	return codec.Decode(data)
}

// UnmarshalValue decodes one interop value into the Go value v points to (as
// codec.Unmarshal does), with the checks of DecodeValue.
func UnmarshalValue(data []byte, v any) error {
	if err := checkFrame(data); err != nil {
		return err
	}
	return codec.Unmarshal(data, v)
}

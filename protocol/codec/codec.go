// Package codec is the MessagePack value codec of cachekit-go: the Go side of
// the Python SDK's StandardSerializer (PROTOCOL.md section 3), used for the
// values of auto-mode cache entries.
//
// # What Marshal writes
//
//   - nil, untyped nil interfaces, nil pointers, nil slices and nil maps: nil
//   - bool: bool
//   - int, int8..int64, uint, uint8..uint64 and named types of them: the
//     shortest integer form (non-negative values always use the unsigned forms)
//   - float32 and float64: always float64 (float32 is widened exactly; NaN and
//     infinities are written as they are)
//   - string: str (must be valid UTF-8: Python cannot decode anything else)
//   - []byte and [N]byte: bin
//   - other slices and arrays: array
//   - maps with string keys: map, sorted by key so equal maps give equal bytes
//   - maps with integer keys (map[int]string, map[uint64]T, ...): map whose
//     keys are the decimal strings of the integers, sorted numerically.
//     Python's reader (strict_map_key) cannot load integer keys, so they are
//     written as strings; Unmarshal parses them back into the integer type
//   - structs: map of the exported fields in declaration order, keyed by the
//     field name or the name its tag gives. The tag is the first present of
//     `cachekit`, `msgpack` and `json` (so a `json:"-"` field is never
//     written unless a cachekit or msgpack tag says otherwise): "name"
//     renames, "-" skips, ",omitempty" (or ",omitzero") omits false, 0, "",
//     nil and empty or zero values; untagged embedded structs are inlined
//     like encoding/json does
//   - time.Time: the sentinel map {"__datetime__": true, "value": <isoformat>}
//     where isoformat is Python's datetime.isoformat() in t's own zone
//     ("2025-11-14T10:30:00+00:00", ".ffffff" only when the microseconds are
//     not zero). Nanoseconds below a microsecond are truncated; years outside
//     1..9999 fail with ErrTimeRange
//   - UUIDs: the lowercase hyphenated string. A UUID is the UUID type of this
//     package or ANY named [16]byte type that implements fmt.Stringer, such as
//     github.com/google/uuid.UUID, recognised without importing it
//   - *big.Int (and big.Int) within [-2^63, 2^64-1]: an integer
//   - other structs implementing encoding.TextMarshaler (netip.Addr, decimal
//     types): str of their text form
//   - Date and TimeOfDay (Python's date and time): the sentinel maps
//     {"__date__": true, "value": "2025-11-14"} and
//     {"__time__": true, "value": "10:30:00[.ffffff][+HH:MM]"}
//   - pointers and interfaces: the value they point to
//
// Anything else (channels, functions, complex numbers, unsafe pointers,
// uintptr, maps whose keys are neither strings nor integers) fails with
// ErrUnsupportedType and never panics; nesting deeper than MaxDepth (which is
// how cycles end) fails with ErrTooDeep.
//
// # What Decode and Unmarshal read
//
// Any single well-formed MessagePack document; trailing bytes fail with
// ErrTrailingBytes, malformed or truncated input with ErrMalformed, extension
// types with ErrExtension, map keys that are not str with ErrNonStringKey,
// invalid UTF-8 in a str with ErrInvalidUTF8. Decode returns nil, bool, int64
// (uint64 only above math.MaxInt64), float64, string, []byte, []any,
// map[string]any, time.Time, Date and TimeOfDay.
//
// Temporal sentinels: a map of exactly two entries whose "__datetime__" entry
// is the boolean true and whose "value" is a string Python's isoformat could
// have produced becomes a time.Time (a naive value is taken as UTC). Unlike
// Python, which revives any map with a truthy "__datetime__", anything else
// stays a plain map, so user data that merely looks like a sentinel survives.
// "__date__" ("2025-11-14") decodes to a Date and "__time__" ("10:30:00",
// optionally with fraction and offset) to a TimeOfDay, so a Go program can
// tell them from datetimes and writes them back as what they were. A date
// decoded into a time.Time target becomes midnight UTC of that day.
//
// Precision of time.Time: the sentinel carries Python's isoformat, so a
// time.Time comes back as the same instant truncated to the microsecond, in a
// fixed zone with the original UTC offset (time.UTC for offset zero). The
// zone's name (America/New_York) is not kept; convert with t.In(loc) after
// reading. cachekit applies the same round trip to what its in-process tier
// keeps, so every replica sees the same value.
//
// Unmarshal fills typed Go values through reflection: structs by field name or
// tag (unknown keys skipped), slices, arrays (extra elements skipped, missing
// ones zeroed), maps with string keys, maps with integer keys (from decimal
// strings or integer keys), pointers (allocated as needed), empty
// interfaces (as Decode), time.Time from any sentinel (or an isoformat
// string), UUIDs from their string (any case, with or without hyphens or
// braces) or a 16-byte bin, encoding.TextUnmarshaler structs from str, and
// numbers with overflow checks (ErrOverflow); an integer may fill a float, a
// float never fills an integer (ErrTypeMismatch). A nil document decoded into
// a type that cannot be nil (string, int, a struct, ...) fails with
// ErrTypeMismatch: a stored nil is not "" or 0. Inside a document a nil sets
// the zero value.
//
// Decoding is bounded: recursion stops at MaxDepth, and a container header
// reserves memory only out of a per-document budget of 16 bytes per input byte
// (and at most 1 MiB per container); beyond it a slice or map grows as its
// elements are actually read. Each header is only checked against the input
// that remains, so without the shared budget headers nested inside each other
// could each reserve the whole input again (MaxDepth times over). What is left
// is proportional to the input, times the size of the target's element type.
package codec

import (
	"github.com/cachekit-go/cachekit/protocol/internal/encode"
)

// MaxDepth bounds the nesting Marshal, Decode and Unmarshal follow.
const MaxDepth = encode.MaxDepth

// Errors for what callers branch on.
var (
	// ErrUnsupportedType: Marshal met a Go type it cannot represent.
	ErrUnsupportedType = encode.ErrUnsupportedType
	// ErrTooDeep: nesting beyond MaxDepth (or a cycle).
	ErrTooDeep = encode.ErrTooDeep
	// ErrInvalidUTF8: a string is not valid UTF-8.
	ErrInvalidUTF8 = encode.ErrInvalidUTF8
	// ErrTimeRange: a time.Time Python's datetime cannot hold.
	ErrTimeRange = encode.ErrTimeRange
	// ErrIntRange: a *big.Int outside [-2^63, 2^64-1].
	ErrIntRange = encode.ErrIntRange
)

var profile = &encode.Profile{Time: encode.TimeSentinel, ValidateUTF8: true, IntKeys: encode.IntKeysAsString}

// Marshal encodes v with the StandardSerializer rules listed in the package
// documentation.
func Marshal(v any) ([]byte, error) {
	b, err := encode.Append(make([]byte, 0, 128), v, profile)
	if err != nil {
		return nil, err
	}
	return b, nil
}

// AppendMarshal appends the encoding of v to b. On error the returned slice
// holds an unspecified partial encoding after b; callers should discard it.
func AppendMarshal(b []byte, v any) ([]byte, error) {
	return encode.Append(b, v, profile)
}

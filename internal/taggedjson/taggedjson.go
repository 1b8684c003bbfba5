// Package taggedjson reads and writes the tagged-JSON convention of the
// interop test vectors (vectors/interop-mode.json, block "tagged_json"): JSON
// where a single-key object whose key is one of the tags below stands for a
// typed value JSON cannot express. It is used by the vector tests and by the
// CLI to print and accept values.
//
//	{"$bytes": "deadbeef"}                -> []byte (hex, any case)
//	{"$datetime": "2024-01-01T00:00:00+00:00"} -> time.Time (the offset is mandatory)
//	{"$date": "2024-01-01"}               -> codec.Date (Python's date)
//	{"$time": "10:30:00.5+02:00"}         -> codec.TimeOfDay (Python's time; offset optional)
//	{"$uuid": "550E8400-..."}             -> codec.UUID (any case)
//	{"$float": "3.14"}                    -> float64 ("nan", "1e999", "-1e999" give NaN, +Inf, -Inf)
//	{"$int": "18446744073709551615"}      -> int64, uint64 above MaxInt64, *big.Int beyond
//	{"$set": [...]}                       -> interop.Set of tagged values
//
// Plain JSON numbers become int64 (uint64 above MaxInt64, *big.Int beyond
// uint64) when they are written without fraction or exponent, float64
// otherwise; objects become map[string]any, arrays []any. Integers out of the
// interop range are kept as *big.Int rather than refused here so that the
// canonical encoder reports them (interop.ErrIntRange), as the vectors expect.
// A single-key object with an unknown "$" key is an ordinary map.
//
// Format is the reverse: floats are ALWAYS written as {"$float": "..."} with
// the shortest text that parses back to the same float64, integers beyond
// +-2^53 as {"$int": "..."}, []byte as $bytes, time.Time as $datetime (Python
// isoformat), codec.Date as $date, codec.TimeOfDay as $time, UUIDs as $uuid, interop.Set as $set, maps with sorted keys.
package taggedjson

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cachekit-go/cachekit/protocol/codec"
	"github.com/cachekit-go/cachekit/protocol/interop"
)

// Errors.
var (
	// ErrSyntax: the input is not JSON, or has trailing data.
	ErrSyntax = errors.New("taggedjson: invalid JSON")
	// ErrBadTag: a tag's payload is malformed ($bytes not hex, $float not a
	// number, ...).
	ErrBadTag = errors.New("taggedjson: malformed tagged value")
	// ErrNaiveDatetime: a $datetime without UTC offset (Python's naive
	// datetime, which interop mode rejects).
	ErrNaiveDatetime = errors.New("taggedjson: $datetime without UTC offset")
	// ErrUnsupported: Format met a value it cannot write.
	ErrUnsupported = errors.New("taggedjson: unsupported value")
	// ErrAmbiguous: Format met a map that would read back as a tag.
	ErrAmbiguous = errors.New("taggedjson: map looks like a tagged value")
	// ErrTooDeep: nesting beyond codec.MaxDepth.
	ErrTooDeep = errors.New("taggedjson: nesting too deep")
)

// Parse decodes one tagged-JSON document.
func Parse(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var raw any
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSyntax, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: trailing data", ErrSyntax)
	}
	return FromJSON(raw)
}

// FromJSON converts a value decoded by encoding/json with UseNumber (or
// without: float64 numbers are taken as they are) into tagged values.
func FromJSON(raw any) (any, error) {
	return fromJSON(raw, 0)
}

var tags = []string{"$bytes", "$datetime", "$date", "$time", "$uuid", "$float", "$int", "$set"}

func fromJSON(raw any, depth int) (any, error) {
	if depth > codec.MaxDepth {
		return nil, ErrTooDeep
	}
	switch x := raw.(type) {
	case json.Number:
		return number(string(x))
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			v, err := fromJSON(e, depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	case map[string]any:
		if len(x) == 1 {
			for k, v := range x {
				if slices.Contains(tags, k) {
					return tagged(k, v, depth)
				}
			}
		}
		out := make(map[string]any, len(x))
		for k, e := range x {
			v, err := fromJSON(e, depth+1)
			if err != nil {
				return nil, err
			}
			out[k] = v
		}
		return out, nil
	}
	return raw, nil // nil, bool, string, float64
}

func number(s string) (any, error) {
	if !strings.ContainsAny(s, ".eE") {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return i, nil
		}
		if u, err := strconv.ParseUint(s, 10, 64); err == nil {
			return u, nil
		}
		if b, ok := new(big.Int).SetString(s, 10); ok {
			return b, nil
		}
		return nil, fmt.Errorf("%w: integer", ErrBadTag)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return nil, fmt.Errorf("%w: number", ErrBadTag)
	}
	return f, nil
}

func tagged(tag string, v any, depth int) (any, error) {
	if tag == "$set" {
		arr, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("%w: $set needs an array", ErrBadTag)
		}
		out, err := fromJSON(arr, depth+1)
		if err != nil {
			return nil, err
		}
		return interop.Set(out.([]any)), nil
	}
	s, ok := v.(string)
	if !ok {
		return nil, fmt.Errorf("%w: %s needs a string", ErrBadTag, tag)
	}
	switch tag {
	case "$bytes":
		b, err := hex.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("%w: $bytes: %w", ErrBadTag, err)
		}
		return b, nil
	case "$datetime":
		return parseDatetime(s)
	case "$date":
		d, err := codec.ParseDate(s)
		if err != nil {
			return nil, fmt.Errorf("%w: $date: %w", ErrBadTag, err)
		}
		return d, nil
	case "$time":
		t, err := codec.ParseTimeOfDay(s)
		if err != nil {
			return nil, fmt.Errorf("%w: $time: %w", ErrBadTag, err)
		}
		return t, nil
	case "$uuid":
		u, err := codec.ParseUUID(s)
		if err != nil {
			return nil, fmt.Errorf("%w: $uuid: %w", ErrBadTag, err)
		}
		return u, nil
	case "$float":
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return nil, fmt.Errorf("%w: $float", ErrBadTag)
		}
		return f, nil
	default: // "$int"
		if strings.ContainsAny(s, ".eE") {
			return nil, fmt.Errorf("%w: $int", ErrBadTag)
		}
		return number(s)
	}
}

func parseDatetime(s string) (time.Time, error) {
	t, naive, err := codec.ParseTime(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: $datetime: %w", ErrBadTag, err)
	}
	if naive {
		return time.Time{}, ErrNaiveDatetime
	}
	return t, nil
}

// Format writes v as tagged JSON (see the package documentation). Accepted
// inputs are what Parse, codec.Decode and interop.DecodeValue return, plus
// the other Go integer and float types.
func Format(v any) ([]byte, error) {
	var buf bytes.Buffer
	if err := format(&buf, v, 0); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

const maxSafe = 1 << 53

func writeString(buf *bytes.Buffer, s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: string is not valid UTF-8", ErrUnsupported)
	}
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		return err
	}
	buf.Truncate(buf.Len() - 1) // Encode adds a newline
	return nil
}

func writeTag(buf *bytes.Buffer, tag, val string) error {
	buf.WriteString(`{"` + tag + `": `)
	if err := writeString(buf, val); err != nil {
		return err
	}
	buf.WriteByte('}')
	return nil
}

// FormatFloat returns the tagged-JSON text of f: the shortest decimal that
// parses back to f, with ".0" added to integral values, and "nan", "1e999",
// "-1e999" for NaN and the infinities.
func FormatFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "1e999"
	case math.IsInf(f, -1):
		return "-1e999"
	}
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if !strings.ContainsAny(s, ".e") {
		s += ".0"
	}
	return s
}

func writeInt(buf *bytes.Buffer, mag uint64, text string) error {
	if mag <= maxSafe {
		buf.WriteString(text)
		return nil
	}
	return writeTag(buf, "$int", text)
}

func format(buf *bytes.Buffer, v any, depth int) error {
	if depth > codec.MaxDepth {
		return ErrTooDeep
	}
	switch x := v.(type) {
	case nil:
		buf.WriteString("null")
	case bool:
		buf.WriteString(strconv.FormatBool(x))
	case int:
		return formatInt(buf, int64(x))
	case int8:
		return formatInt(buf, int64(x))
	case int16:
		return formatInt(buf, int64(x))
	case int32:
		return formatInt(buf, int64(x))
	case int64:
		return formatInt(buf, x)
	case uint:
		return formatUint(buf, uint64(x))
	case uint8:
		return formatUint(buf, uint64(x))
	case uint16:
		return formatUint(buf, uint64(x))
	case uint32:
		return formatUint(buf, uint64(x))
	case uint64:
		return formatUint(buf, x)
	case *big.Int:
		if x == nil {
			buf.WriteString("null")
			return nil
		}
		if x.IsInt64() {
			return formatInt(buf, x.Int64())
		}
		return writeTag(buf, "$int", x.String())
	case float64:
		return writeTag(buf, "$float", FormatFloat(x))
	case float32:
		return writeTag(buf, "$float", FormatFloat(float64(x)))
	case string:
		return writeString(buf, x)
	case []byte:
		if x == nil {
			buf.WriteString("null")
			return nil
		}
		return writeTag(buf, "$bytes", hex.EncodeToString(x))
	case time.Time:
		s, err := codec.FormatTime(x)
		if err != nil {
			return err
		}
		return writeTag(buf, "$datetime", s)
	case codec.Date:
		if !x.IsValid() {
			return fmt.Errorf("%w: invalid date %+v", ErrUnsupported, x)
		}
		return writeTag(buf, "$date", x.String())
	case codec.TimeOfDay:
		if !x.IsValid() {
			return fmt.Errorf("%w: invalid time of day %+v", ErrUnsupported, x)
		}
		return writeTag(buf, "$time", x.String())
	case codec.UUID:
		return writeTag(buf, "$uuid", x.String())
	case interop.Set:
		buf.WriteString(`{"$set": `)
		if err := formatList(buf, x, depth); err != nil {
			return err
		}
		buf.WriteByte('}')
	case []any:
		if x == nil {
			buf.WriteString("null")
			return nil
		}
		return formatList(buf, x, depth)
	case map[string]any:
		if x == nil {
			buf.WriteString("null")
			return nil
		}
		return formatMap(buf, x, depth)
	default:
		return fmt.Errorf("%w: %T", ErrUnsupported, v)
	}
	return nil
}

func formatInt(buf *bytes.Buffer, i int64) error {
	mag := uint64(i)
	if i < 0 {
		mag = uint64(-(i + 1)) + 1
	}
	return writeInt(buf, mag, strconv.FormatInt(i, 10))
}

func formatUint(buf *bytes.Buffer, u uint64) error {
	return writeInt(buf, u, strconv.FormatUint(u, 10))
}

func formatList(buf *bytes.Buffer, x []any, depth int) error {
	buf.WriteByte('[')
	for i, e := range x {
		if i > 0 {
			buf.WriteString(", ")
		}
		if err := format(buf, e, depth+1); err != nil {
			return err
		}
	}
	buf.WriteByte(']')
	return nil
}

func formatMap(buf *bytes.Buffer, m map[string]any, depth int) error {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	if len(keys) == 1 && slices.Contains(tags, keys[0]) {
		return ErrAmbiguous
	}
	slices.Sort(keys)
	buf.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			buf.WriteString(", ")
		}
		if err := writeString(buf, k); err != nil {
			return err
		}
		buf.WriteString(": ")
		if err := format(buf, m[k], depth+1); err != nil {
			return err
		}
	}
	buf.WriteByte('}')
	return nil
}

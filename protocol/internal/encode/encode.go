// Package encode is the one reflective MessagePack encoder behind protocol/codec
// (values), protocol/key (auto-mode key preimages) and protocol/interop (canonical
// args and values). The three differ only in a handful of rules, captured by a
// Profile: how time.Time is written, whether struct fields are sorted, whether
// structs with unexported fields are refused, how floats are normalized, whether
// NaN/Inf are rejected, whether strings must be valid UTF-8, and whether set
// types are sorted and de-duplicated. Writing the walker once guarantees that a
// scalar is encoded identically in every layer.
//
// Common scalar types and []any / map[string]any go through a type switch
// without reflection (key building is on the hot path of every cached call);
// everything else falls back to reflect.
package encode

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/cachekit-go/cachekit/protocol/internal/msgpack"
)

// MaxDepth bounds the nesting of arrays, maps, structs and pointers the encoder
// follows. A cyclic value (a pointer that leads back to itself) hits this limit
// and fails with ErrTooDeep instead of overflowing the stack.
const MaxDepth = 256

// Errors shared by every profile. The public packages re-export them, so
// errors.Is works whichever package a caller imports.
var (
	// ErrUnsupportedType reports a Go value the encoder cannot represent:
	// channels, functions, complex numbers, unsafe pointers, uintptr, maps
	// with non-string keys, or (in key profiles) structs with unexported fields.
	ErrUnsupportedType = errors.New("cachekit: unsupported type")
	// ErrTooDeep reports nesting beyond MaxDepth (also how cycles end).
	ErrTooDeep = errors.New("cachekit: value nested too deeply")
	// ErrInvalidUTF8 reports a string that is not valid UTF-8 where the
	// profile requires it (values and interop: other SDKs cannot decode it).
	ErrInvalidUTF8 = errors.New("cachekit: string is not valid UTF-8")
	// ErrNonFinite reports NaN or an infinity where the profile forbids them.
	ErrNonFinite = errors.New("cachekit: NaN or infinite float not allowed")
	// ErrIntRange reports an integer outside [-2^63, 2^64-1].
	ErrIntRange = errors.New("cachekit: integer outside [-2^63, 2^64-1]")
	// ErrTimeRange reports a time.Time that Python's datetime cannot hold
	// (year outside 1..9999, or a UTC offset of a day or more).
	ErrTimeRange = errors.New("cachekit: time outside the range Python datetime supports")
)

// TimeMode says how a time.Time is written.
type TimeMode uint8

// The ways a time.Time can be written.
const (
	// TimeSentinel writes {"__datetime__": true, "value": "<isoformat>"}.
	TimeSentinel TimeMode = iota
	// TimeISO writes the isoformat string itself.
	TimeISO
	// TimeEpoch writes floor(microseconds since the epoch) / 1e6 as a float64,
	// subject to the integral-float collapse of the profile.
	TimeEpoch
)

// Profile selects the rules of one encoding.
type Profile struct {
	Time TimeMode
	// SortStructFields writes struct fields sorted by name (canonical forms)
	// instead of in declaration order.
	SortStructFields bool
	// StrictStructs refuses structs with unexported fields (not tagged "-"):
	// their contents would not be part of a key, so two different arguments
	// could share one cache entry.
	StrictStructs bool
	// CollapseIntegralFloats writes a float with an integral value in
	// [-2^63, 2^64) as that integer (-0.0 becomes 0).
	CollapseIntegralFloats bool
	// RejectNonFinite fails on NaN and infinities.
	RejectNonFinite bool
	// CanonicalFloats rewrites -0.0 as 0.0 and every NaN as Python's NaN
	// (0x7ff8000000000000).
	CanonicalFloats bool
	// ValidateUTF8 fails on strings that are not valid UTF-8.
	ValidateUTF8 bool
	// Sets writes values implementing SetLike as a sorted, de-duplicated array
	// of their encoded elements; otherwise they are encoded as what they are.
	Sets bool
	// RejectSets fails on values implementing SetLike (auto-mode keys: Python
	// rejects sets there) unless Sets is on.
	RejectSets bool
	// IntKeys says how maps with integer keys are written.
	IntKeys IntKeyMode
	// RejectCivil fails on Date and TimeOfDay values (the interop data model
	// has neither).
	RejectCivil bool
}

// IntKeyMode says how maps whose keys are integers are written. Whatever the
// mode, their entries are sorted by the numeric value of their keys, as
// Python sorts a dict with integer keys.
type IntKeyMode uint8

// The ways a map with integer keys can be written.
const (
	// IntKeysRefuse fails with ErrUnsupportedType (interop: the data model
	// has string keys only).
	IntKeysRefuse IntKeyMode = iota
	// IntKeysAsInt writes the keys as MessagePack integers, like
	// msgpack.packb does for a Python dict with int keys (auto-mode key
	// preimages, where the bytes must equal Python's).
	IntKeysAsInt
	// IntKeysAsString writes each key as its decimal string (values: Python's
	// reader, with strict_map_key, cannot load integer keys, and the Go
	// decoder parses the strings back into the integer key type).
	IntKeysAsString
)

// Civil is implemented by protocol/codec's Date and TimeOfDay: they are
// written as Python's {"__date__"/"__time__": true, "value": iso} sentinel
// (as the iso string itself in TimeISO profiles), and refused by profiles
// with RejectCivil.
type Civil interface {
	CivilSentinel() (key, value string, err error)
}

// SetLike is implemented by set types (interop.Set): their elements are encoded
// one by one, sorted by encoded bytes and de-duplicated when Profile.Sets is on.
type SetLike interface {
	SetElements() []any
}

// CanonicalNaN is the bit pattern of Python's float('nan').
const CanonicalNaN = 0x7ff8000000000000

// Append appends the encoding of v under profile p.
func Append(b []byte, v any, p *Profile) ([]byte, error) {
	e := encoder{p: p}
	return e.value(b, v, 0)
}

type encoder struct {
	p *Profile
}

var (
	timeType          = reflect.TypeFor[time.Time]()
	bigIntType        = reflect.TypeFor[big.Int]()
	stringerType      = reflect.TypeFor[fmt.Stringer]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
	setLikeType       = reflect.TypeFor[SetLike]()
	civilType         = reflect.TypeFor[Civil]()
	byteType          = reflect.TypeFor[byte]()
)

func unsupported(t reflect.Type, why string) error {
	if why == "" {
		return fmt.Errorf("%w: %s", ErrUnsupportedType, t)
	}
	return fmt.Errorf("%w: %s (%s)", ErrUnsupportedType, t, why)
}

func (e *encoder) value(b []byte, v any, depth int) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return msgpack.AppendNil(b), nil
	case bool:
		return msgpack.AppendBool(b, x), nil
	case int:
		return msgpack.AppendInt(b, int64(x)), nil
	case int8:
		return msgpack.AppendInt(b, int64(x)), nil
	case int16:
		return msgpack.AppendInt(b, int64(x)), nil
	case int32:
		return msgpack.AppendInt(b, int64(x)), nil
	case int64:
		return msgpack.AppendInt(b, x), nil
	case uint:
		return msgpack.AppendUint(b, uint64(x)), nil
	case uint8:
		return msgpack.AppendUint(b, uint64(x)), nil
	case uint16:
		return msgpack.AppendUint(b, uint64(x)), nil
	case uint32:
		return msgpack.AppendUint(b, uint64(x)), nil
	case uint64:
		return msgpack.AppendUint(b, x), nil
	case float64:
		return e.float(b, x)
	case float32:
		return e.float(b, float64(x))
	case string:
		return e.str(b, x)
	case []byte:
		if x == nil {
			return msgpack.AppendNil(b), nil
		}
		return msgpack.AppendBytes(b, x), nil
	case time.Time:
		return e.time(b, x)
	case *big.Int:
		if x == nil {
			return msgpack.AppendNil(b), nil
		}
		return appendBig(b, x)
	case []any:
		if x == nil {
			return msgpack.AppendNil(b), nil
		}
		if depth >= MaxDepth {
			return b, ErrTooDeep
		}
		b = msgpack.AppendArrayHeader(b, len(x))
		var err error
		for _, el := range x {
			if b, err = e.value(b, el, depth+1); err != nil {
				return b, err
			}
		}
		return b, nil
	case map[string]any:
		if x == nil {
			return msgpack.AppendNil(b), nil
		}
		return e.stringMap(b, x, depth)
	}
	return e.reflect(b, reflect.ValueOf(v), depth)
}

func (e *encoder) float(b []byte, f float64) ([]byte, error) {
	p := e.p
	if math.IsNaN(f) || math.IsInf(f, 0) {
		if p.RejectNonFinite {
			return b, ErrNonFinite
		}
		if p.CanonicalFloats && math.IsNaN(f) {
			return msgpack.AppendFloat64(b, math.Float64frombits(CanonicalNaN)), nil
		}
		return msgpack.AppendFloat64(b, f), nil
	}
	if p.CollapseIntegralFloats && f == math.Trunc(f) && f >= -(1<<63) && f < (1<<64) {
		if f < (1 << 63) {
			return msgpack.AppendInt(b, int64(f)), nil
		}
		return msgpack.AppendUint(b, uint64(f)), nil
	}
	if p.CanonicalFloats && f == 0 {
		f = 0 // -0.0 -> +0.0
	}
	return msgpack.AppendFloat64(b, f), nil
}

func (e *encoder) str(b []byte, s string) ([]byte, error) {
	if e.p.ValidateUTF8 && !utf8.ValidString(s) {
		return b, ErrInvalidUTF8
	}
	return msgpack.AppendString(b, s), nil
}

func appendBig(b []byte, x *big.Int) ([]byte, error) {
	if x.IsInt64() {
		return msgpack.AppendInt(b, x.Int64()), nil
	}
	if x.IsUint64() {
		return msgpack.AppendUint(b, x.Uint64()), nil
	}
	return b, ErrIntRange
}

func (e *encoder) time(b []byte, t time.Time) ([]byte, error) {
	switch e.p.Time {
	case TimeISO:
		return appendISOString(b, t)
	case TimeEpoch:
		if err := checkTime(t); err != nil {
			return b, err
		}
		return e.float(b, float64(t.UnixMicro())/1e6)
	default:
		n := len(b)
		b = msgpack.AppendMapHeader(b, 2)
		b = msgpack.AppendString(b, "__datetime__")
		b = msgpack.AppendBool(b, true)
		b = msgpack.AppendString(b, "value")
		b, err := appendISOString(b, t)
		if err != nil {
			return b[:n], err
		}
		return b, nil
	}
}

func (e *encoder) civil(b []byte, t reflect.Type, c Civil) ([]byte, error) {
	if e.p.RejectCivil {
		return b, unsupported(t, "the interop data model has no dates or times of day; pass a time.Time")
	}
	key, iso, err := c.CivilSentinel()
	if err != nil {
		return b, err
	}
	if e.p.Time == TimeISO {
		return msgpack.AppendString(b, iso), nil
	}
	b = msgpack.AppendMapHeader(b, 2)
	b = msgpack.AppendString(b, key)
	b = msgpack.AppendBool(b, true)
	b = msgpack.AppendString(b, "value")
	return msgpack.AppendString(b, iso), nil
}

// appendISOString appends AppendISO(t) as a str without a temporary buffer:
// the isoformat is at most 35 bytes, so its header is a fixstr or a str8.
func appendISOString(b []byte, t time.Time) ([]byte, error) {
	n := len(b)
	b = append(b, 0, 0) // room for a str8 header
	start := len(b)
	var err error
	if b, err = AppendISO(b, t); err != nil {
		return b[:n], err
	}
	l := len(b) - start
	if l <= 31 {
		b[n] = 0xa0 | byte(l)
		copy(b[n+1:], b[start:])
		return b[:n+1+l], nil
	}
	b[n], b[n+1] = 0xd9, byte(l)
	return b, nil
}

type strPair struct {
	k string
	v any
}

var pairPool = sync.Pool{New: func() any { s := make([]strPair, 0, 16); return &s }}

func (e *encoder) stringMap(b []byte, m map[string]any, depth int) ([]byte, error) {
	if depth >= MaxDepth {
		return b, ErrTooDeep
	}
	b = msgpack.AppendMapHeader(b, len(m))
	if len(m) == 0 {
		return b, nil
	}
	ps := pairPool.Get().(*[]strPair)
	pairs := (*ps)[:0]
	for k, v := range m {
		pairs = append(pairs, strPair{k, v})
	}
	slices.SortFunc(pairs, func(a, b strPair) int { return strings.Compare(a.k, b.k) })
	var err error
	for _, p := range pairs {
		if b, err = e.str(b, p.k); err != nil {
			break
		}
		if b, err = e.value(b, p.v, depth+1); err != nil {
			break
		}
	}
	clear(pairs)
	*ps = pairs[:0]
	pairPool.Put(ps)
	return b, err
}

func (e *encoder) set(b []byte, s SetLike, depth int) ([]byte, error) {
	if depth >= MaxDepth {
		return b, ErrTooDeep
	}
	elems := s.SetElements()
	encoded := make([][]byte, 0, len(elems))
	for _, el := range elems {
		enc, err := e.value(nil, el, depth+1)
		if err != nil {
			return b, err
		}
		encoded = append(encoded, enc)
	}
	slices.SortFunc(encoded, bytes.Compare)
	encoded = slices.CompactFunc(encoded, bytes.Equal)
	b = msgpack.AppendArrayHeader(b, len(encoded))
	for _, enc := range encoded {
		b = append(b, enc...)
	}
	return b, nil
}

// IsUUIDType reports whether t is treated as a UUID: an array of 16 bytes whose
// type (or pointer type) implements fmt.Stringer, such as codec.UUID or
// github.com/google/uuid.UUID.
func IsUUIDType(t reflect.Type) bool {
	return t.Kind() == reflect.Array && t.Len() == 16 && t.Elem().Kind() == reflect.Uint8 &&
		(t.Implements(stringerType) || reflect.PointerTo(t).Implements(stringerType))
}

// AppendUUID appends the lowercase hyphenated form of u.
func AppendUUID(b []byte, u [16]byte) []byte {
	const hexd = "0123456789abcdef"
	for i, c := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b = append(b, '-')
		}
		b = append(b, hexd[c>>4], hexd[c&0xf])
	}
	return b
}

func (e *encoder) reflect(b []byte, rv reflect.Value, depth int) ([]byte, error) {
	if depth >= MaxDepth {
		return b, ErrTooDeep
	}
	t := rv.Type()
	// Pointers and interfaces are followed first (a nil one is nil), so the
	// set check only ever sees a set value.
	if k := t.Kind(); k != reflect.Pointer && k != reflect.Interface && t.Implements(setLikeType) {
		switch {
		case e.p.Sets && rv.CanInterface():
			return e.set(b, rv.Interface().(SetLike), depth)
		case e.p.RejectSets:
			return b, unsupported(t, "sets have no order; pass a sorted slice")
		}
	}
	switch t.Kind() {
	case reflect.Bool:
		return msgpack.AppendBool(b, rv.Bool()), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return msgpack.AppendInt(b, rv.Int()), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return msgpack.AppendUint(b, rv.Uint()), nil
	case reflect.Float32, reflect.Float64:
		return e.float(b, rv.Float())
	case reflect.String:
		return e.str(b, rv.String())
	case reflect.Pointer:
		if rv.IsNil() {
			return msgpack.AppendNil(b), nil
		}
		if t.Elem() == bigIntType {
			return appendBig(b, rv.Interface().(*big.Int))
		}
		return e.reflect(b, rv.Elem(), depth+1)
	case reflect.Interface:
		if rv.IsNil() {
			return msgpack.AppendNil(b), nil
		}
		return e.reflect(b, rv.Elem(), depth+1)
	case reflect.Slice:
		if rv.IsNil() {
			return msgpack.AppendNil(b), nil
		}
		if t.Elem().Kind() == reflect.Uint8 {
			return msgpack.AppendBytes(b, rv.Bytes()), nil
		}
		return e.list(b, rv, depth)
	case reflect.Array:
		if IsUUIDType(t) {
			var u [16]byte
			CopyFromByteArray(u[:], rv)
			b = append(b, 0xd9, 36)
			return AppendUUID(b, u), nil
		}
		if t.Elem().Kind() == reflect.Uint8 {
			p := make([]byte, rv.Len())
			CopyFromByteArray(p, rv)
			return msgpack.AppendBytes(b, p), nil
		}
		return e.list(b, rv, depth)
	case reflect.Map:
		switch {
		case t.Key().Kind() == reflect.String:
		case IsIntKind(t.Key().Kind()) && e.p.IntKeys != IntKeysRefuse:
			if rv.IsNil() {
				return msgpack.AppendNil(b), nil
			}
			return e.intKeyMap(b, rv, depth)
		case IsIntKind(t.Key().Kind()):
			return b, unsupported(t, "map keys must be strings in interop mode")
		default:
			return b, unsupported(t, "map keys must be strings or integers")
		}
		if rv.IsNil() {
			return msgpack.AppendNil(b), nil
		}
		return e.reflectMap(b, rv, depth)
	case reflect.Struct:
		switch {
		case t == timeType:
			return e.time(b, rv.Interface().(time.Time))
		case t == bigIntType:
			x := rv.Interface().(big.Int)
			return appendBig(b, &x)
		case t.Implements(civilType):
			return e.civil(b, t, rv.Interface().(Civil))
		case t.Implements(textMarshalerType):
			return e.text(b, rv.Interface().(encoding.TextMarshaler))
		case rv.CanAddr() && reflect.PointerTo(t).Implements(textMarshalerType):
			return e.text(b, rv.Addr().Interface().(encoding.TextMarshaler))
		}
		return e.structValue(b, rv, depth)
	}
	return b, unsupported(t, "")
}

// CopyFromByteArray copies the array rv, whose elements are of kind uint8,
// into dst. reflect.Copy cannot do it when the element type is a named byte
// type (type B uint8): it requires identical element types and panics.
func CopyFromByteArray(dst []byte, rv reflect.Value) {
	if rv.Type().Elem() == byteType {
		reflect.Copy(reflect.ValueOf(dst), rv)
		return
	}
	for i := range dst {
		dst[i] = byte(rv.Index(i).Uint())
	}
}

// CopyToByteArray copies src into the settable array or slice v, whose
// elements are of kind uint8 (named byte types included).
func CopyToByteArray(v reflect.Value, src []byte) {
	if v.Type().Elem() == byteType {
		reflect.Copy(v, reflect.ValueOf(src))
		return
	}
	for i, c := range src[:min(len(src), v.Len())] {
		v.Index(i).SetUint(uint64(c))
	}
}

func (e *encoder) text(b []byte, m encoding.TextMarshaler) ([]byte, error) {
	txt, err := m.MarshalText()
	if err != nil {
		return b, fmt.Errorf("cachekit: MarshalText: %w", err)
	}
	if e.p.ValidateUTF8 && !utf8.Valid(txt) {
		return b, ErrInvalidUTF8
	}
	return msgpack.AppendStringBytes(b, txt), nil
}

func (e *encoder) list(b []byte, rv reflect.Value, depth int) ([]byte, error) {
	n := rv.Len()
	b = msgpack.AppendArrayHeader(b, n)
	var err error
	for i := range n {
		if b, err = e.reflect(b, rv.Index(i), depth+1); err != nil {
			return b, err
		}
	}
	return b, nil
}

type reflectPair struct {
	k string
	v reflect.Value
}

func (e *encoder) reflectMap(b []byte, rv reflect.Value, depth int) ([]byte, error) {
	pairs := make([]reflectPair, 0, rv.Len())
	it := rv.MapRange()
	for it.Next() {
		pairs = append(pairs, reflectPair{it.Key().String(), it.Value()})
	}
	slices.SortFunc(pairs, func(a, b reflectPair) int { return strings.Compare(a.k, b.k) })
	b = msgpack.AppendMapHeader(b, len(pairs))
	var err error
	for _, p := range pairs {
		if b, err = e.str(b, p.k); err != nil {
			return b, err
		}
		if b, err = e.reflect(b, p.v, depth+1); err != nil {
			return b, err
		}
	}
	return b, nil
}

// IsIntKind reports whether k is one of the signed or unsigned integer kinds
// (uintptr excluded).
func IsIntKind(k reflect.Kind) bool {
	switch k {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return true
	}
	return false
}

type intPair struct {
	neg bool   // the key is negative; n holds its two's complement
	n   uint64 // the key's value (as uint64)
	v   reflect.Value
}

func cmpIntPair(a, b intPair) int {
	switch {
	case a.neg != b.neg:
		if a.neg {
			return -1
		}
		return 1
	case a.n < b.n:
		return -1
	case a.n > b.n:
		return 1
	}
	return 0
}

// intKeyMap writes a map with integer keys sorted numerically, the keys as
// integers or decimal strings (Profile.IntKeys).
func (e *encoder) intKeyMap(b []byte, rv reflect.Value, depth int) ([]byte, error) {
	signed := rv.Type().Key().Kind() <= reflect.Int64
	pairs := make([]intPair, 0, rv.Len())
	it := rv.MapRange()
	for it.Next() {
		p := intPair{v: it.Value()}
		if signed {
			x := it.Key().Int()
			p.neg, p.n = x < 0, uint64(x)
		} else {
			p.n = it.Key().Uint()
		}
		pairs = append(pairs, p)
	}
	slices.SortFunc(pairs, cmpIntPair)
	b = msgpack.AppendMapHeader(b, len(pairs))
	var err error
	for _, p := range pairs {
		switch {
		case e.p.IntKeys == IntKeysAsInt && p.neg:
			b = msgpack.AppendInt(b, int64(p.n))
		case e.p.IntKeys == IntKeysAsInt:
			b = msgpack.AppendUint(b, p.n)
		case p.neg:
			b = msgpack.AppendString(b, strconv.FormatInt(int64(p.n), 10))
		default:
			b = msgpack.AppendString(b, strconv.FormatUint(p.n, 10))
		}
		if b, err = e.reflect(b, p.v, depth+1); err != nil {
			return b, err
		}
	}
	return b, nil
}

func (e *encoder) structValue(b []byte, rv reflect.Value, depth int) ([]byte, error) {
	info := StructInfo(rv.Type())
	if e.p.StrictStructs && info.Unexported {
		return b, unsupported(rv.Type(), "struct has unexported fields; tag them `msgpack:\"-\"` or pass a value without them")
	}
	fields := info.Fields
	if e.p.SortStructFields {
		fields = info.Sorted
	}
	// Count the fields present first: omitempty and nil embedded pointers
	// decide the map length.
	var stack [16]reflect.Value
	vals := stack[:0]
	if len(fields) > len(stack) {
		vals = make([]reflect.Value, 0, len(fields))
	}
	n := 0
	for i := range fields {
		fv, ok := FieldByIndex(rv, fields[i].Index)
		if ok && fields[i].OmitEmpty && isEmpty(fv) {
			ok = false
		}
		if ok {
			n++
		} else {
			fv = reflect.Value{}
		}
		vals = append(vals, fv)
	}
	b = msgpack.AppendMapHeader(b, n)
	var err error
	for i, fv := range vals {
		if !fv.IsValid() {
			continue
		}
		if b, err = e.str(b, fields[i].Name); err != nil {
			return b, err
		}
		if b, err = e.reflect(b, fv, depth+1); err != nil {
			return b, err
		}
	}
	return b, nil
}

func isEmpty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool:
		return !v.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int() == 0
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return v.Uint() == 0
	case reflect.Float32, reflect.Float64:
		return v.Float() == 0
	case reflect.Interface, reflect.Pointer:
		return v.IsNil()
	case reflect.Struct:
		return v.IsZero()
	}
	return false
}

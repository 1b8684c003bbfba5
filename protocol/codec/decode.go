package codec

import (
	"encoding"
	"errors"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/cachekit-go/cachekit/protocol/internal/encode"
	"github.com/cachekit-go/cachekit/protocol/internal/msgpack"
)

// Decoding errors.
var (
	// ErrMalformed: the input is not well-formed MessagePack (truncated,
	// 0xc1, impossible lengths). It wraps the msgpack reader's error.
	ErrMalformed = errors.New("codec: malformed MessagePack")
	// ErrTrailingBytes: bytes follow the single document.
	ErrTrailingBytes = errors.New("codec: trailing bytes after the value")
	// ErrExtension: a MessagePack extension type, which no CacheKit writer emits.
	ErrExtension = errors.New("codec: MessagePack extension types are not supported")
	// ErrNonStringKey: a map key that is not a str.
	ErrNonStringKey = errors.New("codec: map key is not a string")
	// ErrTypeMismatch: Unmarshal met a token that cannot fill the target.
	ErrTypeMismatch = errors.New("codec: type mismatch")
	// ErrOverflow: a number does not fit the target type.
	ErrOverflow = errors.New("codec: number overflows the target type")
	// ErrInvalidTarget: Unmarshal was not given a non-nil pointer.
	ErrInvalidTarget = errors.New("codec: Unmarshal needs a non-nil pointer")
)

// maxPrealloc bounds how many bytes one slice or map reserves before its
// elements are read; beyond it the container grows as elements actually
// arrive.
const maxPrealloc = 1 << 20

// preallocPerInputByte bounds the bytes ALL containers of one document may
// reserve up front, per input byte. Every element takes at least one input
// byte, so a legitimate document never needs more; a hostile one whose nested
// headers each claim the whole remaining input (a header is checked against
// the remaining input only, not against what its siblings and ancestors
// already claimed) would otherwise reserve that input MaxDepth times over.
const preallocPerInputByte = 16

// decoder carries the reader and the preallocation budget of one document.
type decoder struct {
	r      *msgpack.Reader
	budget uint64 // bytes containers may still reserve before reading elements
	// share: byte slices of the result may be subslices of the input
	// (UnmarshalShared) instead of copies.
	share bool
}

func newDecoder(data []byte) *decoder {
	return &decoder{r: msgpack.NewReader(data), budget: uint64(len(data)) * preallocPerInputByte}
}

// prealloc returns how many of n elements of size bytes a container may
// reserve before reading them, and charges them to the budget. The rest is
// appended as elements arrive, each backed by input bytes actually read.
func (d *decoder) prealloc(n int, size uintptr) int {
	if size == 0 || n <= 0 {
		return max(n, 0)
	}
	limit := min(d.budget, maxPrealloc) / uint64(size)
	if uint64(n) > limit {
		n = int(limit)
	}
	d.budget -= uint64(n) * uint64(size)
	return n
}

// Decode decodes one MessagePack document into generic Go values (see the
// package documentation for the mapping).
func Decode(data []byte) (any, error) {
	d := newDecoder(data)
	r := d.r
	v, err := d.decodeAny(0)
	if err != nil {
		return nil, err
	}
	if r.Remaining() != 0 {
		return nil, fmt.Errorf("%w: %d bytes at offset %d", ErrTrailingBytes, r.Remaining(), r.Offset())
	}
	return v, nil
}

func malformed(err error) error {
	var te *msgpack.TypeError
	if errors.As(err, &te) {
		return err
	}
	if errors.Is(err, msgpack.ErrTooDeep) {
		return fmt.Errorf("%w: %w", ErrTooDeep, err)
	}
	return fmt.Errorf("%w: %w", ErrMalformed, err)
}

func next(r *msgpack.Reader) (msgpack.Token, error) {
	t, err := r.Next()
	if err != nil {
		return t, malformed(err)
	}
	if t.Type == msgpack.TypeExt {
		return t, fmt.Errorf("%w (type %d at offset %d)", ErrExtension, t.ExtType, r.Offset())
	}
	return t, nil
}

func tokenString(r *msgpack.Reader, t msgpack.Token) (string, error) {
	if !utf8.Valid(t.Bytes) {
		return "", fmt.Errorf("%w (before offset %d)", ErrInvalidUTF8, r.Offset())
	}
	return string(t.Bytes), nil
}

// Sizes charged to the preallocation budget by Decode's generic containers.
const (
	anySize      = 16 // an interface value
	mapEntrySize = 48 // a map[string]any entry: key, value and bucket overhead
)

func (d *decoder) decodeAny(depth int) (any, error) {
	if depth > MaxDepth {
		return nil, ErrTooDeep
	}
	r := d.r
	t, err := next(r)
	if err != nil {
		return nil, err
	}
	switch t.Type {
	case msgpack.TypeNil:
		return nil, nil
	case msgpack.TypeBool:
		return t.Bool, nil
	case msgpack.TypeInt:
		return t.Int, nil
	case msgpack.TypeUint:
		if t.Uint <= math.MaxInt64 {
			return int64(t.Uint), nil
		}
		return t.Uint, nil
	case msgpack.TypeFloat:
		return t.Float, nil
	case msgpack.TypeStr:
		return tokenString(r, t)
	case msgpack.TypeBin:
		return append([]byte{}, t.Bytes...), nil
	case msgpack.TypeArray:
		a := make([]any, 0, d.prealloc(t.Len, anySize))
		for range t.Len {
			e, err := d.decodeAny(depth + 1)
			if err != nil {
				return nil, err
			}
			a = append(a, e)
		}
		return a, nil
	case msgpack.TypeMap:
		m := make(map[string]any, d.prealloc(t.Len, mapEntrySize))
		for range t.Len {
			k, err := mapKey(r)
			if err != nil {
				return nil, err
			}
			if m[k], err = d.decodeAny(depth + 1); err != nil {
				return nil, err
			}
		}
		if tm, ok := sentinel(m); ok {
			return tm, nil
		}
		return m, nil
	}
	return nil, fmt.Errorf("%w: unexpected token at offset %d", ErrMalformed, r.Offset())
}

func mapKey(r *msgpack.Reader) (string, error) {
	start := r.Offset()
	t, err := next(r)
	if err != nil {
		return "", err
	}
	if t.Type != msgpack.TypeStr {
		return "", fmt.Errorf("%w: %s at offset %d", ErrNonStringKey, t.Type, start)
	}
	return tokenString(r, t)
}

// sentinel revives {"__datetime__": true, "value": "<isoformat>"} (and the
// __date__ / __time__ forms) when the map is exactly that and the value parses.
// The result is a time.Time, a Date or a TimeOfDay.
func sentinel(m map[string]any) (any, bool) {
	if len(m) != 2 {
		return nil, false
	}
	s, ok := m["value"].(string)
	if !ok {
		return nil, false
	}
	switch {
	case m["__datetime__"] == true:
		t, _, err := ParseTime(s)
		return t, err == nil
	case m["__date__"] == true:
		d, err := ParseDate(s)
		return d, err == nil
	case m["__time__"] == true:
		t, err := ParseTimeOfDay(s)
		return t, err == nil
	}
	return nil, false
}

// Unmarshal decodes one MessagePack document into the value v points to (see
// the package documentation for the rules).
func Unmarshal(data []byte, v any) error {
	return unmarshal(data, v, false)
}

// UnmarshalShared is Unmarshal for a caller that hands data over: byte
// slices in the result ([]byte and other slices of a byte type, from bin or
// str) are subslices of data instead of copies, so a 64 KiB []byte value is
// neither allocated nor copied a second time. The caller must not change or
// reuse data afterwards, nor keep it anywhere else whose owner could: the
// decoded value and data share memory. Each such subslice has its capacity
// cut at its length, so appending to it never writes into the rest of data.
func UnmarshalShared(data []byte, v any) error {
	return unmarshal(data, v, true)
}

func unmarshal(data []byte, v any, share bool) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("%w (got %T)", ErrInvalidTarget, v)
	}
	d := newDecoder(data)
	d.share = share
	r := d.r
	if t := rv.Elem().Type(); !nilable(t.Kind()) && len(data) > 0 && data[0] == 0xc0 {
		// A stored nil is no value of a non-nilable type: "" or 0 would be a
		// hit that the function never returned.
		return fmt.Errorf("%w: cannot decode nil into %s", ErrTypeMismatch, t)
	}
	if err := d.decodeInto(rv.Elem(), 0); err != nil {
		return err
	}
	if r.Remaining() != 0 {
		return fmt.Errorf("%w: %d bytes at offset %d", ErrTrailingBytes, r.Remaining(), r.Offset())
	}
	return nil
}

var (
	timeType            = reflect.TypeFor[time.Time]()
	dateType            = reflect.TypeFor[Date]()
	timeOfDayType       = reflect.TypeFor[TimeOfDay]()
	bigIntType          = reflect.TypeFor[big.Int]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// nilable reports whether a value of kind k can be nil.
func nilable(k reflect.Kind) bool {
	switch k {
	case reflect.Pointer, reflect.Interface, reflect.Slice, reflect.Map:
		return true
	}
	return false
}

func mismatch(t msgpack.Token, target reflect.Type, off int) error {
	return fmt.Errorf("%w: cannot decode %s into %s at offset %d", ErrTypeMismatch, t.Type, target, off)
}

func overflow(target reflect.Type, off int) error {
	return fmt.Errorf("%w: %s at offset %d", ErrOverflow, target, off)
}

func peekNil(r *msgpack.Reader) bool {
	t, err := r.PeekType()
	return err == nil && t == msgpack.TypeNil
}

func (d *decoder) decodeInto(v reflect.Value, depth int) error {
	if depth > MaxDepth {
		return ErrTooDeep
	}
	r := d.r
	typ := v.Type()
	if peekNil(r) {
		_, _ = r.Next()
		v.SetZero()
		return nil
	}
	switch typ.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(typ.Elem()))
		}
		return d.decodeInto(v.Elem(), depth+1)
	case reflect.Interface:
		if typ.NumMethod() != 0 {
			return fmt.Errorf("%w: cannot decode into non-empty interface %s", ErrTypeMismatch, typ)
		}
		x, err := d.decodeAny(depth)
		if err != nil {
			return err
		}
		v.Set(reflect.ValueOf(x))
		return nil
	case reflect.Struct:
		switch {
		case typ == timeType:
			return d.decodeTime(v, depth)
		case typ == dateType || typ == timeOfDayType:
			return d.decodeCivil(v, depth)
		case typ == bigIntType:
			return decodeBig(r, v)
		case reflect.PointerTo(typ).Implements(textUnmarshalerType):
			if pt, _ := r.PeekType(); pt == msgpack.TypeStr {
				return decodeText(r, v)
			}
		}
		return d.decodeStruct(v, depth)
	case reflect.Array:
		if encode.IsUUIDType(typ) {
			return decodeUUID(r, v)
		}
	}
	start := r.Offset()
	t, err := next(r)
	if err != nil {
		return err
	}
	switch typ.Kind() {
	case reflect.Bool:
		if t.Type != msgpack.TypeBool {
			return mismatch(t, typ, start)
		}
		v.SetBool(t.Bool)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		var n int64
		switch {
		case t.Type == msgpack.TypeInt:
			n = t.Int
		case t.Type == msgpack.TypeUint && t.Uint <= math.MaxInt64:
			n = int64(t.Uint)
		case t.Type == msgpack.TypeUint:
			return overflow(typ, start)
		default:
			return mismatch(t, typ, start)
		}
		if v.OverflowInt(n) {
			return overflow(typ, start)
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		var n uint64
		switch {
		case t.Type == msgpack.TypeUint:
			n = t.Uint
		case t.Type == msgpack.TypeInt && t.Int >= 0:
			n = uint64(t.Int)
		case t.Type == msgpack.TypeInt:
			return overflow(typ, start)
		default:
			return mismatch(t, typ, start)
		}
		if v.OverflowUint(n) {
			return overflow(typ, start)
		}
		v.SetUint(n)
	case reflect.Float32, reflect.Float64:
		var f float64
		switch t.Type {
		case msgpack.TypeFloat:
			f = t.Float
		case msgpack.TypeInt:
			f = float64(t.Int)
		case msgpack.TypeUint:
			f = float64(t.Uint)
		default:
			return mismatch(t, typ, start)
		}
		if v.OverflowFloat(f) {
			return overflow(typ, start)
		}
		v.SetFloat(f)
	case reflect.String:
		if t.Type != msgpack.TypeStr {
			return mismatch(t, typ, start)
		}
		s, err := tokenString(r, t)
		if err != nil {
			return err
		}
		v.SetString(s)
	case reflect.Slice:
		if typ.Elem().Kind() == reflect.Uint8 && (t.Type == msgpack.TypeBin || t.Type == msgpack.TypeStr) {
			if d.share && len(t.Bytes) > 0 { // (an empty one stays a non-nil empty slice)
				v.SetBytes(t.Bytes[:len(t.Bytes):len(t.Bytes)])
				return nil
			}
			b := reflect.MakeSlice(typ, len(t.Bytes), len(t.Bytes))
			encode.CopyToByteArray(b, t.Bytes)
			v.Set(b)
			return nil
		}
		if t.Type != msgpack.TypeArray {
			return mismatch(t, typ, start)
		}
		return d.decodeSlice(v, t.Len, depth)
	case reflect.Array:
		if typ.Elem().Kind() == reflect.Uint8 && (t.Type == msgpack.TypeBin || t.Type == msgpack.TypeStr) {
			if len(t.Bytes) != typ.Len() {
				return fmt.Errorf("%w: %d bytes into %s at offset %d", ErrTypeMismatch, len(t.Bytes), typ, start)
			}
			encode.CopyToByteArray(v, t.Bytes)
			return nil
		}
		if t.Type != msgpack.TypeArray {
			return mismatch(t, typ, start)
		}
		for i := range t.Len {
			if i >= v.Len() {
				if err := skip(r); err != nil {
					return err
				}
				continue
			}
			if err := d.decodeInto(v.Index(i), depth+1); err != nil {
				return err
			}
		}
		for i := t.Len; i < v.Len(); i++ {
			v.Index(i).SetZero()
		}
	case reflect.Map:
		if t.Type != msgpack.TypeMap {
			return mismatch(t, typ, start)
		}
		switch k := typ.Key().Kind(); {
		case k == reflect.String:
			return d.decodeMap(v, t.Len, depth)
		case encode.IsIntKind(k):
			return d.decodeIntKeyMap(v, t.Len, depth)
		}
		return fmt.Errorf("%w: %s (map keys must be strings or integers)", ErrUnsupportedType, typ)
	default:
		return fmt.Errorf("%w: %s", ErrUnsupportedType, typ)
	}
	return nil
}

func skip(r *msgpack.Reader) error {
	if err := r.Skip(); err != nil {
		return malformed(err)
	}
	return nil
}

func (d *decoder) decodeSlice(v reflect.Value, n, depth int) error {
	typ := v.Type()
	s := reflect.MakeSlice(typ, 0, d.prealloc(n, typ.Elem().Size()))
	for range n {
		s = reflect.Append(s, reflect.Zero(typ.Elem()))
		if err := d.decodeInto(s.Index(s.Len()-1), depth+1); err != nil {
			return err
		}
	}
	v.Set(s)
	return nil
}

func (d *decoder) decodeMap(v reflect.Value, n, depth int) error {
	typ := v.Type()
	r := d.r
	if v.IsNil() {
		v.Set(reflect.MakeMapWithSize(typ, d.prealloc(n, typ.Key().Size()+typ.Elem().Size()+8)))
	}
	for range n {
		k, err := mapKey(r)
		if err != nil {
			return err
		}
		elem := reflect.New(typ.Elem()).Elem()
		if err := d.decodeInto(elem, depth+1); err != nil {
			return err
		}
		v.SetMapIndex(reflect.ValueOf(k).Convert(typ.Key()), elem)
	}
	return nil
}

// decodeIntKeyMap fills a map with integer keys: from the decimal strings
// Marshal writes, and from the integer keys Python's packb writes.
func (d *decoder) decodeIntKeyMap(v reflect.Value, n, depth int) error {
	typ := v.Type()
	kt := typ.Key()
	r := d.r
	if v.IsNil() {
		v.Set(reflect.MakeMapWithSize(typ, d.prealloc(n, kt.Size()+typ.Elem().Size()+8)))
	}
	key := reflect.New(kt).Elem()
	for range n {
		start := r.Offset()
		t, err := next(r)
		if err != nil {
			return err
		}
		if err := setIntKey(key, t, start); err != nil {
			return err
		}
		elem := reflect.New(typ.Elem()).Elem()
		if err := d.decodeInto(elem, depth+1); err != nil {
			return err
		}
		v.SetMapIndex(key, elem)
	}
	return nil
}

// setIntKey sets the integer map key k from an int, uint or decimal str token.
func setIntKey(k reflect.Value, t msgpack.Token, off int) error {
	typ := k.Type()
	signed := typ.Kind() <= reflect.Int64
	switch t.Type {
	case msgpack.TypeInt:
		if signed && !k.OverflowInt(t.Int) {
			k.SetInt(t.Int)
			return nil
		}
		if !signed && t.Int >= 0 && !k.OverflowUint(uint64(t.Int)) {
			k.SetUint(uint64(t.Int))
			return nil
		}
		return overflow(typ, off)
	case msgpack.TypeUint:
		if signed && t.Uint <= math.MaxInt64 && !k.OverflowInt(int64(t.Uint)) {
			k.SetInt(int64(t.Uint))
			return nil
		}
		if !signed && !k.OverflowUint(t.Uint) {
			k.SetUint(t.Uint)
			return nil
		}
		return overflow(typ, off)
	case msgpack.TypeStr:
		s := string(t.Bytes)
		var err error
		if signed {
			var x int64
			if x, err = strconv.ParseInt(s, 10, typ.Bits()); err == nil {
				k.SetInt(x)
			}
		} else {
			var x uint64
			if x, err = strconv.ParseUint(s, 10, typ.Bits()); err == nil {
				k.SetUint(x)
			}
		}
		if err != nil {
			return fmt.Errorf("%w: map key %q into %s at offset %d", ErrTypeMismatch, s, typ, off)
		}
		return nil
	}
	return mismatch(t, typ, off)
}

func (d *decoder) decodeStruct(v reflect.Value, depth int) error {
	r := d.r
	start := r.Offset()
	t, err := next(r)
	if err != nil {
		return err
	}
	if t.Type != msgpack.TypeMap {
		return mismatch(t, v.Type(), start)
	}
	info := encode.StructInfo(v.Type())
	for range t.Len {
		k, err := mapKey(r)
		if err != nil {
			return err
		}
		f, ok := info.ByName[k]
		if !ok {
			if err := skip(r); err != nil {
				return err
			}
			continue
		}
		fv := fieldForSet(v, f.Index)
		if err := d.decodeInto(fv, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// fieldForSet follows index, allocating nil embedded pointers on the way.
func fieldForSet(v reflect.Value, index []int) reflect.Value {
	for i, x := range index {
		if i > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				v.Set(reflect.New(v.Type().Elem()))
			}
			v = v.Elem()
		}
		v = v.Field(x)
	}
	return v
}

func (d *decoder) decodeTime(v reflect.Value, depth int) error {
	start := d.r.Offset()
	x, err := d.decodeAny(depth)
	if err != nil {
		return err
	}
	switch x := x.(type) {
	case time.Time:
		v.Set(reflect.ValueOf(x))
		return nil
	case Date: // Python wrote a date where Go declares a time.Time: midnight UTC
		v.Set(reflect.ValueOf(x.In(time.UTC)))
		return nil
	case string:
		t, _, err := ParseTime(x)
		if err != nil {
			return fmt.Errorf("%w at offset %d", err, start)
		}
		v.Set(reflect.ValueOf(t))
		return nil
	}
	return fmt.Errorf("%w: cannot decode %T into time.Time at offset %d", ErrTypeMismatch, x, start)
}

// decodeCivil fills a Date or a TimeOfDay from its sentinel (or its
// isoformat string).
func (d *decoder) decodeCivil(v reflect.Value, depth int) error {
	start := d.r.Offset()
	x, err := d.decodeAny(depth)
	if err != nil {
		return err
	}
	if s, ok := x.(string); ok {
		if v.Type() == dateType {
			x, err = ParseDate(s)
		} else {
			x, err = ParseTimeOfDay(s)
		}
		if err != nil {
			return fmt.Errorf("%w at offset %d", err, start)
		}
	}
	if rx := reflect.ValueOf(x); x != nil && rx.Type() == v.Type() {
		v.Set(rx)
		return nil
	}
	return fmt.Errorf("%w: cannot decode %T into %s at offset %d", ErrTypeMismatch, x, v.Type(), start)
}

func decodeBig(r *msgpack.Reader, v reflect.Value) error {
	start := r.Offset()
	t, err := next(r)
	if err != nil {
		return err
	}
	var b big.Int
	switch t.Type {
	case msgpack.TypeInt:
		b.SetInt64(t.Int)
	case msgpack.TypeUint:
		b.SetUint64(t.Uint)
	default:
		return mismatch(t, v.Type(), start)
	}
	v.Set(reflect.ValueOf(b))
	return nil
}

func decodeText(r *msgpack.Reader, v reflect.Value) error {
	start := r.Offset()
	t, err := next(r)
	if err != nil {
		return err
	}
	if t.Type != msgpack.TypeStr {
		return mismatch(t, v.Type(), start)
	}
	if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText(t.Bytes); err != nil {
		return fmt.Errorf("codec: %s.UnmarshalText at offset %d: %w", v.Type(), start, err)
	}
	return nil
}

func decodeUUID(r *msgpack.Reader, v reflect.Value) error {
	start := r.Offset()
	t, err := next(r)
	if err != nil {
		return err
	}
	var u UUID
	switch t.Type {
	case msgpack.TypeStr:
		if u, err = ParseUUID(string(t.Bytes)); err != nil {
			return fmt.Errorf("%w at offset %d", err, start)
		}
	case msgpack.TypeBin:
		if len(t.Bytes) != 16 {
			return mismatch(t, v.Type(), start)
		}
		copy(u[:], t.Bytes)
	default:
		return mismatch(t, v.Type(), start)
	}
	encode.CopyToByteArray(v, u[:])
	return nil
}

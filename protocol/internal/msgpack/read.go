package msgpack

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Type is the kind of a MessagePack token.
type Type uint8

// The token kinds a Reader reports.
const (
	TypeInvalid Type = iota
	TypeNil
	TypeBool
	TypeInt   // a signed integer form (negative fixint, int8..int64)
	TypeUint  // an unsigned integer form (positive fixint, uint8..uint64)
	TypeFloat // float32 or float64
	TypeStr
	TypeBin
	TypeArray
	TypeMap
	TypeExt
)

var typeNames = [...]string{"invalid", "nil", "bool", "int", "uint", "float", "str", "bin", "array", "map", "ext"}

// String returns the lowercase name of the type ("map", "uint", ...), as
// error messages print it.
func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// ErrTruncated reports input that ends in the middle of a token.
var ErrTruncated = errors.New("msgpack: truncated input")

// ErrInvalid reports a byte that is not a MessagePack type marker (0xc1) or a
// length that cannot be satisfied by the remaining input.
var ErrInvalid = errors.New("msgpack: invalid input")

// ErrTooDeep reports nesting deeper than MaxDepth.
var ErrTooDeep = errors.New("msgpack: nesting too deep")

// MaxDepth bounds the nesting of arrays and maps a Skip or generic decode follows.
// Hostile input cannot make a decoder recurse more than this.
const MaxDepth = 512

// TypeError reports a token of an unexpected type.
type TypeError struct {
	Want, Got Type
	Offset    int
}

// Error names the expected and the found type and the offset of the token.
func (e *TypeError) Error() string {
	return fmt.Sprintf("msgpack: expected %s, got %s at offset %d", e.Want, e.Got, e.Offset)
}

// Token is one decoded MessagePack token. Bytes aliases the Reader's input.
type Token struct {
	Type  Type
	Bool  bool
	Int   int64   // TypeInt
	Uint  uint64  // TypeUint
	Float float64 // TypeFloat
	// Float32 is true when the float was encoded as float32.
	Float32 bool
	Bytes   []byte // TypeStr, TypeBin, TypeExt payload
	Len     int    // TypeArray elements, TypeMap pairs
	ExtType int8
}

// Reader decodes tokens from a byte slice. Every length is checked against the
// remaining input before anything is allocated, so a small hostile input cannot
// cause a large allocation: an array header claiming n elements is refused
// unless at least n bytes remain (each element takes at least one byte).
type Reader struct {
	buf []byte
	off int
}

// NewReader returns a Reader over b. The Reader never modifies b.
func NewReader(b []byte) *Reader { return &Reader{buf: b} }

// Offset is the number of bytes consumed so far.
func (r *Reader) Offset() int { return r.off }

// Remaining is the number of bytes not yet consumed.
func (r *Reader) Remaining() int { return len(r.buf) - r.off }

func (r *Reader) need(n int) ([]byte, error) {
	if n < 0 || n > len(r.buf)-r.off {
		return nil, ErrTruncated
	}
	p := r.buf[r.off : r.off+n]
	r.off += n
	return p, nil
}

func (r *Reader) u8() (uint8, error) {
	p, err := r.need(1)
	if err != nil {
		return 0, err
	}
	return p[0], nil
}

func (r *Reader) u16() (uint16, error) {
	p, err := r.need(2)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint16(p), nil
}

func (r *Reader) u32() (uint32, error) {
	p, err := r.need(4)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint32(p), nil
}

func (r *Reader) u64() (uint64, error) {
	p, err := r.need(8)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint64(p), nil
}

// PeekType reports the type of the next token without consuming it.
func (r *Reader) PeekType() (Type, error) {
	if r.off >= len(r.buf) {
		return TypeInvalid, ErrTruncated
	}
	return typeOf(r.buf[r.off]), nil
}

func typeOf(c byte) Type {
	switch {
	case c <= 0x7f:
		return TypeUint
	case c <= 0x8f:
		return TypeMap
	case c <= 0x9f:
		return TypeArray
	case c <= 0xbf:
		return TypeStr
	case c >= 0xe0:
		return TypeInt
	}
	switch c {
	case 0xc0:
		return TypeNil
	case 0xc2, 0xc3:
		return TypeBool
	case 0xc4, 0xc5, 0xc6:
		return TypeBin
	case 0xc7, 0xc8, 0xc9, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8:
		return TypeExt
	case 0xca, 0xcb:
		return TypeFloat
	case 0xcc, 0xcd, 0xce, 0xcf:
		return TypeUint
	case 0xd0, 0xd1, 0xd2, 0xd3:
		return TypeInt
	case 0xd9, 0xda, 0xdb:
		return TypeStr
	case 0xdc, 0xdd:
		return TypeArray
	case 0xde, 0xdf:
		return TypeMap
	}
	return TypeInvalid // 0xc1
}

// Next decodes the next token. For arrays and maps only the header is consumed;
// the elements follow as further tokens. On error nothing is consumed.
func (r *Reader) Next() (Token, error) {
	start := r.off
	t, err := r.next()
	if err != nil {
		r.off = start
	}
	return t, err
}

func (r *Reader) next() (Token, error) {
	start := r.off
	c, err := r.u8()
	if err != nil {
		return Token{}, err
	}
	t := Token{Type: typeOf(c)}
	switch {
	case c <= 0x7f:
		t.Uint = uint64(c)
		return t, nil
	case c >= 0xe0:
		t.Int = int64(int8(c))
		return t, nil
	case c <= 0x8f:
		return r.container(t, int(c&0x0f), 2)
	case c <= 0x9f:
		return r.container(t, int(c&0x0f), 1)
	case c <= 0xbf:
		return r.bytesN(t, int(c&0x1f))
	}
	var n uint64
	switch c {
	case 0xc0:
		return t, nil
	case 0xc2, 0xc3:
		t.Bool = c == 0xc3
		return t, nil
	case 0xcc, 0xd9, 0xc4, 0xc7, 0xd0:
		var v uint8
		v, err = r.u8()
		n = uint64(v)
		if c == 0xd0 {
			t.Int = int64(int8(v))
		}
	case 0xcd, 0xda, 0xc5, 0xc8, 0xdc, 0xde, 0xd1:
		var v uint16
		v, err = r.u16()
		n = uint64(v)
		if c == 0xd1 {
			t.Int = int64(int16(v))
		}
	case 0xce, 0xdb, 0xc6, 0xc9, 0xdd, 0xdf, 0xd2, 0xca:
		var v uint32
		v, err = r.u32()
		n = uint64(v)
		switch c {
		case 0xd2:
			t.Int = int64(int32(v))
		case 0xca:
			t.Float = float64(math.Float32frombits(v))
			t.Float32 = true
		}
	case 0xcf, 0xd3, 0xcb:
		n, err = r.u64()
		switch c {
		case 0xd3:
			t.Int = int64(n)
		case 0xcb:
			t.Float = math.Float64frombits(n)
		}
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8:
		n = 1 << (c - 0xd4) // fixext 1, 2, 4, 8, 16
	default: // 0xc1 is never used
		r.off = start
		return Token{}, fmt.Errorf("%w: byte 0x%02x at offset %d", ErrInvalid, c, start)
	}
	if err != nil {
		return Token{}, err
	}
	switch t.Type {
	case TypeUint:
		t.Uint = n
		return t, nil
	case TypeInt, TypeFloat:
		return t, nil
	case TypeStr, TypeBin:
		if n > math.MaxInt32 {
			return Token{}, ErrTruncated
		}
		return r.bytesN(t, int(n))
	case TypeArray:
		return r.container(t, int(n), 1)
	case TypeMap:
		return r.container(t, int(n), 2)
	case TypeExt:
		typ, err := r.u8()
		if err != nil {
			return Token{}, err
		}
		t.ExtType = int8(typ)
		return r.bytesN(t, int(n))
	}
	return Token{}, fmt.Errorf("%w: byte 0x%02x at offset %d", ErrInvalid, c, start)
}

func (r *Reader) bytesN(t Token, n int) (Token, error) {
	p, err := r.need(n)
	if err != nil {
		return Token{}, err
	}
	t.Bytes = p
	return t, nil
}

// container checks that the remaining input can hold n elements of at least
// perElem bytes each, so a header cannot make a caller pre-allocate more than
// the input could ever fill.
func (r *Reader) container(t Token, n, perElem int) (Token, error) {
	if n < 0 || n > (len(r.buf)-r.off)/perElem {
		return Token{}, ErrTruncated
	}
	t.Len = n
	return t, nil
}

func (r *Reader) expect(want Type) (Token, error) {
	start := r.off
	t, err := r.Next()
	if err != nil {
		return t, err
	}
	if t.Type != want {
		r.off = start
		return Token{}, &TypeError{Want: want, Got: t.Type, Offset: start}
	}
	return t, nil
}

// ReadNil consumes a nil.
func (r *Reader) ReadNil() error { _, err := r.expect(TypeNil); return err }

// ReadBool consumes a bool.
func (r *Reader) ReadBool() (bool, error) {
	t, err := r.expect(TypeBool)
	return t.Bool, err
}

// ReadUint consumes any integer form holding a non-negative value.
func (r *Reader) ReadUint() (uint64, error) {
	start := r.off
	t, err := r.Next()
	if err != nil {
		return 0, err
	}
	switch {
	case t.Type == TypeUint:
		return t.Uint, nil
	case t.Type == TypeInt && t.Int >= 0:
		return uint64(t.Int), nil
	}
	r.off = start
	return 0, &TypeError{Want: TypeUint, Got: t.Type, Offset: start}
}

// ReadInt consumes any integer form whose value fits in an int64.
func (r *Reader) ReadInt() (int64, error) {
	start := r.off
	t, err := r.Next()
	if err != nil {
		return 0, err
	}
	switch {
	case t.Type == TypeInt:
		return t.Int, nil
	case t.Type == TypeUint && t.Uint <= math.MaxInt64:
		return int64(t.Uint), nil
	}
	r.off = start
	return 0, &TypeError{Want: TypeInt, Got: t.Type, Offset: start}
}

// ReadFloat consumes a float32 or float64.
func (r *Reader) ReadFloat() (float64, error) {
	t, err := r.expect(TypeFloat)
	return t.Float, err
}

// ReadString consumes a str. The returned slice aliases the input.
func (r *Reader) ReadString() ([]byte, error) {
	t, err := r.expect(TypeStr)
	return t.Bytes, err
}

// ReadBinary consumes a bin. The returned slice aliases the input.
func (r *Reader) ReadBinary() ([]byte, error) {
	t, err := r.expect(TypeBin)
	return t.Bytes, err
}

// ReadArrayHeader consumes an array header and returns its element count.
func (r *Reader) ReadArrayHeader() (int, error) {
	t, err := r.expect(TypeArray)
	return t.Len, err
}

// ReadMapHeader consumes a map header and returns its pair count.
func (r *Reader) ReadMapHeader() (int, error) {
	t, err := r.expect(TypeMap)
	return t.Len, err
}

// Skip consumes one complete value, including nested elements, iteratively
// (no recursion) and refusing nesting deeper than MaxDepth. On error nothing
// is consumed.
func (r *Reader) Skip() error {
	start := r.off
	err := r.skip()
	if err != nil {
		r.off = start
	}
	return err
}

func (r *Reader) skip() error {
	pending := 1 // values still to consume at this point
	var stack []int
	for {
		for pending == 0 {
			if len(stack) == 0 {
				return nil
			}
			pending = stack[len(stack)-1]
			stack = stack[:len(stack)-1]
		}
		t, err := r.Next()
		if err != nil {
			return err
		}
		pending--
		var children int
		switch t.Type {
		case TypeArray:
			children = t.Len
		case TypeMap:
			children = 2 * t.Len
		}
		if children > 0 {
			if len(stack) >= MaxDepth {
				return ErrTooDeep
			}
			stack = append(stack, pending)
			pending = children
		}
	}
}

// Package envelope implements the CacheKit ByteStorage envelope (PROTOCOL.md
// section 4): the integrity layer that every SDK puts around a serialized value
// in auto mode. An envelope is a MessagePack document
//
//	94                    fixarray(4)
//	   c4 LL <lz4 block>  compressed_data: LZ4 BLOCK format (no frame, no size prefix)
//	   98 <8 x uint>      checksum: xxHash3-64 of the ORIGINAL bytes, big-endian,
//	                      as an array of 8 integers (fixint or cc XX)
//	   <uint>             original_size, shortest form
//	   a7 "msgpack"       format
//
// Pack writes exactly this canonical form (the protocol 1.1+ "bin" encoding
// that cachekit-core writes). Unpack is lenient in shape and strict in safety.
//
// # Accepted shapes (Unpack)
//
//   - the positional 4-array above, or a map keyed by the field names
//     "compressed_data", "checksum", "original_size", "format" (or by the field
//     indices 0..3, as rmp-serde accepts); unknown string keys are skipped,
//     duplicate fields are rejected;
//   - compressed_data as bin, as the legacy array of integers 0..255 (what
//     cachekit-core 0.2 wrote), or as str (rmp-serde accepts it);
//   - checksum as an array of exactly 8 integers 0..255, or a bin of exactly 8
//     bytes (rmp-serde would take the first 8 of a longer bin; we do not, an
//     over-long checksum is more likely corruption than a writer we must serve);
//   - every integer in any MessagePack width; format as str or bin, any value
//     (it is reported by UnpackFormat, not checked).
//
// # Checks (Unpack), in the order of the reference implementation
//
//  1. the envelope is larger than MaxEnvelopeSize: ErrTooLarge;
//  2. parsing: ErrMalformed, ErrTruncated, ErrTrailingBytes;
//  3. compressed data larger than MaxCompressedSize: ErrTooLarge;
//  4. original_size larger than MaxUncompressedSize, or than the reader's
//     limit (UnpackLimit): ErrTooLarge;
//  5. empty compressed data (a real empty payload compresses to the single
//     byte 00): ErrBomb;
//  6. original_size > MaxCompressionRatio x compressed length: ErrBomb;
//  7. LZ4 decompression into exactly original_size bytes: ErrDecompress (so an
//     original_size one too small fails here);
//  8. checksum over the decompressed bytes: ErrChecksum;
//  9. decompressed length != original_size: ErrSizeMismatch (so an
//     original_size one too large fails here, after the checksum passed).
//
// Nothing proportional to original_size is allocated before checks 1-6 have
// passed, so the largest allocation is bounded by MaxCompressionRatio times the
// input length (and by 512 MiB). The legacy integer-array form allocates at most
// one byte per input byte.
//
// # Decisions
//
// Trailing bytes: rmp-serde silently ignores bytes after the envelope. Unpack
// rejects them with ErrTrailingBytes: a stored value is exactly one envelope,
// and anything after it is corruption (or an attempt to smuggle data past the
// checksum). No reference writer ever emits trailing bytes, so this cannot break
// interoperability.
//
// Compression: Pack uses a block compressor written to make the same choices as
// lz4_flex (the Rust SDKs' LZ4), so envelopes are byte-identical to the
// reference writers' (see compress.go). Any valid LZ4 block decodes, whichever
// compressor produced it.
package envelope

import (
	"encoding/binary"
	"errors"
	"math/bits"

	"github.com/cachekit-go/cachekit/protocol/internal/msgpack"
	"github.com/pierrec/lz4/v4"
	"github.com/zeebo/xxh3"
)

// Limits of the reference implementation (vectors/wire-format.json "limits").
const (
	// MaxEnvelopeSize bounds the whole envelope Unpack accepts.
	MaxEnvelopeSize = 512 << 20
	// MaxCompressedSize bounds the compressed_data field.
	MaxCompressedSize = 512 << 20
	// MaxUncompressedSize bounds original_size and the input of Pack.
	MaxUncompressedSize = 512 << 20
	// MaxCompressionRatio bounds original_size / len(compressed_data).
	MaxCompressionRatio = 1000
)

// Format is the value of the format field that cachekit SDKs write.
const Format = "msgpack"

// Field names of the map form.
const (
	fieldCompressed = "compressed_data"
	fieldChecksum   = "checksum"
	fieldOrigSize   = "original_size"
	fieldFormat     = "format"
)

// Checksum returns the envelope checksum of data: xxHash3-64 with seed 0.
func Checksum(data []byte) uint64 { return xxh3.Hash(data) }

// Pack wraps data in a canonical envelope (LZ4 block, xxHash3-64 checksum,
// format "msgpack"). It fails only when data exceeds MaxUncompressedSize or the
// resulting envelope would exceed MaxEnvelopeSize (ErrTooLarge).
func Pack(data []byte) ([]byte, error) {
	return AppendPack(nil, data)
}

// AppendPack appends the envelope of data to dst and returns the extended
// slice, so a caller can build a frame header and its envelope in one buffer.
func AppendPack(dst, data []byte) ([]byte, error) {
	if len(data) > MaxUncompressedSize {
		return dst, newErr(ErrTooLarge, nil, "input of %d bytes exceeds %d", len(data), MaxUncompressedSize)
	}
	need := PackBound(len(data))
	if cap(dst)-len(dst) < need {
		grown := make([]byte, len(dst), len(dst)+need)
		copy(grown, dst)
		dst = grown
	}
	start := len(dst)
	dst = append(dst, 0x94)
	// Reserve the largest bin header (c6 + u32), compress in place, then
	// move the block if a shorter header suffices.
	hdrAt := len(dst)
	dst = append(dst, 0, 0, 0, 0, 0)
	n := compressBlock(data, dst[len(dst):len(dst)+compressBound(len(data))])
	if n > MaxCompressedSize {
		return dst[:start], newErr(ErrTooLarge, nil, "compressed data of %d bytes exceeds %d", n, MaxCompressedSize)
	}
	var hb [5]byte
	hdr := binHeader(hb[:0], n)
	dst = dst[:hdrAt+5+n]
	copy(dst[hdrAt+len(hdr):], dst[hdrAt+5:])
	copy(dst[hdrAt:], hdr)
	dst = dst[:hdrAt+len(hdr)+n]

	var sum [8]byte
	binary.BigEndian.PutUint64(sum[:], Checksum(data))
	dst = append(dst, 0x98)
	for _, c := range sum {
		dst = msgpack.AppendUint(dst, uint64(c))
	}
	dst = msgpack.AppendUint(dst, uint64(len(data)))
	dst = msgpack.AppendString(dst, Format)
	if len(dst)-start > MaxEnvelopeSize {
		return dst[:start], newErr(ErrTooLarge, nil, "envelope of %d bytes exceeds %d", len(dst)-start, MaxEnvelopeSize)
	}
	return dst, nil
}

// PackBound is the largest envelope Pack produces for n bytes of data, the
// room AppendPack needs after dst to work without growing it.
func PackBound(n int) int {
	// array 1 + bin header 5 + block + checksum 1+16 + size 9 + format 8.
	return 40 + compressBound(n)
}

// binHeader appends the MessagePack bin header for n bytes.
func binHeader(b []byte, n int) []byte {
	switch {
	case n <= 0xff:
		return append(b, 0xc4, byte(n))
	case n <= 0xffff:
		return append(b, 0xc5, byte(n>>8), byte(n))
	default:
		return binary.BigEndian.AppendUint32(append(b, 0xc6), uint32(n))
	}
}

// Unpack verifies an envelope and returns the original bytes. The result never
// aliases env. See the package documentation for accepted shapes and the
// order of checks.
func Unpack(env []byte) ([]byte, error) {
	data, _, err := UnpackFormat(env)
	return data, err
}

// UnpackFormat is Unpack that also returns the envelope's format field
// ("msgpack" for every known writer).
func UnpackFormat(env []byte) (data []byte, format string, err error) {
	return UnpackLimit(env, MaxUncompressedSize)
}

// UnpackLimit is UnpackFormat for a reader whose values are at most limit
// bytes: an original_size above limit is ErrTooLarge, refused before
// anything is decompressed or allocated. Readers pass their maximum value
// size, so a small stored entry (LZ4 reaches about 250:1 on repetitive
// data, and MaxCompressionRatio allows 1000:1) can never make them allocate
// more than a value they would have written themselves. A limit above
// MaxUncompressedSize (or not positive) means MaxUncompressedSize.
func UnpackLimit(env []byte, limit int64) (data []byte, format string, err error) {
	if limit <= 0 || limit > MaxUncompressedSize {
		limit = MaxUncompressedSize
	}
	if len(env) > MaxEnvelopeSize {
		return nil, "", newErr(ErrTooLarge, nil, "envelope of %d bytes exceeds %d", len(env), MaxEnvelopeSize)
	}
	f, err := parse(env)
	if err != nil {
		return nil, "", err
	}
	if len(f.compressed) > MaxCompressedSize {
		return nil, "", newErr(ErrTooLarge, nil, "compressed data of %d bytes exceeds %d", len(f.compressed), MaxCompressedSize)
	}
	if f.originalSize > uint64(limit) {
		return nil, "", newErr(ErrTooLarge, nil, "original_size %d exceeds %d", f.originalSize, limit)
	}
	if len(f.compressed) == 0 {
		return nil, "", newErr(ErrBomb, nil, "empty compressed data with original_size %d", f.originalSize)
	}
	hi, ratioLimit := bits.Mul64(uint64(len(f.compressed)), MaxCompressionRatio)
	if hi != 0 || f.originalSize > ratioLimit {
		return nil, "", newErr(ErrBomb, nil, "original_size %d exceeds %d x compressed length %d", f.originalSize, MaxCompressionRatio, len(f.compressed))
	}
	out := make([]byte, f.originalSize)
	n, err := lz4.UncompressBlock(f.compressed, out)
	if err != nil {
		return nil, "", newErr(ErrDecompress, err, "block of %d bytes into %d", len(f.compressed), f.originalSize)
	}
	out = out[:n]
	if got := Checksum(out); got != f.checksum {
		return nil, "", newErr(ErrChecksum, nil, "over %d decompressed bytes", n)
	}
	if uint64(n) != f.originalSize {
		return nil, "", newErr(ErrSizeMismatch, nil, "decompressed %d bytes, original_size says %d", n, f.originalSize)
	}
	return out, formatString(f.format), nil
}

// IsShape reports whether b has the structure of an envelope (any accepted
// shape, complete, no trailing bytes) without decompressing or verifying it.
// Readers use it to tell a bare envelope from raw MessagePack.
func IsShape(b []byte) bool {
	if len(b) > MaxEnvelopeSize {
		return false
	}
	_, err := parse(b)
	return err == nil
}

// formatString returns the format field as a string; the one every known
// writer uses is returned without allocating.
func formatString(b []byte) string {
	if string(b) == Format {
		return Format
	}
	return string(b)
}

type fields struct {
	compressed   []byte
	checksum     uint64
	originalSize uint64
	format       []byte
}

// parse decodes the envelope's fields without checking sizes or data.
func parse(env []byte) (fields, error) {
	if f, ok := parseCanonical(env); ok {
		return f, nil
	}
	return parseAny(env)
}

// parseCanonical decodes the shape every known writer emits (Pack's, and
// cachekit-core 1.1+'s): fixarray(4), bin, fixarray(8) of one-byte
// integers (fixint or cc XX), an unsigned original_size, a fixstr format,
// and nothing after it. It reports false for anything else, which parseAny
// then decodes (or rejects) in full; for every input it accepts it returns
// the fields parseAny would. It exists because the generic token reader
// cost more than decompressing a 1 KiB value.
func parseCanonical(env []byte) (f fields, ok bool) {
	if len(env) < 2 || env[0] != 0x94 {
		return f, false
	}
	var n uint64 // uint64: a c6 length must not turn negative on 32-bit platforms
	var p int
	switch env[1] {
	case 0xc4:
		if len(env) < 3 {
			return f, false
		}
		n, p = uint64(env[2]), 3
	case 0xc5:
		if len(env) < 4 {
			return f, false
		}
		n, p = uint64(binary.BigEndian.Uint16(env[2:])), 4
	case 0xc6:
		if len(env) < 6 {
			return f, false
		}
		n, p = uint64(binary.BigEndian.Uint32(env[2:])), 6
	default:
		return f, false
	}
	if n > uint64(len(env)-p) {
		return f, false
	}
	end := p + int(n)
	f.compressed = env[p:end]
	rest := env[end:]
	// checksum: 98 then 8 bytes, each a positive fixint or cc XX.
	if len(rest) < 9 || rest[0] != 0x98 {
		return f, false
	}
	rest = rest[1:]
	var sum uint64
	for range 8 {
		if len(rest) == 0 {
			return f, false
		}
		c := rest[0]
		switch {
		case c <= 0x7f:
			rest = rest[1:]
		case c == 0xcc && len(rest) >= 2:
			c, rest = rest[1], rest[2:]
		default:
			return f, false
		}
		sum = sum<<8 | uint64(c)
	}
	f.checksum = sum
	// original_size: any unsigned form.
	if len(rest) == 0 {
		return f, false
	}
	switch c := rest[0]; {
	case c <= 0x7f:
		f.originalSize, rest = uint64(c), rest[1:]
	case c == 0xcc && len(rest) >= 2:
		f.originalSize, rest = uint64(rest[1]), rest[2:]
	case c == 0xcd && len(rest) >= 3:
		f.originalSize, rest = uint64(binary.BigEndian.Uint16(rest[1:])), rest[3:]
	case c == 0xce && len(rest) >= 5:
		f.originalSize, rest = uint64(binary.BigEndian.Uint32(rest[1:])), rest[5:]
	case c == 0xcf && len(rest) >= 9:
		f.originalSize, rest = binary.BigEndian.Uint64(rest[1:]), rest[9:]
	default:
		return f, false
	}
	// format: a fixstr that ends the input.
	if len(rest) == 0 || rest[0]&0xe0 != 0xa0 || int(rest[0]&0x1f) != len(rest)-1 {
		return f, false
	}
	f.format = rest[1:]
	return f, true
}

// parseAny decodes every accepted shape (package documentation) with the
// generic MessagePack reader.
func parseAny(env []byte) (fields, error) {
	var f fields
	r := msgpack.NewReader(env)
	t, err := r.Next()
	if err != nil {
		return f, readErr(err, "envelope")
	}
	switch t.Type {
	case msgpack.TypeArray:
		if t.Len != 4 {
			return f, newErr(ErrMalformed, nil, "array of %d elements, want 4", t.Len)
		}
		for i := range 4 {
			if err := readField(r, i, &f); err != nil {
				return f, err
			}
		}
	case msgpack.TypeMap:
		var seen [4]bool
		for range t.Len {
			idx, err := readKey(r)
			if err != nil {
				return f, err
			}
			if idx < 0 {
				if err := r.Skip(); err != nil {
					return f, readErr(err, "unknown field")
				}
				continue
			}
			if seen[idx] {
				return f, newErr(ErrMalformed, nil, "duplicate field %s", fieldName(idx))
			}
			seen[idx] = true
			if err := readField(r, idx, &f); err != nil {
				return f, err
			}
		}
		for i, ok := range seen {
			if !ok {
				return f, newErr(ErrMalformed, nil, "missing field %s", fieldName(i))
			}
		}
	default:
		return f, newErr(ErrMalformed, nil, "top-level %s, want array or map", t.Type)
	}
	if r.Remaining() != 0 {
		return f, newErr(ErrTrailingBytes, nil, "%d bytes after the envelope", r.Remaining())
	}
	return f, nil
}

func fieldName(i int) string {
	return [...]string{fieldCompressed, fieldChecksum, fieldOrigSize, fieldFormat}[i]
}

// readKey reads a map key and returns the field index, or -1 for a key to skip.
func readKey(r *msgpack.Reader) (int, error) {
	t, err := r.Next()
	if err != nil {
		return 0, readErr(err, "map key")
	}
	switch t.Type {
	case msgpack.TypeStr:
		switch string(t.Bytes) {
		case fieldCompressed:
			return 0, nil
		case fieldChecksum:
			return 1, nil
		case fieldOrigSize:
			return 2, nil
		case fieldFormat:
			return 3, nil
		}
		return -1, nil
	case msgpack.TypeUint:
		if t.Uint < 4 {
			return int(t.Uint), nil
		}
	}
	return 0, newErr(ErrMalformed, nil, "map key of type %s is not a field name", t.Type)
}

func readField(r *msgpack.Reader, i int, f *fields) error {
	switch i {
	case 0:
		t, err := r.Next()
		if err != nil {
			return readErr(err, fieldCompressed)
		}
		switch t.Type {
		case msgpack.TypeBin, msgpack.TypeStr:
			f.compressed = t.Bytes
		case msgpack.TypeArray:
			// The Reader already checked that t.Len elements can fit in the
			// remaining input, so this allocation is bounded by len(env).
			b, err := readByteArray(r, t.Len, fieldCompressed)
			if err != nil {
				return err
			}
			f.compressed = b
		default:
			return newErr(ErrMalformed, nil, "%s is %s, want bin or array", fieldCompressed, t.Type)
		}
	case 1:
		t, err := r.Next()
		if err != nil {
			return readErr(err, fieldChecksum)
		}
		var sum []byte
		switch t.Type {
		case msgpack.TypeArray:
			if t.Len != 8 {
				return newErr(ErrMalformed, nil, "%s has %d elements, want 8", fieldChecksum, t.Len)
			}
			if sum, err = readByteArray(r, 8, fieldChecksum); err != nil {
				return err
			}
		case msgpack.TypeBin:
			if len(t.Bytes) != 8 {
				return newErr(ErrMalformed, nil, "%s has %d bytes, want 8", fieldChecksum, len(t.Bytes))
			}
			sum = t.Bytes
		default:
			return newErr(ErrMalformed, nil, "%s is %s, want array of 8 integers", fieldChecksum, t.Type)
		}
		f.checksum = binary.BigEndian.Uint64(sum)
	case 2:
		v, err := r.ReadUint()
		if err != nil {
			return readErr(err, fieldOrigSize)
		}
		f.originalSize = v
	case 3:
		t, err := r.Next()
		if err != nil {
			return readErr(err, fieldFormat)
		}
		if t.Type != msgpack.TypeStr && t.Type != msgpack.TypeBin {
			return newErr(ErrMalformed, nil, "%s is %s, want str", fieldFormat, t.Type)
		}
		f.format = t.Bytes
	}
	return nil
}

// readByteArray reads n integers in 0..255 (any MessagePack integer width).
func readByteArray(r *msgpack.Reader, n int, field string) ([]byte, error) {
	b := make([]byte, n)
	for i := range b {
		v, err := r.ReadUint()
		if err != nil {
			return nil, readErr(err, field)
		}
		if v > 0xff {
			return nil, newErr(ErrMalformed, nil, "%s element %d is %d, not a byte", field, i, v)
		}
		b[i] = byte(v)
	}
	return b, nil
}

// readErr maps a MessagePack reader error to this package's kinds.
func readErr(err error, what string) error {
	if errors.Is(err, msgpack.ErrTruncated) {
		return newErr(ErrTruncated, err, "in %s", what)
	}
	return newErr(ErrMalformed, err, "in %s", what)
}

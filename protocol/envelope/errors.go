package envelope

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error returned by Unpack and Pack is an *Error whose
// Kind is one of these, so callers branch with errors.Is:
//
//	if errors.Is(err, envelope.ErrChecksum) { ... }
var (
	// ErrMalformed: the bytes are not a ByteStorage envelope (wrong MessagePack
	// shape, wrong field types, missing or duplicate fields, a legacy byte
	// array element outside 0..255, a checksum that is not 8 bytes).
	ErrMalformed = errors.New("envelope: malformed")
	// ErrTruncated: the input ends inside the envelope.
	ErrTruncated = errors.New("envelope: truncated")
	// ErrTrailingBytes: bytes follow a complete envelope.
	ErrTrailingBytes = errors.New("envelope: trailing bytes after envelope")
	// ErrTooLarge: the envelope, the compressed data or original_size exceed
	// their 512 MiB limit.
	ErrTooLarge = errors.New("envelope: size limit exceeded")
	// ErrBomb: the compressed data is empty, or original_size claims more than
	// MaxCompressionRatio times the compressed length (a decompression bomb).
	ErrBomb = errors.New("envelope: decompression bomb")
	// ErrDecompress: the LZ4 block is corrupt or decompresses to more than
	// original_size bytes.
	ErrDecompress = errors.New("envelope: LZ4 decompression failed")
	// ErrChecksum: the xxHash3-64 of the decompressed bytes differs from the
	// stored checksum (corruption or tampering).
	ErrChecksum = errors.New("envelope: checksum mismatch")
	// ErrSizeMismatch: the decompressed length differs from original_size.
	ErrSizeMismatch = errors.New("envelope: decompressed size mismatch")
)

// Error is the concrete error type of this package. Kind is one of the
// sentinel errors above; Detail says what exactly was wrong (never any of the
// payload bytes); Err is an underlying cause such as a MessagePack or LZ4
// error, or nil.
type Error struct {
	Kind   error
	Detail string
	Err    error
}

// Error implements error.
func (e *Error) Error() string {
	msg := e.Kind.Error()
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap makes errors.Is match both the Kind sentinel and the cause.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

func newErr(kind error, cause error, format string, args ...any) *Error {
	return &Error{Kind: kind, Detail: fmt.Sprintf(format, args...), Err: cause}
}

// Package entry is the value pipeline of cachekit-go: it turns a Go value into
// the bytes stored in a backend and back, exactly as PROTOCOL.md sections 3-5
// describe, so that entries written here are read by the Python and Rust SDKs
// and vice versa.
//
// Writing (Encode):
//
//	Framed     codec.Marshal -> envelope.Pack -> frame.Encode(DefaultHeader(true))  (Python @cache, integrity on)
//	FramedRaw  codec.Marshal -> frame.Encode(DefaultHeader(false))                   (integrity off: raw MessagePack)
//	Interop    interop.EncodeValue                                                   (one plain MessagePack document)
//
// Reading (Open, then Unmarshal) accepts, for the auto modes, every shape a
// reference SDK writes (frame.Classify): a CK v3 frame (its "compressed" flag
// says whether the payload is an envelope or raw MessagePack), a bare envelope
// (Rust writers) and raw MessagePack. A frame whose serializer is not
// "default" is ErrForeignSerializer (a miss, as in Python). Interop mode reads
// only plain MessagePack (interop.DecodeValue rejects frames).
//
// Encryption hook: a Sealer, when set, encrypts the plaintext (the envelope, or
// the raw MessagePack) and fills the frame's encryption fields; on read it
// decrypts frames marked encrypted, and an unencrypted frame, bare envelope or
// raw MessagePack is ErrNotEncrypted (PROTOCOL.md section 5). Without a Sealer
// an encrypted frame is ErrEncrypted. Interop values have no frame: a Sealer
// that also implements InteropSealer encrypts the MessagePack document itself
// (the 4-component AAD of PROTOCOL.md section 6); a Sealer without it makes
// interop Wrap and Open fail with ErrInteropUnsealed, so an interop value is
// never stored in clear by a pipeline configured to encrypt. The pipeline only
// passes bytes to the Sealer; the encryption policy (internal/secure) decides
// keys, tenants and what a failure means.
package entry

import (
	"errors"
	"fmt"

	"github.com/cachekit-go/cachekit/protocol/codec"
	"github.com/cachekit-go/cachekit/protocol/envelope"
	"github.com/cachekit-go/cachekit/protocol/frame"
	"github.com/cachekit-go/cachekit/protocol/interop"
)

// Mode selects the stored format.
type Mode uint8

const (
	// Framed is the Python auto-mode format with integrity: CK frame around a
	// ByteStorage envelope around MessagePack.
	Framed Mode = iota
	// FramedRaw is the auto-mode format with integrity off: CK frame with
	// "compressed": false around raw MessagePack.
	FramedRaw
	// Interop is the cross-SDK interop format: one canonical MessagePack
	// document, nothing around it.
	Interop
)

// Errors a reader branches on. Every one of them means "treat as a miss".
var (
	// ErrForeignSerializer: the frame names a serializer other than "default".
	ErrForeignSerializer = errors.New("entry: frame written by another serializer")
	// ErrEncrypted: the frame is encrypted and no Sealer is configured.
	ErrEncrypted = errors.New("entry: entry is encrypted and no encryption is configured")
	// ErrNotEncrypted: encryption is configured but the frame is not encrypted.
	ErrNotEncrypted = errors.New("entry: entry is not encrypted but encryption is required")
	// ErrUnsupportedFormat: the frame or envelope names a format other than msgpack.
	ErrUnsupportedFormat = errors.New("entry: unsupported payload format")
	// ErrTooLarge: the stored envelope declares a value above
	// Pipeline.MaxSize; it is not decompressed.
	ErrTooLarge = errors.New("entry: stored value is larger than the maximum value size")
	// ErrInteropUnsealed: the pipeline is in Interop mode with a Sealer that
	// does not implement InteropSealer.
	ErrInteropUnsealed = errors.New("entry: the Sealer cannot encrypt interop values")
)

// Sealer encrypts and decrypts stored payloads; it is the hook the encryption
// layer (protocol/crypto) plugs into.
type Sealer interface {
	// Seal encrypts plaintext stored under key (compressed tells whether
	// plaintext is an envelope) and returns the ciphertext and the header to
	// frame it with (DefaultHeader plus the encryption fields).
	Seal(key string, plaintext []byte, compressed bool) ([]byte, frame.Header, error)
	// Open decrypts a framed payload stored under key using its header.
	Open(key string, h frame.Header, ciphertext []byte) ([]byte, error)
}

// FrameSealer is a Sealer that can write the whole frame (header and
// sealed payload) into one buffer; Wrap prefers it to Seal + frame.Encode,
// which copies the ciphertext once more.
type FrameSealer interface {
	// SealFrame appends the frame of the sealed plaintext to dst.
	SealFrame(dst []byte, key string, plaintext []byte, compressed bool) ([]byte, error)
}

// FuncFrameSealer is a Sealer that lets the pipeline write the plaintext
// straight into the frame and encrypts it there; Wrap prefers it to
// FrameSealer, which needs the plaintext (the envelope) in a buffer of its
// own.
type FuncFrameSealer interface {
	// SealFrameFunc appends the frame header to dst, then fill's plaintext
	// (at most room bytes), and seals that plaintext in place.
	SealFrameFunc(dst []byte, key string, compressed bool, room int, fill func([]byte) ([]byte, error)) ([]byte, error)
}

// OwnedOpener is a Sealer that can decrypt in place a ciphertext its caller
// hands over; OpenOwned prefers it to Open.
type OwnedOpener interface {
	// OpenOwned is Open that may overwrite ciphertext and return a
	// subslice of it.
	OpenOwned(key string, h frame.Header, ciphertext []byte) ([]byte, error)
}

// InteropSealer is implemented by a Sealer that can also encrypt interop
// values: one MessagePack document sealed as a whole, without a frame.
type InteropSealer interface {
	// SealInterop encrypts the document stored under key.
	SealInterop(key string, doc []byte) ([]byte, error)
	// OpenInterop decrypts stored bytes back into the document.
	OpenInterop(key string, data []byte) ([]byte, error)
}

// Pipeline encodes and decodes values in one Mode.
type Pipeline struct {
	Mode   Mode
	Sealer Sealer // nil: no encryption
	// MaxSize bounds the document Open unpacks from an envelope: an envelope
	// declaring more is ErrTooLarge before anything is decompressed, so a
	// small stored entry cannot inflate to hundreds of MiB on read. The
	// cache passes its maximum value size. 0: envelope.MaxUncompressedSize.
	MaxSize int64
}

// Encode returns the stored bytes for v under key.
func (p Pipeline) Encode(key string, v any) ([]byte, error) {
	raw, err := p.Marshal(v)
	if err != nil {
		return nil, err
	}
	return p.Wrap(key, raw)
}

// Wrap turns an encoded MessagePack document (Marshal) into the stored bytes:
// framed (and sealed) in the auto modes; in Interop mode the document itself,
// or its encryption when there is a Sealer.
func (p Pipeline) Wrap(key string, raw []byte) ([]byte, error) {
	if p.Mode == Interop {
		if p.Sealer == nil {
			return raw, nil
		}
		is, ok := p.Sealer.(InteropSealer)
		if !ok {
			return nil, ErrInteropUnsealed
		}
		b, err := is.SealInterop(key, raw)
		if err != nil {
			return nil, fmt.Errorf("entry: encrypt: %w", err)
		}
		return b, nil
	}
	compressed := p.Mode == Framed
	// One buffer for the whole frame: header, then the envelope (or the
	// ciphertext) appended after it, instead of a copy per layer.
	size := frame.PrefixSize + 320 + len(raw)
	if compressed {
		size += len(raw)/255 + 64
	}
	if p.Sealer == nil {
		b, err := frame.AppendHeader(make([]byte, 0, size), frame.DefaultHeader(compressed))
		if err != nil {
			return nil, fmt.Errorf("entry: encode frame: %w", err)
		}
		if !compressed {
			return append(b, raw...), nil
		}
		if b, err = envelope.AppendPack(b, raw); err != nil {
			return nil, fmt.Errorf("entry: pack envelope: %w", err)
		}
		return b, nil
	}
	if fs, ok := p.Sealer.(FuncFrameSealer); ok {
		// The envelope (or raw MessagePack) is written where its ciphertext
		// goes and sealed there: no envelope buffer, no copy of it.
		room := len(raw)
		if compressed {
			room = envelope.PackBound(len(raw))
		}
		b, err := fs.SealFrameFunc(nil, key, compressed, room, func(dst []byte) ([]byte, error) {
			if !compressed {
				return append(dst, raw...), nil
			}
			return envelope.AppendPack(dst, raw)
		})
		if err != nil {
			if errors.Is(err, envelope.ErrTooLarge) {
				return nil, fmt.Errorf("entry: pack envelope: %w", err)
			}
			return nil, fmt.Errorf("entry: encrypt: %w", err)
		}
		return b, nil
	}
	payload := raw
	if compressed {
		env, err := envelope.Pack(raw)
		if err != nil {
			return nil, fmt.Errorf("entry: pack envelope: %w", err)
		}
		payload = env
	}
	if fs, ok := p.Sealer.(FrameSealer); ok {
		b, err := fs.SealFrame(make([]byte, 0, size+len(payload)-len(raw)+64), key, payload, compressed)
		if err != nil {
			return nil, fmt.Errorf("entry: encrypt: %w", err)
		}
		return b, nil
	}
	ct, h, err := p.Sealer.Seal(key, payload, compressed)
	if err != nil {
		return nil, fmt.Errorf("entry: encrypt: %w", err)
	}
	b, err := frame.Encode(h, ct)
	if err != nil {
		return nil, fmt.Errorf("entry: encode frame: %w", err)
	}
	return b, nil
}

// Open turns stored bytes into the MessagePack document of the value
// (Unmarshal decodes it): it checks the frame, decrypts and unpacks. data is
// not changed, and the document may share its memory (raw MessagePack is
// returned as a subslice of data).
func (p Pipeline) Open(key string, data []byte) ([]byte, error) {
	return p.open(key, data, false)
}

// OpenOwned is Open for a caller that hands data over, such as the result
// of a backend read (backend.Backend.Get: the caller owns it): an encrypted
// payload is decrypted in place when the Sealer is an OwnedOpener, so data
// is overwritten and must not be used again except through the document.
func (p Pipeline) OpenOwned(key string, data []byte) ([]byte, error) {
	return p.open(key, data, true)
}

func (p Pipeline) open(key string, data []byte, owned bool) ([]byte, error) {
	if p.Mode == Interop {
		if p.Sealer == nil {
			return data, nil
		}
		is, ok := p.Sealer.(InteropSealer)
		if !ok {
			return nil, ErrInteropUnsealed
		}
		doc, err := is.OpenInterop(key, data)
		if err != nil {
			return nil, fmt.Errorf("entry: decrypt: %w", err)
		}
		return doc, nil
	}
	switch frame.Classify(data) {
	case frame.KindFrame:
		h, payload, err := frame.Decode(data)
		if err != nil {
			return nil, fmt.Errorf("entry: decode frame: %w", err)
		}
		// The encryption check comes first: with a Sealer, a frame that is
		// not encrypted is ErrNotEncrypted whatever serializer it names, so
		// an encrypting cache counts it as a rejection (a forged
		// "CK 03 {}" frame must not pass as a mere foreign entry).
		if !h.Encrypted && p.Sealer != nil {
			return nil, ErrNotEncrypted
		}
		if h.Serializer != "default" {
			return nil, ErrForeignSerializer
		}
		if h.Format != "" && h.Format != "msgpack" {
			return nil, ErrUnsupportedFormat
		}
		switch {
		case h.Encrypted && p.Sealer == nil:
			return nil, ErrEncrypted
		case h.Encrypted:
			if oo, ok := p.Sealer.(OwnedOpener); ok && owned {
				payload, err = oo.OpenOwned(key, h, payload)
			} else {
				payload, err = p.Sealer.Open(key, h, payload)
			}
			if err != nil {
				return nil, fmt.Errorf("entry: decrypt: %w", err)
			}
		}
		if !h.Compressed {
			return payload, nil
		}
		return p.unpack(payload)
	case frame.KindEnvelope:
		if p.Sealer != nil {
			return nil, ErrNotEncrypted
		}
		return p.unpack(data)
	default:
		if p.Sealer != nil {
			return nil, ErrNotEncrypted
		}
		return data, nil
	}
}

func (p Pipeline) unpack(env []byte) ([]byte, error) {
	raw, format, err := envelope.UnpackLimit(env, p.MaxSize)
	if errors.Is(err, envelope.ErrTooLarge) {
		return nil, fmt.Errorf("%w: %w", ErrTooLarge, err)
	}
	if err != nil {
		return nil, fmt.Errorf("entry: unpack envelope: %w", err)
	}
	if format != "msgpack" {
		return nil, ErrUnsupportedFormat
	}
	return raw, nil
}

// Unmarshal decodes a MessagePack document (the result of Open) into the
// value into points to.
func (p Pipeline) Unmarshal(doc []byte, into any) error {
	var err error
	if p.Mode == Interop {
		err = interop.UnmarshalValue(doc, into)
	} else {
		err = codec.Unmarshal(doc, into)
	}
	if err != nil {
		return fmt.Errorf("entry: decode value: %w", err)
	}
	return nil
}

// UnmarshalShared is Unmarshal for a document its caller hands over (no
// one else keeps it, and the caller does not use it again): []byte values
// in the result share the document's memory instead of copying it
// (codec.UnmarshalShared). Interop documents are decoded as by Unmarshal.
func (p Pipeline) UnmarshalShared(doc []byte, into any) error {
	if p.Mode == Interop {
		return p.Unmarshal(doc, into)
	}
	if err := codec.UnmarshalShared(doc, into); err != nil {
		return fmt.Errorf("entry: decode value: %w", err)
	}
	return nil
}

// Decode is Open followed by Unmarshal.
func (p Pipeline) Decode(key string, data []byte, into any) error {
	doc, err := p.Open(key, data)
	if err != nil {
		return err
	}
	return p.Unmarshal(doc, into)
}

// AppendMarshal is Marshal appending the document to dst (a reused
// buffer). Interop documents are encoded as by Marshal and appended.
func (p Pipeline) AppendMarshal(dst []byte, v any) ([]byte, error) {
	if p.Mode == Interop {
		b, err := p.Marshal(v)
		if err != nil {
			return dst, err
		}
		return append(dst, b...), nil
	}
	b, err := codec.AppendMarshal(dst, v)
	if err != nil {
		return dst, fmt.Errorf("entry: encode value: %w", err)
	}
	return b, nil
}

// Marshal encodes v as the MessagePack document of this mode (what Open
// returns), without frame or envelope. The cache uses it for the L1 byte mode
// and for sizing values when there is no backend.
func (p Pipeline) Marshal(v any) ([]byte, error) {
	var (
		b   []byte
		err error
	)
	if p.Mode == Interop {
		b, err = interop.EncodeValue(v)
	} else {
		b, err = codec.Marshal(v)
	}
	if err != nil {
		return nil, fmt.Errorf("entry: encode value: %w", err)
	}
	return b, nil
}

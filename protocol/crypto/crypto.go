// Package crypto holds the encryption primitives of the CacheKit protocol
// (PROTOCOL.md section 6): per-tenant key derivation (HKDF-SHA256), the key
// fingerprint, the AAD v0x03 encoding, AES-256-GCM with the stored layout
// nonce(12) || ciphertext || tag(16), and a nonce generator.
//
// Policy (which tenant, which master key, rotation, what a failure means for
// the cache) lives above this package; everything here is a pure function of
// its inputs except the nonce generator.
//
// # Decisions
//
//   - Errors never contain key material, plaintext or ciphertext.
//   - Open reports every authentication failure (wrong key, tampered nonce,
//     ciphertext, tag or AAD) as ErrAuthentication; they cannot be told apart
//     and callers must not try.
//   - Nonces follow the reference layout (8-byte big-endian instance id ||
//     4-byte big-endian counter from 0). Any unique nonce interoperates, the
//     layout only matters for uniqueness; see NonceGenerator for the argument.
package crypto

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Sizes and limits.
const (
	// KeySize is the size of a derived AES-256 key.
	KeySize = 32
	// MinMasterKeySize is the smallest master key the SDKs accept.
	MinMasterKeySize = 32
	// NonceSize is the AES-GCM nonce size.
	NonceSize = 12
	// TagSize is the AES-GCM tag size.
	TagSize = 16
	// Overhead is what Seal adds to a plaintext; it is also the smallest
	// input Open accepts.
	Overhead = NonceSize + TagSize
	// MaxTenantIDSize bounds a tenant id (bytes).
	MaxTenantIDSize = 1024
	// Domain is the HKDF domain of the encryption key (salt component and info).
	Domain = "encryption"
	// AADVersion is the first byte of every AAD.
	AADVersion byte = 0x03
)

// Errors callers branch on.
var (
	// ErrAuthentication: AES-GCM authentication failed (tampering, wrong key,
	// or an AAD that differs from the one used to seal).
	ErrAuthentication = errors.New("crypto: authentication failed")
	// ErrTooShort: the input is shorter than nonce + tag (28 bytes).
	ErrTooShort = errors.New("crypto: ciphertext too short")
	// ErrNonceExhausted: a NonceCounter has handed out all 2^32-1 counter values.
	ErrNonceExhausted = errors.New("crypto: nonce counter exhausted")
	// ErrInvalidMasterKey: the master key is not hex or shorter than 32 bytes.
	ErrInvalidMasterKey = errors.New("crypto: invalid master key")
	// ErrInvalidTenant: the tenant id is empty or longer than 1024 bytes.
	ErrInvalidTenant = errors.New("crypto: invalid tenant id")
	// ErrInvalidKey: a derived key is not 32 bytes.
	ErrInvalidKey = errors.New("crypto: invalid key size")
)

const saltPrefix = "cachekit_v1_"

// DeriveTenantKey derives the tenant's AES-256 key from the master key:
// HKDF-SHA256(ikm=master, salt, info="encryption", L=32) with
// salt = "cachekit_v1_" || u8(len(domain)) || domain || u16be(len(tenant)) || tenant.
func DeriveTenantKey(master []byte, tenant string) ([]byte, error) {
	if len(master) < MinMasterKeySize {
		return nil, fmt.Errorf("%w: %d bytes, need at least %d", ErrInvalidMasterKey, len(master), MinMasterKeySize)
	}
	if len(tenant) == 0 || len(tenant) > MaxTenantIDSize {
		return nil, fmt.Errorf("%w: %d bytes, want 1..%d", ErrInvalidTenant, len(tenant), MaxTenantIDSize)
	}
	salt := make([]byte, 0, len(saltPrefix)+1+len(Domain)+2+len(tenant))
	salt = append(salt, saltPrefix...)
	salt = append(salt, byte(len(Domain)))
	salt = append(salt, Domain...)
	salt = binary.BigEndian.AppendUint16(salt, uint16(len(tenant)))
	salt = append(salt, tenant...)
	return hkdf.Key(sha256.New, master, salt, Domain, KeySize)
}

// Fingerprint identifies a derived key without revealing it: the first 16
// bytes of SHA-256("key_fingerprint_v1" || key), lowercase hex (32 chars). It
// is what the frame's key_fingerprint carries.
func Fingerprint(derivedKey []byte) string {
	h := sha256.New()
	h.Write([]byte("key_fingerprint_v1"))
	h.Write(derivedKey)
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// AAD builds the additional authenticated data v0x03: the byte 03, then for
// each component u32be(len) || bytes: tenantID, cacheKey (the logical key,
// before any backend prefix), format, "True"/"False" for compressed, and
// originalType as a fifth component only when it is not empty.
//
// Auto mode (Python @cache.secure): AAD(tenant, key, "msgpack", true, "msgpack").
// Interop mode and Rust: AAD(tenant, key, "msgpack", false, "").
func AAD(tenantID, cacheKey, format string, compressed bool, originalType string) []byte {
	flag := "False"
	if compressed {
		flag = "True"
	}
	parts := [5]string{tenantID, cacheKey, format, flag, originalType}
	n := 4
	if originalType != "" {
		n = 5
	}
	size := 1
	for _, p := range parts[:n] {
		size += 4 + len(p)
	}
	b := make([]byte, 0, size)
	b = append(b, AADVersion)
	for _, p := range parts[:n] {
		b = binary.BigEndian.AppendUint32(b, uint32(len(p)))
		b = append(b, p...)
	}
	return b
}

// ParseMasterKey decodes a hex master key (as in CACHEKIT_MASTER_KEY;
// surrounding whitespace is ignored, either letter case is accepted) and checks
// that it has at least 32 bytes. Errors wrap ErrInvalidMasterKey and never
// contain any part of the key.
func ParseMasterKey(hexKey string) ([]byte, error) {
	s := strings.TrimSpace(hexKey)
	if s == "" {
		return nil, fmt.Errorf("%w: empty", ErrInvalidMasterKey)
	}
	if len(s)%2 != 0 {
		return nil, fmt.Errorf("%w: odd number of hex digits (%d)", ErrInvalidMasterKey, len(s))
	}
	key := make([]byte, len(s)/2)
	if _, err := hex.Decode(key, []byte(s)); err != nil {
		// hex's error quotes the offending character: do not wrap it.
		return nil, fmt.Errorf("%w: not a hexadecimal string", ErrInvalidMasterKey)
	}
	if len(key) < MinMasterKeySize {
		return nil, fmt.Errorf("%w: %d bytes, need at least %d (%d hex digits)", ErrInvalidMasterKey, len(key), MinMasterKeySize, 2*MinMasterKeySize)
	}
	return key, nil
}

// AEAD is AES-256-GCM under one derived key, with its own NonceGenerator.
// Build it once per key and share it: it is safe for concurrent use.
type AEAD struct {
	gcm         cipher.AEAD
	nonces      *NonceGenerator
	fingerprint string
}

// NewAEAD returns an AEAD for a 32-byte derived key.
func NewAEAD(key []byte) (*AEAD, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrInvalidKey, len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("crypto: %w", err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("crypto: %w", err)
	}
	return &AEAD{gcm: gcm, nonces: NewNonceGenerator(), fingerprint: Fingerprint(key)}, nil
}

// NewTenantAEAD derives the tenant's key from master and returns its AEAD.
func NewTenantAEAD(master []byte, tenant string) (*AEAD, error) {
	key, err := DeriveTenantKey(master, tenant)
	if err != nil {
		return nil, err
	}
	defer clear(key)
	return NewAEAD(key)
}

// Fingerprint returns the fingerprint of the AEAD's key.
func (a *AEAD) Fingerprint() string { return a.fingerprint }

// Seal encrypts plaintext with a fresh nonce from the AEAD's generator and
// returns nonce || ciphertext || tag.
func (a *AEAD) Seal(plaintext, aad []byte) []byte {
	return a.SealWithNonce(a.nonces.Next(), plaintext, aad)
}

// SealWithNonce is Seal with a caller-chosen nonce, for known-answer tests and
// callers with their own nonce source. A nonce must never be used twice with
// the same key.
func (a *AEAD) SealWithNonce(nonce [NonceSize]byte, plaintext, aad []byte) []byte {
	return a.AppendSealWithNonce(make([]byte, 0, NonceSize+len(plaintext)+TagSize), nonce, plaintext, aad)
}

// AppendSeal is Seal that appends nonce || ciphertext || tag to dst, so a
// caller that writes a frame header first seals straight after it instead
// of copying the ciphertext.
func (a *AEAD) AppendSeal(dst, plaintext, aad []byte) []byte {
	return a.AppendSealWithNonce(dst, a.nonces.Next(), plaintext, aad)
}

// AppendSealWithNonce is SealWithNonce appending to dst.
func (a *AEAD) AppendSealWithNonce(dst []byte, nonce [NonceSize]byte, plaintext, aad []byte) []byte {
	dst = append(dst, nonce[:]...)
	return a.gcm.Seal(dst, nonce[:], plaintext, aad)
}

// SealInPlace encrypts buf[at+NonceSize:] where it lies, with a fresh nonce
// written into buf[at:at+NonceSize], and appends the tag: buf[at:] becomes
// nonce || ciphertext || tag. A caller that builds the plaintext straight
// after a frame header and a reserved nonce seals it without a second buffer.
// buf needs TagSize bytes of spare capacity, else the result is a new,
// larger copy.
func (a *AEAD) SealInPlace(buf []byte, at int, aad []byte) []byte {
	return a.SealInPlaceWithNonce(buf, at, a.nonces.Next(), aad)
}

// SealInPlaceWithNonce is SealInPlace with a caller-chosen nonce (see
// SealWithNonce).
func (a *AEAD) SealInPlaceWithNonce(buf []byte, at int, nonce [NonceSize]byte, aad []byte) []byte {
	copy(buf[at:at+NonceSize], nonce[:])
	pt := buf[at+NonceSize:]
	// pt[:0] as dst: the exact overlap crypto/cipher allows for in-place use.
	ct := a.gcm.Seal(pt[:0], nonce[:], pt, aad)
	if cap(pt) >= len(ct) {
		return buf[:at+NonceSize+len(ct)]
	}
	// Seal had to grow the buffer: ct is a new slice without the prefix.
	out := make([]byte, at+NonceSize+len(ct))
	copy(out, buf[:at+NonceSize])
	copy(out[at+NonceSize:], ct)
	return out
}

// Open authenticates and decrypts nonce || ciphertext || tag. It returns
// ErrTooShort for inputs under 28 bytes and ErrAuthentication for anything
// that does not authenticate under this key and aad.
func (a *AEAD) Open(data, aad []byte) ([]byte, error) {
	if len(data) < Overhead {
		return nil, fmt.Errorf("%w: %d bytes, need at least %d", ErrTooShort, len(data), Overhead)
	}
	pt, err := a.gcm.Open(nil, data[:NonceSize], data[NonceSize:], aad)
	if err != nil {
		return nil, ErrAuthentication
	}
	if pt == nil {
		pt = []byte{}
	}
	return pt, nil
}

// OpenInPlace is Open decrypting into data's own memory: the plaintext it
// returns is a subslice of data, and data no longer holds the ciphertext
// afterwards (on failure crypto/cipher clears it). For a caller that owns
// data and needs nothing else from it, such as a backend read: it saves
// one allocation and copy of the value.
func (a *AEAD) OpenInPlace(data, aad []byte) ([]byte, error) {
	if len(data) < Overhead {
		return nil, fmt.Errorf("%w: %d bytes, need at least %d", ErrTooShort, len(data), Overhead)
	}
	ct := data[NonceSize:]
	pt, err := a.gcm.Open(ct[:0], data[:NonceSize], ct, aad)
	if err != nil {
		return nil, ErrAuthentication
	}
	return pt[:len(pt):len(pt)], nil
}

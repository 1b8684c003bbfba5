package memcached

import (
	"encoding/hex"
	"strings"

	"golang.org/x/crypto/blake2b"
)

// Key mapping. memcached keys are at most MaxKeyLength bytes of printable
// ASCII without spaces; cachekit keys are arbitrary strings. The mapping
// from a cachekit key to the key on the wire is injective:
//
//   - a "plain" key (1..250 bytes, every byte in 0x21..0x7e, not starting
//     with the reserved prefix "ck#") goes on the wire unchanged, so entries
//     are shared with other clients (cachekit-py sends keys as they are);
//   - every other key goes on the wire as "ck#h:" followed by the lowercase
//     hex of blake2b-256 over a one-byte domain tag ('d' for data, 'l' for
//     locks), a zero byte and the key.
//
// Plain keys never start with "ck#", so no plain key equals a hashed one;
// two different keys meet on the wire only through a blake2b-256 collision.
// Lock entries live under "ck#l:" + key when that is plain enough to fit,
// otherwise under the hashed form with the lock domain tag, so a lock never
// shares a wire key with a data entry either.
const (
	// MaxKeyLength is memcached's key length limit in bytes.
	MaxKeyLength = 250
	// reservedPrefix starts every key this package generates; user keys
	// starting with it are hashed.
	reservedPrefix = "ck#"
	hashedPrefix   = reservedPrefix + "h:"
	lockPrefix     = reservedPrefix + "l:"
)

// Domain tags separating the hash inputs of data keys and lock keys.
const (
	domainData = 'd'
	domainLock = 'l'
)

// plainKey reports whether k can go on the wire unchanged.
func plainKey(k string) bool {
	if len(k) == 0 || len(k) > MaxKeyLength || strings.HasPrefix(k, reservedPrefix) {
		return false
	}
	return printable(k)
}

// printable reports whether every byte of k is in 0x21..0x7e.
func printable(k string) bool {
	for i := 0; i < len(k); i++ {
		if c := k[i]; c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

// hashedKey returns the hashed wire form of k in the given domain.
func hashedKey(domain byte, k string) string {
	h, _ := blake2b.New256(nil) // unkeyed: cannot fail
	h.Write([]byte{domain, 0})
	h.Write([]byte(k))
	var sum [blake2b.Size256]byte
	return hashedPrefix + hex.EncodeToString(h.Sum(sum[:0]))
}

// wireKey maps a cachekit key to its memcached key.
func wireKey(k string) string {
	if plainKey(k) {
		return k
	}
	return hashedKey(domainData, k)
}

// lockKey maps a cachekit key to the memcached key of its lock.
func lockKey(k string) string {
	if len(lockPrefix)+len(k) <= MaxKeyLength && printable(k) {
		return lockPrefix + k
	}
	return hashedKey(domainLock, k)
}

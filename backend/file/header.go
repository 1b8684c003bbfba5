package file

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/blake2b"
)

// The on-disk format shared with cachekit-py and cachekit-rs (PROTOCOL.md
// section 8). An entry is one file named by the lowercase hex of the 16-byte
// blake2b digest of the key's UTF-8 bytes; it holds a 14-byte header and then
// the value:
//
//	offset 0  "CK"       magic
//	offset 2  0x01       format version
//	offset 3  0x00       reserved
//	offset 4  u16 BE     flags
//	offset 6  u64 BE     expiry, unix seconds; 0 = never expires
//	offset 14 value
//
// Flags: both reference SDKs write 0 and never read the field (the Python
// source calls it "reserved for future" compression/encryption flags). This
// package writes 0 and accepts any value on read, so a future writer that
// sets flags does not turn every entry into a miss here. The reserved byte is
// treated the same way.
const (
	// HeaderSize is the length of the entry header.
	HeaderSize = 14
	// FormatVersion is the only version this package reads and writes.
	FormatVersion = 1
	magic0        = 'C'
	magic1        = 'K'
	expiryOffset  = 6
)

// ErrCorrupt reports a file that is not a valid entry: shorter than the
// header, wrong magic or an unknown version. Such files are misses and are
// removed.
var ErrCorrupt = errors.New("file: not a cachekit entry")

// header is the decoded entry header.
type header struct {
	flags  uint16
	expiry uint64 // unix seconds, 0 = never
}

// appendHeader appends the header for expiry (flags 0) to dst.
func appendHeader(dst []byte, expiry uint64) []byte {
	dst = append(dst, magic0, magic1, FormatVersion, 0, 0, 0)
	return binary.BigEndian.AppendUint64(dst, expiry)
}

// parseHeader decodes the header at the start of b.
func parseHeader(b []byte) (header, error) {
	if len(b) < HeaderSize {
		return header{}, fmt.Errorf("%w: %d bytes, shorter than the %d-byte header", ErrCorrupt, len(b), HeaderSize)
	}
	if b[0] != magic0 || b[1] != magic1 {
		return header{}, fmt.Errorf("%w: bad magic", ErrCorrupt)
	}
	if b[2] != FormatVersion {
		return header{}, fmt.Errorf("%w: unknown format version %d", ErrCorrupt, b[2])
	}
	return header{
		flags:  binary.BigEndian.Uint16(b[4:6]),
		expiry: binary.BigEndian.Uint64(b[expiryOffset:HeaderSize]),
	}, nil
}

// expired reports whether an entry with this header is past its expiry at
// now. Like the reference SDKs, an entry is alive through its expiry second
// and expired once now is later than it.
func (h header) expired(now time.Time) bool {
	return h.expiry != 0 && now.After(expiryTime(h.expiry))
}

// remaining is the lifetime left at now (0 for entries without expiry).
func (h header) remaining(now time.Time) time.Duration {
	if h.expiry == 0 {
		return 0
	}
	return expiryTime(h.expiry).Sub(now)
}

// expiryTime converts a header expiry to a time, saturating far-future
// values that do not fit time.Unix.
func expiryTime(e uint64) time.Time {
	const maxUnix = 1 << 62
	if e > maxUnix {
		e = maxUnix
	}
	return time.Unix(int64(e), 0)
}

// expiryFor converts a TTL to a header expiry: 0 for none, otherwise now +
// ttl rounded DOWN to whole seconds, as the reference SDKs compute it. An
// entry is therefore never served longer than its TTL (a TTL is a freshness
// bound), and may expire up to a second early; the expiry is at least the
// next second, so even a sub-second TTL is not dead on arrival.
func expiryFor(ttl time.Duration, now time.Time) uint64 {
	if ttl <= 0 {
		return 0
	}
	end := now.Add(ttl)
	if end.Before(now) { // overflow
		return 1 << 62
	}
	return uint64(max(end.Unix(), now.Unix()+1))
}

// FileName returns the name of the file that holds key: the lowercase hex of
// blake2b with a 16-byte digest over the key's bytes.
func FileName(key string) string {
	h, _ := blake2b.New(16, nil) // a valid size and no key: cannot fail
	h.Write([]byte(key))
	var sum [16]byte
	return hex.EncodeToString(h.Sum(sum[:0]))
}

// isEntryName reports whether name has the shape of an entry file name.
func isEntryName(name string) bool {
	if len(name) != 32 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

package codec

import (
	"errors"
	"strings"

	"github.com/cachekit-go/cachekit/protocol/internal/encode"
)

// UUID is a 128-bit UUID. It is encoded as its lowercase hyphenated string,
// like Python's str(uuid.UUID). Other named [16]byte types implementing
// fmt.Stringer are treated the same way.
type UUID [16]byte

// ErrInvalidUUID reports text that is not a UUID.
var ErrInvalidUUID = errors.New("codec: invalid UUID")

// ParseUUID parses the forms Python's uuid.UUID accepts: 32 hex digits, with
// or without the four hyphens, optionally in braces or after "urn:uuid:",
// in any case.
func ParseUUID(s string) (UUID, error) {
	var u UUID
	if len(s) > 9 && strings.EqualFold(s[:9], "urn:uuid:") {
		s = s[9:]
	}
	s = strings.TrimPrefix(strings.TrimSuffix(s, "}"), "{")
	if len(s) == 36 {
		if s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
			return u, ErrInvalidUUID
		}
		s = s[:8] + s[9:13] + s[14:18] + s[19:23] + s[24:]
	}
	if len(s) != 32 {
		return u, ErrInvalidUUID
	}
	for i := range u {
		hi, ok1 := unhex(s[2*i])
		lo, ok2 := unhex(s[2*i+1])
		if !ok1 || !ok2 {
			return UUID{}, ErrInvalidUUID
		}
		u[i] = hi<<4 | lo
	}
	return u, nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// String returns the lowercase hyphenated form.
func (u UUID) String() string { return string(encode.AppendUUID(nil, u)) }

// MarshalText returns the lowercase hyphenated form.
func (u UUID) MarshalText() ([]byte, error) { return encode.AppendUUID(nil, u), nil }

// UnmarshalText parses any form ParseUUID accepts.
func (u *UUID) UnmarshalText(b []byte) error {
	v, err := ParseUUID(string(b))
	if err != nil {
		return err
	}
	*u = v
	return nil
}

// Package secret holds String, the one type cachekit-go uses for every
// secret it is configured with: the encryption master keys
// (cachekit.Encryption), the CacheKit API key (cachekitio.Options.APIKey) and
// the Redis passwords (redis.Options). Every way of printing a String
// yields "[redacted]": fmt with any verb (%v, %+v, %#v, %s, %q, %x, ...),
// log/slog (text and JSON handlers), encoding/json and every
// encoding.TextMarshaler user. So a configuration struct holding one can be
// printed, logged or dumped as JSON without leaking it.
//
// Why a package of its own: the root package and the backends both need the
// type, and a backend must not import the root package (nothing reaches
// upward, DESIGN.md), nor should the root's encryption settings depend on the
// backend contract. This package imports only the standard library, so any
// package of the module, and any user's backend, may use it.
//
// What it cannot do: fmt does not call methods on unexported struct fields,
// so a String kept in an unexported field of a struct that is printed whole
// prints in clear. Keep secrets in exported fields, drop them once they are
// parsed (cachekit does, for the master keys), or give the holder its own
// String method.
package secret

import (
	"fmt"
	"log/slog"
)

// Redacted is what a String prints as.
const Redacted = "[redacted]"

// String is a secret string (a key, a password). Convert to and from string
// to use its value: String(os.Getenv("X")), string(s) or s.Reveal(). The
// zero value is the empty secret.
type String string

// Reveal returns the secret in clear, for the one place that needs it (an
// Authorization header, a key parser). Never log what it returns.
func (s String) Reveal() string { return string(s) }

// IsZero reports whether the secret is empty.
func (s String) IsZero() bool { return s == "" }

// String returns "[redacted]".
func (String) String() string { return Redacted }

// GoString returns "[redacted]", for %#v.
func (String) GoString() string { return Redacted }

// Format writes "[redacted]" for every verb and flag, so even %x and %q
// (which would otherwise print the bytes of a string type) show nothing.
func (String) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(Redacted)) }

// LogValue makes log/slog print "[redacted]" with any handler.
func (String) LogValue() slog.Value { return slog.StringValue(Redacted) }

// MarshalText returns "[redacted]", for every text encoding.
func (String) MarshalText() ([]byte, error) { return []byte(Redacted), nil }

// MarshalJSON returns the JSON string "[redacted]".
func (String) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }

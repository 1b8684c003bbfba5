package dynamodb

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Defaults for [Options]. The attribute names are deliberately plain; they are
// DynamoDB reserved words, which is harmless because every request refers to
// them through expression attribute names.
const (
	// DefaultTable is the table name used when Options.Table is empty.
	DefaultTable = "cachekit"
	// DefaultKeyAttribute is the partition key attribute (type S).
	DefaultKeyAttribute = "key"
	// DefaultValueAttribute is the attribute holding the entry's bytes (type B).
	DefaultValueAttribute = "value"
	// DefaultTTLAttribute is the expiry attribute (type N, Unix epoch
	// seconds), the one to enable DynamoDB Time to Live on.
	DefaultTTLAttribute = "ttl"
)

// Limits imposed by DynamoDB.
const (
	// MaxItemSize is DynamoDB's item size limit: 400 KB, counting attribute
	// names and values.
	MaxItemSize = 400 * 1024
	// MaxKeySize is DynamoDB's limit on a partition key value, in bytes.
	MaxKeySize = 2048
)

// LockSuffix is appended to a key to name its lock item, matching the
// "{key}:lock" convention of the reference SDKs.
const LockSuffix = ":lock"

// Name is the backend name reported in errors and in HealthCheck's
// backend_type.
const Name = "dynamodb"

// Options configures a [Backend]. The zero value uses the table
// [DefaultTable] with the default attribute names and strongly consistent
// reads.
type Options struct {
	// Table is the DynamoDB table name. Default [DefaultTable].
	Table string
	// KeyAttribute is the name of the table's partition key, a String.
	// Default [DefaultKeyAttribute].
	KeyAttribute string
	// ValueAttribute is the name of the Binary attribute holding the value.
	// Default [DefaultValueAttribute].
	ValueAttribute string
	// TTLAttribute is the name of the Number attribute holding the expiry in
	// Unix epoch seconds. Enable DynamoDB Time to Live on this attribute so
	// expired items are deleted. Default [DefaultTTLAttribute].
	TTLAttribute string

	// EventuallyConsistentReads makes Get, Exists and TTL use eventually
	// consistent reads: half the read cost, but a read right after a write
	// may return the previous value. The default (false) is strongly
	// consistent reads.
	EventuallyConsistentReads bool

	// Timeout bounds every operation, on top of the caller's context. Zero
	// means no bound beyond the context. [Backend.WithTimeout] overrides it.
	Timeout time.Duration

	// SkipTableCheck makes [New] skip its DescribeTable call, which verifies
	// that the table exists and that its partition key is KeyAttribute of
	// type String. Set it when the credentials may not call DescribeTable;
	// HealthCheck needs that permission too.
	SkipTableCheck bool

	// Logger receives debug and warning messages (never values or
	// credentials). Default: slog.Default().
	Logger *slog.Logger
}

// withDefaults returns a copy of o with every empty field set to its default,
// or an error if the result cannot work.
func (o Options) withDefaults() (Options, error) {
	if o.Table == "" {
		o.Table = DefaultTable
	}
	if o.KeyAttribute == "" {
		o.KeyAttribute = DefaultKeyAttribute
	}
	if o.ValueAttribute == "" {
		o.ValueAttribute = DefaultValueAttribute
	}
	if o.TTLAttribute == "" {
		o.TTLAttribute = DefaultTTLAttribute
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Timeout < 0 {
		return o, fmt.Errorf("%w: negative Timeout %v", ErrInvalidOptions, o.Timeout)
	}
	if !validTableName(o.Table) {
		return o, fmt.Errorf("%w: table name %q must be 3-255 characters of a-z, A-Z, 0-9, '_', '-' and '.'", ErrInvalidOptions, o.Table)
	}
	names := []string{o.KeyAttribute, o.ValueAttribute, o.TTLAttribute}
	for i, n := range names {
		if len(n) > 255 {
			return o, fmt.Errorf("%w: attribute name %q is longer than 255 bytes", ErrInvalidOptions, n)
		}
		for _, m := range names[:i] {
			if n == m {
				return o, fmt.Errorf("%w: attribute name %q used twice", ErrInvalidOptions, n)
			}
		}
	}
	return o, nil
}

// validTableName applies DynamoDB's table naming rule.
func validTableName(s string) bool {
	if len(s) < 3 || len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-', c == '.':
		default:
			return false
		}
	}
	return true
}

// Sentinel errors, wrapped inside *backend.Error (or returned by New) so that
// callers can branch with errors.Is.
var (
	// ErrItemTooLarge: the value does not fit into one DynamoDB item
	// (MaxItemSize, counting the key and attribute names). Permanent.
	ErrItemTooLarge = errors.New("dynamodb: item exceeds the 400 KB DynamoDB item limit")
	// ErrInvalidKey: the key is empty or longer than MaxKeySize bytes.
	// Permanent.
	ErrInvalidKey = errors.New("dynamodb: key must be 1 to 2048 bytes")
	// ErrInvalidOptions: New or CreateTable was given unusable Options.
	ErrInvalidOptions = errors.New("dynamodb: invalid options")
	// ErrTableMismatch: the table exists but its key schema does not match
	// Options.KeyAttribute (a String partition key and no sort key).
	ErrTableMismatch = errors.New("dynamodb: table key schema does not match Options")
	// ErrBadItem: a stored item has a value or ttl attribute of the wrong
	// type, so it was not written by this backend. Permanent.
	ErrBadItem = errors.New("dynamodb: stored item has attributes of the wrong type")
)

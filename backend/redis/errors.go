package redis

import (
	"context"
	"errors"
	"io"
	"strconv"
	"strings"

	"github.com/redis/rueidis"

	"github.com/cachekit-go/cachekit/backend"
)

// wrapErr turns a failure into a *backend.Error with a Kind. The cause stays
// in the chain (errors.Is(err, context.DeadlineExceeded) still works); it
// never contains credentials: rueidis reports server replies and network
// errors, neither of which carries the password, and this package never puts
// a URL into an error.
func wrapErr(op, key string, err error) error {
	var be *backend.Error
	if errors.As(err, &be) {
		return err
	}
	return backend.NewError(kindOf(err), backendName, op, key, err)
}

// kindOf classifies a rueidis error.
func kindOf(err error) backend.Kind {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return backend.Timeout
	case errors.Is(err, context.Canceled):
		return backend.Unknown
	case errors.Is(err, rueidis.ErrClosing), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		// ErrClosing also means "cannot reach any server".
		return backend.Transient
	}
	if re, ok := rueidis.IsRedisErr(err); ok {
		return redisErrorKind(re)
	}
	return backend.Classify(err)
}

// redisErrorKind maps a server error reply by its error code, the first word
// of the reply (RESP defines it as the machine-readable part).
func redisErrorKind(re *rueidis.RedisError) backend.Kind {
	code, _, _ := strings.Cut(re.Error(), " ")
	switch code {
	case "NOAUTH", "WRONGPASS", "NOPERM":
		return backend.Authentication
	case "LOADING", "BUSY", "TRYAGAIN", "CLUSTERDOWN", "MASTERDOWN", "READONLY",
		"MOVED", "ASK", "NOREPLICAS", "OOM", "NOTBUSY", "UNBLOCKED":
		// The server is starting, failing over, resharding or full: the
		// same command can succeed shortly.
		return backend.Transient
	default:
		// WRONGTYPE, ERR (syntax, value too large), EXECABORT, NOSCRIPT...
		return backend.Permanent
	}
}

func formatInt(n int64) string { return strconv.FormatInt(n, 10) }

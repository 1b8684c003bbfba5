package cachekitio

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/cachekit-go/cachekit/backend"
)

// backendName is the Backend field of every *backend.Error this package
// returns.
const backendName = "cachekitio"

// Sentinels for conditions callers branch on. Operation errors are
// *backend.Error values that wrap them, so errors.Is works on either.
var (
	// ErrValueTooLarge: the server refused the value as too large (413).
	ErrValueTooLarge = errors.New("cachekitio: value too large")
	// ErrInvalidKey: the key can not be sent (empty, or exactly ".", "..",
	// "health", "ttl" or "lock", which would address another route).
	ErrInvalidKey = errors.New("cachekitio: invalid cache key")
	// ErrInvalidTTL: a TTL or lock hold outside the API's range (negative,
	// zero where a lifetime is required, or more than 30 days).
	ErrInvalidTTL = errors.New("cachekitio: invalid TTL")
	// ErrProtocol: the server answered something the API does not define
	// (a malformed JSON body, an unexpected status).
	ErrProtocol = errors.New("cachekitio: protocol violation")
	// ErrRetryAfterTooLong: the server asked to retry later than the
	// operation's deadline allows, so the operation gave up early.
	ErrRetryAfterTooLong = errors.New("cachekitio: server asked to retry after the deadline")
)

// StatusError is the cause of a failed operation that got an HTTP answer.
// It carries the status and, for 429/503, the server's Retry-After; the
// response body is not kept (it is the server's business, and may echo
// request data).
type StatusError struct {
	StatusCode int
	RetryAfter time.Duration // zero when absent
}

// Error reports the HTTP status and, when the server sent one, its Retry-After.
func (e *StatusError) Error() string {
	s := fmt.Sprintf("http %d %s", e.StatusCode, http.StatusText(e.StatusCode))
	if e.RetryAfter > 0 {
		s += fmt.Sprintf(" (retry after %s)", e.RetryAfter)
	}
	return s
}

// Is makes errors.Is(err, ErrValueTooLarge) true for a 413.
func (e *StatusError) Is(target error) bool {
	return target == ErrValueTooLarge && e.StatusCode == http.StatusRequestEntityTooLarge
}

// kindOfStatus maps an HTTP status to a failure kind: 401/403 are
// Authentication; 408, 429 and 5xx Transient; every other 4xx (400, 409, 413,
// ...) Permanent.
func kindOfStatus(code int) backend.Kind {
	switch {
	case code == http.StatusUnauthorized, code == http.StatusForbidden:
		return backend.Authentication
	case code == http.StatusRequestTimeout, code == http.StatusTooManyRequests, code >= 500 && code <= 599:
		return backend.Transient
	case code >= 300 && code <= 499:
		return backend.Permanent
	}
	return backend.Unknown
}

// kindOfTransportError classifies an error from the HTTP round trip.
func kindOfTransportError(err error) backend.Kind {
	var (
		certErr     *tls.CertificateVerificationError
		unknownAuth x509.UnknownAuthorityError
		hostErr     x509.HostnameError
		invalidCert x509.CertificateInvalidError
	)
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return backend.Timeout
	case errors.Is(err, context.Canceled):
		return backend.Unknown
	case errors.Is(err, ErrBlockedAddress), errors.Is(err, ErrProtocol),
		errors.As(err, &certErr), errors.As(err, &unknownAuth),
		errors.As(err, &hostErr), errors.As(err, &invalidCert):
		// Refused by policy, the server is not who it claims to be, or it
		// answered what the API does not allow (a body over the limit):
		// retrying can not help, and would fetch the oversized body again.
		return backend.Permanent
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
		return backend.Permanent
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return backend.Timeout
	}
	// Connection refused/reset, EOF mid-response, HTTP/2 stream errors, ...
	return backend.Transient
}

// retryable reports whether a failure of this kind is worth another attempt.
func retryable(k backend.Kind) bool { return k == backend.Transient }

// sanitize removes the API key from s, in case some lower layer ever echoed
// a header into an error text.
func sanitize(s string, key Secret) string {
	if key == "" || !strings.Contains(s, string(key)) {
		return s
	}
	return strings.ReplaceAll(s, string(key), redacted)
}

// safeError replaces an error whose text held the API key. It keeps
// errors.Is working but does not unwrap, so the original text is unreachable.
type safeError struct {
	msg string
	err error
}

func (e *safeError) Error() string        { return e.msg }
func (e *safeError) Is(target error) bool { return errors.Is(e.err, target) }

func scrub(err error, key Secret) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if s := sanitize(msg, key); s != msg {
		return &safeError{msg: s, err: err}
	}
	return err
}

package backend

import (
	"context"
	"errors"
	"fmt"
	"net"
)

// Kind classifies a storage failure so callers can decide what to do with it
// without parsing messages.
type Kind uint8

const (
	// Unknown is a failure the backend could not classify.
	Unknown Kind = iota
	// Transient failures (connection refused or reset, server busy, rate
	// limited, 5xx) may succeed when retried.
	Transient
	// Permanent failures (bad request, value too large, wrong type) will fail
	// again if retried unchanged.
	Permanent
	// Timeout means the operation did not finish before its deadline.
	Timeout
	// Authentication means the credentials were missing, wrong or lack
	// permission. Retrying does not help; an operator has to act.
	Authentication
)

var kindNames = [...]string{"unknown", "transient", "permanent", "timeout", "authentication"}

// String returns the kind's lowercase name ("transient", "timeout", ...).
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Error is the error every cachekit-go backend returns for a failed operation.
// Its message names the backend, the operation, the key and the kind; it never
// contains values, credentials or connection secrets.
type Error struct {
	Kind    Kind
	Backend string // "redis", "memcached", "file", "dynamodb", "cachekitio", ...
	Op      string // "get", "set", "delete", "exists", "lock", "unlock", "ttl", "refresh_ttl", "health"
	Key     string // the key involved, if any
	Err     error  // the underlying cause; must not carry secrets either
}

// Error names the backend, the operation, the key and the kind, then the
// cause. It never includes values or credentials.
func (e *Error) Error() string {
	msg := e.Backend
	if msg == "" {
		msg = "backend"
	}
	msg += " " + e.Op
	if e.Key != "" {
		msg += fmt.Sprintf(" %q", e.Key)
	}
	msg += ": " + e.Kind.String()
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// Is lets errors.Is(err, backend.ErrTimeout) and friends match on Kind.
func (e *Error) Is(target error) bool {
	if k, ok := target.(kindSentinel); ok {
		return e.Kind == Kind(k)
	}
	return false
}

type kindSentinel Kind

func (k kindSentinel) Error() string { return "backend: " + Kind(k).String() + " error" }

// Sentinels matching any *Error of the given kind with errors.Is.
var (
	ErrTransient      error = kindSentinel(Transient)
	ErrPermanent      error = kindSentinel(Permanent)
	ErrTimeout        error = kindSentinel(Timeout)
	ErrAuthentication error = kindSentinel(Authentication)
)

// NewError builds an *Error. When kind is Unknown it is inferred from err with
// Classify.
func NewError(kind Kind, backendName, op, key string, err error) *Error {
	if kind == Unknown {
		kind = Classify(err)
	}
	return &Error{Kind: kind, Backend: backendName, Op: op, Key: key, Err: err}
}

// KindOf returns the Kind of the first *Error in err's chain, or Classify(err)
// when there is none.
func KindOf(err error) Kind {
	var be *Error
	if errors.As(err, &be) {
		return be.Kind
	}
	return Classify(err)
}

// Classify infers a Kind from an error that is not an *Error: deadlines are
// Timeout, network errors are Transient, anything else is Unknown.
func Classify(err error) Kind {
	if err == nil {
		return Unknown
	}
	var be *Error
	if errors.As(err, &be) {
		return be.Kind
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return Timeout
	}
	var ne net.Error
	if errors.As(err, &ne) {
		if ne.Timeout() {
			return Timeout
		}
		return Transient
	}
	return Unknown
}

// IsTransient reports whether err is worth retrying: Transient or Timeout.
// Context cancellation by the caller is not.
func IsTransient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	k := KindOf(err)
	return k == Transient || k == Timeout
}

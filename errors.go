package cachekit

import (
	"errors"
	"strings"

	"github.com/cachekit-go/cachekit/internal/flight"
)

// Sentinel errors. Branch on them with errors.Is; messages may change.
var (
	// ErrInvalidOption: an Option or FuncOption got a value it cannot accept
	// (negative size, ratio out of range, ...). New and Wrap return it.
	ErrInvalidOption = errors.New("cachekit: invalid option")
	// ErrConfig: the configuration (options and environment together) is not
	// usable. *ConfigError carries the details.
	ErrConfig = errors.New("cachekit: configuration error")
	// ErrConflictingBackends: FromEnv found more than one backend configured
	// in the environment. Matched by the *ConfigError that names them.
	ErrConflictingBackends = errors.New("cachekit: more than one backend configured")
	// ErrUnnamedFunction: the wrapped function has no stable Go symbol (a
	// closure, a method value or a generic function); pass Name("...").
	ErrUnnamedFunction = errors.New("cachekit: function needs an explicit identity")
	// ErrClearUnsupported: Clear removed the in-process entries but cannot
	// remove the backend's (the backend offers no prefix deletion, or the
	// wrapper's keys have no common prefix: KeyFunc, very long identities).
	ErrClearUnsupported = errors.New("cachekit: backend entries cannot be cleared")
	// ErrValueTooLarge: Set was given a value whose serialized size exceeds
	// the maximum value size.
	ErrValueTooLarge = errors.New("cachekit: value exceeds the maximum value size")
	// ErrTypeMismatch: an entry holds a value of another Go type than the
	// caller asked for (the same key used with two result types).
	ErrTypeMismatch = errors.New("cachekit: cached value has another type")
	// ErrEncryptionRequired: encryption is required (the Secure preset or
	// WithEncryption) but no master key is available (no
	// Encryption.MasterKey, and no CACHEKIT_MASTER_KEY under FromEnv).
	ErrEncryptionRequired = errors.New("cachekit: encryption required but not configured")
	// ErrClosed: the direct API, a wrapper's Invalidate or Clear was used
	// after Close. Calls through wrappers and Load keep working after Close:
	// they call the function uncached.
	ErrClosed = errors.New("cachekit: cache is closed")
	// ErrUncacheableArguments: the key layer cannot encode the arguments
	// (returned by Key and Invalidate; a call with such arguments runs
	// uncached instead).
	ErrUncacheableArguments = errors.New("cachekit: arguments cannot be part of a cache key")
)

// PanicError is the error every waiter of a shared load receives when the
// wrapped function panicked: the panic is recovered (its stack is logged) so
// that one bad call does not crash the other callers waiting for it. Value is
// the value passed to panic.
type PanicError = flight.PanicError

// ConfigError describes an unusable configuration. Vars names the
// environment variables involved, if any (never their values).
type ConfigError struct {
	Vars   []string
	Reason string
	Err    error // ErrConflictingBackends, ErrEncryptionRequired, a parse error, ...
}

// Error names the variables, the reason and the cause (never a value).
func (e *ConfigError) Error() string {
	msg := "cachekit: configuration error"
	if len(e.Vars) > 0 {
		msg += " (" + strings.Join(e.Vars, ", ") + ")"
	}
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap lets errors.Is match ErrConfig and the cause.
func (e *ConfigError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrConfig}
	}
	return []error{ErrConfig, e.Err}
}

// IdentityError is returned by the Wrap functions when a function's identity
// cannot be derived from its Go symbol. It matches ErrUnnamedFunction.
type IdentityError struct {
	Symbol string // what runtime.FuncForPC reported
	Reason string
}

// Error names the symbol and says how to fix it (pass Name).
func (e *IdentityError) Error() string {
	fix := "pass cachekit.Name(\"...\") to Wrap"
	if strings.HasSuffix(e.Symbol, "-fm") {
		fix = "pass cachekit.Receiver(\"...\") naming the receiver (and optionally cachekit.Name) to Wrap"
	}
	return "cachekit: cannot derive a stable identity for " + e.Symbol + " (" + e.Reason + "); " + fix
}

// Unwrap returns ErrUnnamedFunction.
func (e *IdentityError) Unwrap() error { return ErrUnnamedFunction }

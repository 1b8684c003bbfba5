package secure

import (
	"errors"
	"sync/atomic"
)

// Reason classifies a stored entry that could not be decrypted.
type Reason uint8

// The reasons, one counter each in Stats.
const (
	// ReasonTamper: the key was found by its fingerprint but AES-GCM
	// authentication failed: nonce, ciphertext, tag or an AAD-bound header
	// field (tenant_id, format, compressed, original_type) was changed, or
	// the entry was moved to another cache key.
	ReasonTamper Reason = iota
	// ReasonWrongKey: no key of the keyring has the frame's fingerprint, or
	// (interop values, which carry no fingerprint) no key authenticates.
	ReasonWrongKey
	// ReasonPlaintext: an unencrypted entry was read while encryption is on.
	ReasonPlaintext
	// ReasonWrongTenant: the frame belongs to another tenant.
	ReasonWrongTenant
	// ReasonCorrupt: the entry is malformed (too short for nonce and tag, an
	// unknown algorithm, a frame that does not parse, or authenticated
	// plaintext that does not decode).
	ReasonCorrupt

	numReasons
)

var reasonNames = [numReasons]string{"tamper", "wrong key", "plaintext under encryption", "wrong tenant", "corruption"}

// String returns the reason in words, e.g. "tamper".
func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return "unknown"
}

// Errors. Every decrypt failure is a *DecryptError that matches ErrDecrypt and
// the sentinel of its reason with errors.Is.
var (
	// ErrDecrypt matches every decrypt failure.
	ErrDecrypt = errors.New("secure: decrypt failed")
	// ErrDecryptTamper: ReasonTamper.
	ErrDecryptTamper = errors.New("secure: entry failed authentication (tampered or moved)")
	// ErrDecryptWrongKey: ReasonWrongKey.
	ErrDecryptWrongKey = errors.New("secure: entry was encrypted with a key this keyring does not hold")
	// ErrDecryptPlaintext: ReasonPlaintext.
	ErrDecryptPlaintext = errors.New("secure: entry is not encrypted but encryption is on")
	// ErrDecryptWrongTenant: ReasonWrongTenant.
	ErrDecryptWrongTenant = errors.New("secure: entry belongs to another tenant")
	// ErrDecryptCorrupt: ReasonCorrupt.
	ErrDecryptCorrupt = errors.New("secure: entry is malformed")

	// ErrConfig reports an unusable configuration (New, Bind).
	ErrConfig = errors.New("secure: invalid encryption configuration")
	// ErrTenant reports a tenant function that failed or returned an
	// unusable tenant id; the call cannot be cached safely.
	ErrTenant = errors.New("secure: cannot resolve the tenant")
	// ErrInteropTenant: interop values need a tenant shared by every SDK
	// (an explicit deployment UUID in canonical form or a fixed tenant).
	ErrInteropTenant = errors.New("secure: interop encryption needs an explicitly shared tenant")
	// ErrEmptyKey: the cache key is empty; AAD binding needs a key.
	ErrEmptyKey = errors.New("secure: empty cache key")
)

var reasonErrs = [numReasons]error{ErrDecryptTamper, ErrDecryptWrongKey, ErrDecryptPlaintext, ErrDecryptWrongTenant, ErrDecryptCorrupt}

// DecryptError is a decrypt failure. It never carries key material, plaintext
// or ciphertext; Err is the underlying cause when there is one.
type DecryptError struct {
	Reason Reason
	Err    error
}

// Error returns "secure: decrypt failed (reason)" and the cause, if any.
func (e *DecryptError) Error() string {
	s := "secure: decrypt failed (" + e.Reason.String() + ")"
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Is reports whether target is ErrDecrypt or the sentinel of e's reason.
func (e *DecryptError) Is(target error) bool {
	return target == ErrDecrypt || (e.Reason < numReasons && target == reasonErrs[e.Reason])
}

// Unwrap returns the cause.
func (e *DecryptError) Unwrap() error { return e.Err }

// ReasonOf returns the reason of a decrypt failure in err's chain.
func ReasonOf(err error) (Reason, bool) {
	var de *DecryptError
	if errors.As(err, &de) {
		return de.Reason, true
	}
	return 0, false
}

type counters struct {
	seals    atomic.Uint64
	reads    []atomic.Uint64
	failures [numReasons]atomic.Uint64
}

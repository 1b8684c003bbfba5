package cachekit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/cachekit-go/cachekit/internal/entry"
	"github.com/cachekit-go/cachekit/internal/secure"
	"github.com/cachekit-go/cachekit/protocol/codec"
	"github.com/cachekit-go/cachekit/protocol/crypto"
	"github.com/cachekit-go/cachekit/secret"
)

// Environment variables of the encryption layer (read by FromEnv only).
const (
	EnvMasterKey          = secure.EnvMasterKey
	EnvPreviousMasterKeys = secure.EnvPreviousMasterKeys
	EnvDeploymentUUID     = secure.EnvDeploymentUUID
)

// Decryption and tenant errors. A rejected entry returned to the caller (fail
// closed, see Encryption.FailClosed) matches ErrDecrypt and exactly one of
// the reason sentinels.
var (
	// ErrDecrypt matches every rejected encrypted read.
	ErrDecrypt = secure.ErrDecrypt
	// ErrDecryptTamper: the key was found by its fingerprint but
	// authentication failed (bytes or authenticated header fields changed, or
	// the entry was moved from another key).
	ErrDecryptTamper = secure.ErrDecryptTamper
	// ErrDecryptWrongKey: no configured master key wrote the entry (rotated
	// away, another deployment's key).
	ErrDecryptWrongKey = secure.ErrDecryptWrongKey
	// ErrDecryptPlaintext: an unencrypted entry was found where encrypted
	// ones are expected.
	ErrDecryptPlaintext = secure.ErrDecryptPlaintext
	// ErrDecryptWrongTenant: the entry was written for another tenant.
	ErrDecryptWrongTenant = secure.ErrDecryptWrongTenant
	// ErrDecryptCorrupt: the entry is malformed (too short, unknown
	// algorithm, a frame that does not parse, or authenticated bytes that do
	// not decode).
	ErrDecryptCorrupt = secure.ErrDecryptCorrupt
	// ErrTenant: the tenant function (Encryption.TenantFunc) failed or
	// returned an unusable tenant id. The call fails with it; the function
	// is not run, since its result could not be stored for the right tenant.
	ErrTenant = secure.ErrTenant
	// ErrInteropTenant: an interop function was wrapped while the tenant is
	// not shared explicitly with the other SDKs (multi-tenant, or the
	// machine-local deployment UUID file). Wrap reports it.
	ErrInteropTenant = secure.ErrInteropTenant
)

// Encryption configures client-side encryption (WithEncryption): every value
// is encrypted with AES-256-GCM in this process before it reaches the
// backend, which stores only ciphertext (docs/encryption.md has the threat
// model). Entries are byte-compatible with Python's @cache.secure.
//
// Keys. MasterKey is hex, at least 32 bytes. When it is empty, FromEnv takes
// the keys from CACHEKIT_MASTER_KEY and CACHEKIT_PREVIOUS_MASTER_KEYS; New
// never reads them, so New needs MasterKey. Without any key, New and FromEnv
// fail with ErrEncryptionRequired. Writes always use the master key; reads
// pick the key that wrote the entry (by its fingerprint), so PreviousKeys (at
// most 3, decrypt only) keep old entries readable during a rotation.
//
// Tenants. By default one tenant: Tenant if set, else DeploymentUUID; under
// FromEnv then CACHEKIT_DEPLOYMENT_UUID, else the file
// ~/.cachekit/deployment_uuid (created with a random UUID on first use;
// shared with the Python SDK on the same machine, but not with replicas on
// other machines: FromEnv logs a warning at start when a backend is
// configured). New reads neither the environment nor the file, and refuses
// an encryption without Tenant, DeploymentUUID or TenantFunc (ErrConfig),
// so replicas never pick tenants of their own. Single-tenant entries keep their key, so Python
// with the same master key and deployment UUID shares them. With TenantFunc
// the cache is multi-tenant: every call's tenant comes from its context, the
// backend key becomes "t:{tenant}:{key}" and the in-process tier uses that
// key too, so two tenants calling with the same arguments never share an
// entry. The tenant and the key are bound into each ciphertext (AES-GCM
// additional data), so an entry copied to another key or tenant never
// decrypts.
//
// Failures. A read that cannot be decrypted (tampered, written with an
// unknown key or for another tenant, unencrypted, malformed) is counted by
// reason in Info.Encryption. By default it is a miss: the entry is deleted
// and the function recomputes and rewrites it. With FailClosed the call
// returns an error matching ErrDecrypt and the reason's sentinel instead,
// the function is not run and the entry is left in the backend as evidence.
type Encryption struct {
	// MasterKey is the current master key in hex (at least 64 hex digits),
	// a secret.String so that printing, logging or marshalling an
	// Encryption never shows it. Empty: CACHEKIT_MASTER_KEY under FromEnv.
	MasterKey secret.String
	// PreviousKeys are decrypt-only master keys in hex, at most 3, the
	// current key not among them. Only with MasterKey; under FromEnv without
	// MasterKey, CACHEKIT_PREVIOUS_MASTER_KEYS is used.
	PreviousKeys []secret.String
	// Tenant fixes the single tenant id (1..1024 bytes of UTF-8), used
	// verbatim. It wins over the deployment UUID.
	Tenant string
	// DeploymentUUID is the single tenant as a UUID (any form; normalized to
	// lowercase hyphenated, as Python does).
	DeploymentUUID string
	// TenantFunc makes the cache multi-tenant: it returns the calling
	// tenant's id from the call's context. It cannot be combined with Tenant
	// or DeploymentUUID, nor with interop functions.
	TenantFunc func(ctx context.Context) (string, error) `json:"-"`
	// FailClosed returns decryption failures to the caller (and keeps the
	// entry) instead of treating them as misses.
	FailClosed bool
}

// encState is what the options said about encryption.
type encState uint8

const (
	encDefault encState = iota // nothing explicit: on when FromEnv finds CACHEKIT_MASTER_KEY
	encOn                      // WithEncryption
	encOff                     // WithoutEncryption
)

// WithEncryption turns client-side encryption on (see Encryption). Under
// FromEnv it wins over the environment: its MasterKey, when set, replaces
// CACHEKIT_MASTER_KEY, and its other fields (tenant, fail-closed) apply to
// a key taken from the environment.
func WithEncryption(e Encryption) Option {
	return func(c *config) {
		e.PreviousKeys = append([]secret.String(nil), e.PreviousKeys...)
		c.encState, c.enc = encOn, e
	}
}

// WithoutEncryption turns encryption off even when CACHEKIT_MASTER_KEY is
// set (FromEnv), and lifts the requirement of a Secure preset placed before
// it: explicit options win over the environment and over earlier presets.
func WithoutEncryption() Option {
	return func(c *config) { c.encState, c.enc, c.needEncryption = encOff, Encryption{}, false }
}

// withSecureConfig lets tests adjust the policy configuration (a fixed nonce
// for known-answer tests, a home directory for the deployment UUID file).
func withSecureConfig(f func(*secure.Config)) Option {
	return func(c *config) { c.secureHook = f }
}

// newEncryption resolves the encryption policy of a configuration: nil when
// encryption is off. fromEnv reports that the keys came from the environment.
func newEncryption(cfg *config, log *slog.Logger) (p *secure.Policy, fromEnv bool, err error) {
	if cfg.encState == encOff {
		return nil, false, nil
	}
	e := cfg.enc
	// The key strings are not kept: once parsed they live only in the
	// keyring (internal/secure), and the cache's copy of the configuration
	// (printed by %v of a Cache) holds none.
	cfg.enc.MasterKey, cfg.enc.PreviousKeys = "", nil
	var (
		master   []byte
		previous [][]byte
	)
	defer func() {
		clear(master) // the keyring holds its own copies
		for _, k := range previous {
			clear(k)
		}
	}()
	switch {
	case e.MasterKey != "":
		if master, err = crypto.ParseMasterKey(e.MasterKey.Reveal()); err != nil {
			return nil, false, &ConfigError{Reason: "Encryption.MasterKey is not usable", Err: err}
		}
		for i, k := range e.PreviousKeys {
			pk, err := crypto.ParseMasterKey(k.Reveal())
			if err != nil {
				return nil, false, &ConfigError{Reason: fmt.Sprintf("Encryption.PreviousKeys[%d] is not usable", i), Err: err}
			}
			previous = append(previous, pk)
		}
	case len(e.PreviousKeys) > 0:
		return nil, false, &ConfigError{Reason: "Encryption.PreviousKeys needs Encryption.MasterKey", Err: ErrInvalidOption}
	case cfg.getenv != nil:
		if master, previous, err = secure.KeysFromEnv(cfg.getenv); err != nil {
			var vars []string
			for _, v := range []string{EnvMasterKey, EnvPreviousMasterKeys} {
				if cfg.getenv(v) != "" {
					vars = append(vars, v)
				}
			}
			return nil, false, &ConfigError{Vars: vars, Reason: "invalid encryption key", Err: err}
		}
		fromEnv = master != nil
	}
	if master == nil {
		if cfg.encState == encOn || cfg.needEncryption {
			what := "encryption needs a master key"
			if cfg.encState != encOn {
				what = "the Secure preset requires encryption, and no master key is configured"
			}
			how := "pass Encryption.MasterKey, or use FromEnv with " + EnvMasterKey + " (New does not read it)"
			if cfg.getenv != nil {
				how = "set " + EnvMasterKey + " or pass Encryption.MasterKey"
			}
			return nil, false, &ConfigError{Reason: what + ": " + how, Err: ErrEncryptionRequired}
		}
		return nil, false, nil
	}
	if cfg.getenv == nil && e.Tenant == "" && e.DeploymentUUID == "" && e.TenantFunc == nil {
		// New reads neither the environment nor ~/.cachekit: a tenant made up
		// per machine would give every replica its own tenant, and replicas
		// would evict each other's entries (visible only in counters).
		return nil, false, &ConfigError{Reason: "encryption needs a tenant every replica shares: set Encryption.DeploymentUUID " +
			"(the value Python reads from " + EnvDeploymentUUID + "), Tenant or TenantFunc; New does not read the environment " +
			"or the machine-local deployment UUID file (FromEnv does)"}
	}
	sc := secure.Config{
		MasterKey:      master,
		PreviousKeys:   previous,
		Tenant:         e.Tenant,
		DeploymentUUID: e.DeploymentUUID,
		TenantFunc:     e.TenantFunc,
		FailClosed:     e.FailClosed,
		Getenv:         cfg.getenv,
		Logger:         log,
	}
	if sc.Getenv == nil {
		sc.Getenv = func(string) string { return "" } // New: nothing from the environment
	}
	if cfg.secureHook != nil {
		cfg.secureHook(&sc)
	}
	if p, err = secure.New(sc); err != nil {
		return nil, false, &ConfigError{Reason: "cannot set up encryption", Err: err}
	}
	if p.MachineLocalTenant() && cfg.backend != nil {
		log.Warn("cachekit: the encryption tenant is this machine's ~/.cachekit/deployment_uuid; replicas on other machines "+
			"get other tenants and cannot read (and will evict) each other's entries: set "+EnvDeploymentUUID+" to one value everywhere",
			"path", "~/"+secure.DeploymentUUIDDir+"/"+secure.DeploymentUUIDFile)
	}
	return p, fromEnv, nil
}

// logEncryption says once, when the cache is made, that the environment
// turned encryption on (an operator should see that it happened).
func logEncryption(log *slog.Logger, p *secure.Policy) {
	attrs := []any{"previous_keys", len(p.Reads()) - 1, "multi_tenant", p.MultiTenant(), "fail_closed", p.FailClosed()}
	log.Info("cachekit: encryption on ("+EnvMasterKey+" is set): values are encrypted with AES-256-GCM before they reach the backend", attrs...)
}

// A tenant scope seals both value formats.
var (
	_ entry.Sealer        = (*secure.Scope)(nil)
	_ entry.InteropSealer = (*secure.Scope)(nil)
)

// slot says where one call's entry lives.
type slot struct {
	key     string        // physical key: L1, shared loads, invalidation stripes, backend
	logical string        // the key the value is sealed under (bound by the AAD)
	scope   *secure.Scope // nil: encryption off
	l1hash  uint64        // L1's hash of key, when hashed (from the key memo)
	hashed  bool
}

// slot binds a logical key to the call's tenant. Without encryption the
// physical key is the logical key; a failing tenant function is an error
// matching ErrTenant.
func (c *Cache) slot(ctx context.Context, key string) (slot, error) {
	if c.enc == nil {
		return slot{key: key, logical: key}, nil
	}
	sc, err := c.enc.Bind(ctx)
	if err != nil {
		return slot{}, fmt.Errorf("cachekit: %w", err)
	}
	return slot{key: sc.PhysicalKey(key), logical: key, scope: sc}, nil
}

// pipeFor returns the policy's pipeline sealing with the slot's scope.
func (p *policy) pipeFor(s slot) entry.Pipeline {
	pipe := p.pipe
	if s.scope != nil {
		pipe.Sealer = s.scope
	}
	return pipe
}

// rejected classifies a failed read of an encrypted cache: it returns the
// (counted) decryption failure, or nil when err is an ordinary decode problem
// (authenticated plaintext that decodes to another Go type) or encryption
// is off. decoded says the error came from decoding authenticated plaintext.
// With encryption on, every stored entry that is not a valid encrypted entry
// for this cache is a rejection, including frames naming another serializer
// or none (an unencrypted one counts as plaintext, an encrypted one as
// corrupt): authenticating the entry is the only thing that lets the cache
// trust it, so nothing unauthenticated may quietly become a miss that a
// fail-closed cache recomputes over.
func (c *Cache) rejected(err error, decoded bool) error {
	switch {
	case c.enc == nil:
		return nil
	case errors.Is(err, ErrDecrypt):
		return err
	case errors.Is(err, entry.ErrNotEncrypted):
		return c.enc.Failure(secure.ReasonPlaintext, err)
	case errors.Is(err, secure.ErrEmptyKey), errors.Is(err, ErrInteropTenant):
		return nil
	case errors.Is(err, entry.ErrTooLarge):
		// Only an authenticated envelope is ever unpacked under
		// encryption: this one is genuine, just above this cache's
		// maximum value size (a peer with a larger limit wrote it).
		return nil
	case decoded && (errors.Is(err, codec.ErrTypeMismatch) || errors.Is(err, codec.ErrOverflow)):
		return nil
	default:
		return c.enc.Failure(secure.ReasonCorrupt, err)
	}
}

// EncryptionInfo describes the encryption of a cache (Info.Encryption). The
// counters are those of the whole cache, also in a wrapper's Info.
type EncryptionInfo struct {
	// Enabled reports whether values are encrypted; the other fields are
	// zero when they are not.
	Enabled     bool
	MultiTenant bool
	FailClosed  bool
	// Encryptions counts values encrypted (always with the current key).
	Encryptions uint64
	// Reads counts successful decryptions by the key that served them:
	// Reads[0] the current master key, Reads[i] previous key i-1 in the
	// order configured. A previous key whose count stays 0 for longer than
	// the longest TTL can be dropped.
	Reads []uint64
	// Failures counts rejected reads by reason.
	Failures DecryptFailures
}

// DecryptFailures counts rejected encrypted reads by reason (see the
// ErrDecrypt... sentinels).
type DecryptFailures struct {
	Tamper, WrongKey, Plaintext, WrongTenant, Corrupt uint64
}

// Total returns the number of rejected reads.
func (f DecryptFailures) Total() uint64 {
	return f.Tamper + f.WrongKey + f.Plaintext + f.WrongTenant + f.Corrupt
}

func (c *Cache) encryptionInfo() EncryptionInfo {
	if c.enc == nil {
		return EncryptionInfo{}
	}
	p := c.enc
	return EncryptionInfo{
		Enabled:     true,
		MultiTenant: p.MultiTenant(),
		FailClosed:  p.FailClosed(),
		Encryptions: p.Encryptions(),
		Reads:       p.Reads(),
		Failures: DecryptFailures{
			Tamper:      p.Failures(secure.ReasonTamper),
			WrongKey:    p.Failures(secure.ReasonWrongKey),
			Plaintext:   p.Failures(secure.ReasonPlaintext),
			WrongTenant: p.Failures(secure.ReasonWrongTenant),
			Corrupt:     p.Failures(secure.ReasonCorrupt),
		},
	}
}

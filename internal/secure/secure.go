// Package secure is the encryption policy of cachekit-go (zero-knowledge
// caching, PROTOCOL.md section 6): which tenant a call belongs to, which
// master key encrypts and which decrypt, how an entry is sealed so that the
// Python SDK's @cache.secure reads it (and the other way round), and what a
// failed decryption means. The primitives (HKDF, AAD, AES-256-GCM, nonces,
// the keyring) are in protocol/crypto; this package decides how to use them
// and knows nothing of the cache above it.
//
// A Policy is made once per cache with New. Every call binds it to the
// call's tenant with Bind(ctx), which returns a Scope; the Scope seals and
// opens values and says under which backend key (PhysicalKey) the entry lives.
//
// # Formats
//
// Auto mode (the Python CK v3 frame, Scope.Seal / Scope.Open, the
// entry.Sealer shape):
//
//	plaintext = the ByteStorage envelope (integrity on) or raw MessagePack (integrity off)
//	AAD       = crypto.AAD(tenant, logical key, "msgpack", compressed, "msgpack")  (5 components)
//	stored    = frame(SecureHeader(tenant, fingerprint) with "compressed") || nonce || ciphertext || tag
//
// The integrity-off form mirrors Python's EncryptionWrapper around a
// StandardSerializer(enable_integrity_checking=False): its metadata is
// compressed=false with original_type "msgpack", so the AAD has five
// components ending "False", "msgpack".
//
// Interop mode (Scope.SealInterop / Scope.OpenInterop): AES-GCM directly over
// the plain MessagePack document, AAD = crypto.AAD(tenant, key, "msgpack",
// false, "") (4 components), no frame; stored = nonce || ciphertext || tag.
//
// # Decisions
//
//   - Tenant. Single-tenant by default; the tenant is, in this order,
//     Config.Tenant (verbatim), Config.DeploymentUUID,
//     CACHEKIT_DEPLOYMENT_UUID, or the file ~/.cachekit/deployment_uuid
//     (created 0600 in a 0700 directory with a random UUID), UUIDs
//     normalized to lowercase hyphenated form as Python does. Multi-tenant
//     with Config.TenantFunc, called once per Bind.
//   - Physical keys. Single-tenant entries keep their logical key as the
//     backend key: that is where Python's @cache.secure writes through an
//     explicit backend (its default Redis provider adds "t:default:" to
//     every entry, encrypted or not; that prefix is a backend option of the
//     cache, not an encryption matter). Multi-tenant entries live under
//     PhysicalKey(tenant, key) = "t:{quoted tenant}:{key}", so two tenants
//     calling with the same arguments never share an entry (in Python they
//     collide on one key and evict each other). The AAD always binds the
//     LOGICAL key and the tenant, so a ciphertext moved to another key or
//     tenant never decrypts. Consequence: multi-tenant entries are not
//     shared with Python's multi-tenant mode (which cannot keep tenants
//     apart anyway); single-tenant entries are.
//   - Tenant check. The frame's tenant_id must equal the bound tenant
//     (ReasonWrongTenant otherwise), which Python 0.17 does not check
//     (PROTOCOL.md section 10).
//   - Key selection. An auto-mode entry names its key by the fingerprint of
//     the tenant's derived key; an exact match picks the key and its
//     authentication failure is final (ReasonTamper). An unknown fingerprint
//     is ReasonWrongKey without any decryption attempt (no trial decryption:
//     a fingerprint is deterministic, so a key that does not have it cannot
//     have written the entry). Interop values carry no fingerprint: the
//     current key is tried, then each previous key; if none authenticates
//     the reason is ReasonWrongKey (tampering and a wrong key cannot be told
//     apart there), or ReasonPlaintext when the bytes are one well-formed
//     MessagePack document (an unencrypted interop writer).
//   - Interop tenant. Interop entries are shared across SDKs, so their
//     tenant must be shared out of band: a fixed tenant, or a deployment
//     UUID given explicitly or by CACHEKIT_DEPLOYMENT_UUID in canonical form
//     (other SDKs use the raw string). The machine-local UUID file and
//     multi-tenant policies are refused with ErrInteropTenant.
//   - Failures are counted here, once each, by reason (Failures); what to do
//     about them (miss, evict and recompute, or fail closed) is the cache's
//     decision, see Policy.FailClosed.
//   - Nonces: each derived key has its own crypto.NonceGenerator (reference
//     layout: random 64-bit instance id || 32-bit counter, a new instance
//     on exhaustion, never a wrap), shared by every goroutine of the process.
package secure

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"

	"github.com/cachekit-go/cachekit/protocol/crypto"
	"github.com/cachekit-go/cachekit/protocol/frame"
	"github.com/cachekit-go/cachekit/protocol/interop"
)

// Config configures a Policy.
type Config struct {
	// MasterKey is the current master key (at least 32 bytes), the only one
	// that encrypts. Required.
	MasterKey []byte
	// PreviousKeys are decrypt-only master keys (at most 3, the current key
	// refused among them) for the rotation window.
	PreviousKeys [][]byte

	// Tenant fixes the single tenant id, used verbatim (1..1024 bytes of
	// UTF-8). It takes precedence over the deployment UUID chain.
	Tenant string
	// DeploymentUUID is the explicit single-tenant deployment UUID; when
	// empty, CACHEKIT_DEPLOYMENT_UUID, then the deployment UUID file are used.
	DeploymentUUID string
	// TenantFunc turns the policy multi-tenant: it returns the tenant of a
	// call from its context. It must not be combined with Tenant or
	// DeploymentUUID.
	TenantFunc func(ctx context.Context) (string, error)

	// FailClosed makes a decrypt failure an error for the caller (with the
	// stored entry kept as evidence) instead of a miss. The policy only
	// reports the setting; the cache applies it.
	FailClosed bool

	// Getenv reads the environment (nil: os.Getenv); tests inject it.
	Getenv func(string) string
	// HomeDir is where the .cachekit directory lives (empty: the user's home
	// directory); tests inject it.
	HomeDir string
	// Logger receives the few configuration messages (deployment UUID file
	// created or replaced). nil: slog.Default().
	Logger *slog.Logger
	// NonceSource, when set, replaces the per-key nonce generators. It exists
	// for known-answer tests and debugging tools only: a nonce must never
	// repeat under one key.
	NonceSource func() [crypto.NonceSize]byte
}

// KeysFromEnv reads CACHEKIT_MASTER_KEY and CACHEKIT_PREVIOUS_MASTER_KEYS
// through getenv (nil: os.Getenv). master is nil when CACHEKIT_MASTER_KEY is
// unset or blank; previous keys without a master key are an error. Errors
// never contain key material.
func KeysFromEnv(getenv func(string) string) (master []byte, previous [][]byte, err error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	prevEnv := getenv(EnvPreviousMasterKeys)
	if v := getenv(EnvMasterKey); v != "" {
		if master, err = crypto.ParseMasterKey(v); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", EnvMasterKey, err)
		}
	}
	if previous, err = crypto.ParsePreviousKeys(prevEnv); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", EnvPreviousMasterKeys, err)
	}
	if master == nil && len(previous) > 0 {
		return nil, nil, fmt.Errorf("%w: %s is set but %s is not", ErrConfig, EnvPreviousMasterKeys, EnvMasterKey)
	}
	return master, previous, nil
}

// Policy is the encryption policy of one cache. It is safe for concurrent use.
type Policy struct {
	keyring    *crypto.Keyring
	tenantFunc func(context.Context) (string, error)
	single     *Scope // single-tenant: the one scope
	source     tenantSource
	interopErr error // why interop values cannot be encrypted, or nil
	failClosed bool
	nonce      func() [crypto.NonceSize]byte
	counters   counters
}

// New checks the configuration, builds the keyring and resolves the single
// tenant (which may create the deployment UUID file).
func New(cfg Config) (*Policy, error) {
	if cfg.MasterKey == nil {
		return nil, fmt.Errorf("%w: no master key (set %s or pass a key)", ErrConfig, EnvMasterKey)
	}
	kr, err := crypto.NewKeyring(cfg.MasterKey, cfg.PreviousKeys...)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	getenv := cfg.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	p := &Policy{keyring: kr, failClosed: cfg.FailClosed, nonce: cfg.NonceSource}
	p.counters.reads = make([]atomic.Uint64, kr.Len())

	if cfg.TenantFunc != nil {
		if cfg.Tenant != "" || cfg.DeploymentUUID != "" {
			return nil, fmt.Errorf("%w: a tenant function cannot be combined with a fixed tenant or deployment UUID", ErrConfig)
		}
		p.tenantFunc = cfg.TenantFunc
		p.interopErr = fmt.Errorf("%w: the policy is multi-tenant", ErrInteropTenant)
		return p, nil
	}
	var (
		tenant    string
		canonical bool
	)
	if cfg.Tenant != "" {
		if err := validTenant(cfg.Tenant); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConfig, err)
		}
		tenant, p.source, canonical = cfg.Tenant, sourceFixed, true
	} else {
		tenant, p.source, canonical, err = resolveSingleTenant(&cfg, getenv, log)
		if err != nil {
			return nil, err
		}
	}
	switch {
	case p.source == sourceFile:
		p.interopErr = fmt.Errorf("%w: the tenant comes from the machine-local %s; set DeploymentUUID or %s", ErrInteropTenant, DeploymentUUIDFile, EnvDeploymentUUID)
	case !canonical:
		p.interopErr = fmt.Errorf("%w: the deployment UUID from the %s is not in canonical lowercase hyphenated form", ErrInteropTenant, p.source)
	}
	keys, err := kr.Tenant(tenant)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	p.single = &Scope{p: p, tenant: tenant, keys: keys}
	return p, nil
}

// MachineLocalTenant reports whether the single tenant came from the
// machine-local deployment UUID file (other machines have other tenants).
func (p *Policy) MachineLocalTenant() bool { return p.tenantFunc == nil && p.source == sourceFile }

// MultiTenant reports whether the policy resolves the tenant per call.
func (p *Policy) MultiTenant() bool { return p.tenantFunc != nil }

// FailClosed reports the configured failure policy: false (the default)
// means a decrypt failure is a miss (evict the entry, recompute); true means
// it is returned to the caller and the entry is kept.
func (p *Policy) FailClosed() bool { return p.failClosed }

// InteropError returns nil when interop values can be encrypted under this
// policy, else why not (it wraps ErrInteropTenant). Check it when an interop
// function is configured, so the problem surfaces at startup.
func (p *Policy) InteropError() error { return p.interopErr }

// The counters below are read one at a time: the cache's public
// EncryptionInfo is the one type that gathers them.

// Encryptions returns how many values were sealed (always with the current
// key).
func (p *Policy) Encryptions() uint64 { return p.counters.seals.Load() }

// Reads returns the successful decryptions by the key that served them:
// Reads()[0] the current key, Reads()[i] previous key i-1 (in the order the
// previous keys were configured).
func (p *Policy) Reads() []uint64 {
	out := make([]uint64, len(p.counters.reads))
	for i := range p.counters.reads {
		out[i] = p.counters.reads[i].Load()
	}
	return out
}

// Failures returns how many decrypt failures of reason r were counted.
func (p *Policy) Failures(r Reason) uint64 {
	if r >= numReasons {
		return 0
	}
	return p.counters.failures[r].Load()
}

// Failure counts a decrypt failure that the caller detected itself (for
// example an unencrypted frame, ReasonPlaintext, or authenticated plaintext
// whose envelope does not unpack, ReasonCorrupt) and returns it as a
// *DecryptError wrapping cause.
func (p *Policy) Failure(reason Reason, cause error) error {
	if reason >= numReasons {
		reason = ReasonCorrupt
	}
	p.counters.failures[reason].Add(1)
	return &DecryptError{Reason: reason, Err: cause}
}

// Bind returns the scope of the call's tenant. Single-tenant policies return
// the same scope every time; multi-tenant policies call the tenant function
// (its failure, or an empty or oversized tenant, wraps ErrTenant: the call
// must not be cached).
func (p *Policy) Bind(ctx context.Context) (*Scope, error) {
	if p.single != nil {
		return p.single, nil
	}
	t, err := p.tenantFunc(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTenant, err)
	}
	if err := validTenant(t); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTenant, err)
	}
	keys, err := p.keyring.Tenant(t)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTenant, err)
	}
	return &Scope{p: p, tenant: t, keys: keys}, nil
}

// Scope is a Policy bound to one tenant. Its Seal and Open methods have the
// shape of internal/entry's Sealer.
type Scope struct {
	p      *Policy
	tenant string
	keys   *crypto.TenantKeys
}

// Tenant returns the tenant id.
func (s *Scope) Tenant() string { return s.tenant }

// PhysicalKey returns the backend key for a logical key: the key itself for
// a single-tenant policy, PhysicalKey(tenant, key) for a multi-tenant one.
func (s *Scope) PhysicalKey(key string) string {
	if s.p.tenantFunc == nil {
		return key
	}
	return PhysicalKey(s.tenant, key)
}

// Fingerprint returns the fingerprint of the tenant's current key, the one
// written into frames.
func (s *Scope) Fingerprint() string { return s.keys.Current().Fingerprint() }

func (s *Scope) seal(plaintext, aad []byte) []byte {
	s.p.counters.seals.Add(1)
	a := s.keys.Current()
	if s.p.nonce != nil {
		return a.SealWithNonce(s.p.nonce(), plaintext, aad)
	}
	return a.Seal(plaintext, aad)
}

// Seal encrypts an auto-mode payload stored under the logical key
// (compressed: plaintext is a ByteStorage envelope, else raw MessagePack)
// and returns nonce || ciphertext || tag and the frame header to write
// before it.
func (s *Scope) Seal(key string, plaintext []byte, compressed bool) ([]byte, frame.Header, error) {
	if key == "" {
		return nil, frame.Header{}, ErrEmptyKey
	}
	h := frame.SecureHeader(s.tenant, s.keys.Current().Fingerprint())
	h.Compressed = compressed
	aad := crypto.AAD(s.tenant, key, h.Format, compressed, h.OriginalType)
	return s.seal(plaintext, aad), h, nil
}

// SealFrame is Seal followed by frame encoding: it appends the frame
// header and nonce || ciphertext || tag to dst, encrypting straight into the
// frame instead of copying a separate ciphertext into it.
func (s *Scope) SealFrame(dst []byte, key string, plaintext []byte, compressed bool) ([]byte, error) {
	if key == "" {
		return dst, ErrEmptyKey
	}
	h := frame.SecureHeader(s.tenant, s.keys.Current().Fingerprint())
	h.Compressed = compressed
	dst, err := frame.AppendHeader(dst, h)
	if err != nil {
		return dst, err
	}
	aad := crypto.AAD(s.tenant, key, h.Format, compressed, h.OriginalType)
	s.p.counters.seals.Add(1)
	a := s.keys.Current()
	if s.p.nonce != nil {
		return a.AppendSealWithNonce(dst, s.p.nonce(), plaintext, aad), nil
	}
	return a.AppendSeal(dst, plaintext, aad), nil
}

// SealFrameFunc is SealFrame for a plaintext that fill writes: it appends
// the frame header and room for the nonce to dst, lets fill append the
// plaintext (at most room bytes, e.g. envelope.AppendPack), and encrypts
// it in place. The frame is built in one buffer of the right size, with no
// separate plaintext buffer and no copy of it. An error of fill is
// returned as it is.
func (s *Scope) SealFrameFunc(dst []byte, key string, compressed bool, room int, fill func([]byte) ([]byte, error)) ([]byte, error) {
	if key == "" {
		return dst, ErrEmptyKey
	}
	h := frame.SecureHeader(s.tenant, s.keys.Current().Fingerprint())
	h.Compressed = compressed
	if need := frame.PrefixSize + 512 + 6*len(s.tenant) + crypto.Overhead + max(room, 0); cap(dst)-len(dst) < need {
		grown := make([]byte, len(dst), len(dst)+need)
		copy(grown, dst)
		dst = grown
	}
	dst, err := frame.AppendHeader(dst, h)
	if err != nil {
		return dst, err
	}
	at := len(dst)
	dst = append(dst, make([]byte, crypto.NonceSize)...)
	if dst, err = fill(dst); err != nil {
		return dst, err
	}
	aad := crypto.AAD(s.tenant, key, h.Format, compressed, h.OriginalType)
	s.p.counters.seals.Add(1)
	a := s.keys.Current()
	if s.p.nonce != nil {
		return a.SealInPlaceWithNonce(dst, at, s.p.nonce(), aad), nil
	}
	return a.SealInPlace(dst, at, aad), nil
}

// Open decrypts the payload of an auto-mode frame stored under the logical
// key and returns the plaintext (an envelope when h.Compressed, else raw
// MessagePack). Every failure is a counted *DecryptError.
func (s *Scope) Open(key string, h frame.Header, ciphertext []byte) ([]byte, error) {
	return s.open(key, h, ciphertext, false)
}

// OpenOwned is Open for a caller that hands ciphertext over (a backend
// read's result, which the caller owns): it decrypts in place, so the
// plaintext is a subslice of ciphertext and ciphertext's bytes are
// overwritten (cleared on a failed authentication).
func (s *Scope) OpenOwned(key string, h frame.Header, ciphertext []byte) ([]byte, error) {
	return s.open(key, h, ciphertext, true)
}

func (s *Scope) open(key string, h frame.Header, ciphertext []byte, inPlace bool) ([]byte, error) {
	if key == "" {
		return nil, ErrEmptyKey
	}
	if !h.Encrypted {
		return nil, s.p.Failure(ReasonPlaintext, nil)
	}
	if h.TenantID != s.tenant {
		return nil, s.p.Failure(ReasonWrongTenant, nil)
	}
	if h.EncryptionAlgorithm != "" && h.EncryptionAlgorithm != frame.AlgorithmAESGCM {
		return nil, s.p.Failure(ReasonCorrupt, fmt.Errorf("unsupported encryption algorithm %q", truncate(h.EncryptionAlgorithm)))
	}
	a, idx, ok := s.keys.ByFingerprint(h.KeyFingerprint)
	if !ok {
		return nil, s.p.Failure(ReasonWrongKey, nil)
	}
	if len(ciphertext) < crypto.Overhead {
		return nil, s.p.Failure(ReasonCorrupt, crypto.ErrTooShort)
	}
	aad := crypto.AAD(s.tenant, key, h.Format, h.Compressed, h.OriginalType)
	var (
		pt  []byte
		err error
	)
	if inPlace {
		pt, err = a.OpenInPlace(ciphertext, aad)
	} else {
		pt, err = a.Open(ciphertext, aad)
	}
	if err != nil {
		return nil, s.p.Failure(ReasonTamper, err)
	}
	s.p.counters.reads[idx].Add(1)
	return pt, nil
}

// SealInterop encrypts an interop value (one plain MessagePack document)
// stored under the interop key: nonce || ciphertext || tag with the
// 4-component AAD. It fails with ErrInteropTenant when the tenant is not
// shared explicitly (see InteropError).
func (s *Scope) SealInterop(key string, doc []byte) ([]byte, error) {
	if s.p.interopErr != nil {
		return nil, s.p.interopErr
	}
	if key == "" {
		return nil, ErrEmptyKey
	}
	return s.seal(doc, crypto.AAD(s.tenant, key, frame.FormatMsgpack, false, "")), nil
}

// OpenInterop decrypts an encrypted interop value, trying the current key
// and then each previous key. Every decrypt failure is a counted
// *DecryptError.
func (s *Scope) OpenInterop(key string, data []byte) ([]byte, error) {
	if s.p.interopErr != nil {
		return nil, s.p.interopErr
	}
	if key == "" {
		return nil, ErrEmptyKey
	}
	if len(data) < crypto.Overhead {
		if isMsgpackDocument(data) {
			return nil, s.p.Failure(ReasonPlaintext, nil)
		}
		return nil, s.p.Failure(ReasonCorrupt, crypto.ErrTooShort)
	}
	aad := crypto.AAD(s.tenant, key, frame.FormatMsgpack, false, "")
	for i := range s.keys.Len() {
		if pt, err := s.keys.At(i).Open(data, aad); err == nil {
			s.p.counters.reads[i].Add(1)
			return pt, nil
		}
	}
	if isMsgpackDocument(data) {
		return nil, s.p.Failure(ReasonPlaintext, nil)
	}
	return nil, s.p.Failure(ReasonWrongKey, crypto.ErrAuthentication)
}

// isMsgpackDocument reports whether b is exactly one interop value, as an
// unencrypted interop writer stores it: one well-formed MessagePack document
// with string map keys, valid UTF-8 and no extension types. It only decides
// which reason a failed decryption is counted under. Random ciphertext is
// rarely such a document, but it can be (measured on random 35-byte strings:
// about 1 in 2,000 pass a bare well-formedness check, about 1 in 60,000 pass
// this one), so the reason is a strong hint, not a proof; either way the
// entry is rejected.
func isMsgpackDocument(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	_, err := interop.DecodeValue(b)
	return err == nil
}

// truncate keeps an untrusted header string short in error messages.
func truncate(s string) string {
	if len(s) > 32 {
		return s[:32] + "..."
	}
	return s
}

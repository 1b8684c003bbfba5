package crypto

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
)

// Keyring limits.
const (
	// MaxPreviousKeys is how many decrypt-only previous master keys a Keyring
	// holds (PROTOCOL.md section 6; the reference SDKs refuse more rather
	// than truncate).
	MaxPreviousKeys = 3
	// MaxCachedTenants bounds how many tenants' derived keys a Keyring keeps.
	// Each cached tenant holds one AEAD per master key (at most 4, a few
	// hundred bytes each). Past the bound an arbitrary cached tenant is
	// dropped and derived again on its next use; that costs one HKDF per key
	// and never repeats a nonce, because a new AEAD draws a fresh instance id
	// from the process-wide source (see NonceGenerator).
	MaxCachedTenants = 1024
)

// ErrInvalidKeyring reports a keyring configuration the protocol forbids: more
// than MaxPreviousKeys previous keys, or the current key among them. Invalid
// individual keys are reported with ErrInvalidMasterKey.
var ErrInvalidKeyring = errors.New("crypto: invalid keyring")

// masterKeys are a Keyring's master keys.
type masterKeys struct{ masters [][]byte }

// Keyring holds the current master key, which encrypts, and up to
// MaxPreviousKeys previous master keys, which only decrypt (key rotation,
// PROTOCOL.md section 6). It derives each tenant's keys once and caches them
// (at most MaxCachedTenants tenants). It is safe for concurrent use.
type Keyring struct {
	// keys holds the master keys, [0] current, then previous keys in the
	// given order. It is behind a pointer on purpose: fmt prints a pointer
	// met inside a struct as an address, so even a struct that holds a
	// *Keyring in an unexported field and is printed with a verb fmt cannot
	// apply (%q, %s: it then dumps one level of pointers) shows no key bytes.
	keys *masterKeys

	mu      sync.RWMutex
	tenants map[string]*TenantKeys
}

// NewKeyring returns a keyring for the current master key and the previous
// (decrypt-only) keys, oldest rotation last or in any order the operator
// prefers: the order only numbers them in statistics. Every key must have at
// least MinMasterKeySize bytes; there may be at most MaxPreviousKeys previous
// keys and the current key must not be one of them (a key that encrypted
// before must never encrypt again: its nonce budget is unknown). Duplicate
// previous keys are accepted (they are harmless). The keyring keeps copies.
// Errors never contain key material, only positions.
func NewKeyring(current []byte, previous ...[]byte) (*Keyring, error) {
	if len(current) < MinMasterKeySize {
		return nil, fmt.Errorf("%w: current key has %d bytes, need at least %d", ErrInvalidMasterKey, len(current), MinMasterKeySize)
	}
	if len(previous) > MaxPreviousKeys {
		return nil, fmt.Errorf("%w: %d previous keys, at most %d (drop retired keys explicitly)", ErrInvalidKeyring, len(previous), MaxPreviousKeys)
	}
	m := &masterKeys{masters: make([][]byte, 0, 1+len(previous))}
	k := &Keyring{keys: m, tenants: map[string]*TenantKeys{}}
	m.masters = append(m.masters, append([]byte(nil), current...))
	for i, p := range previous {
		if len(p) < MinMasterKeySize {
			return nil, fmt.Errorf("%w: previous key %d has %d bytes, need at least %d", ErrInvalidMasterKey, i, len(p), MinMasterKeySize)
		}
		if subtle.ConstantTimeCompare(p, current) == 1 {
			return nil, fmt.Errorf("%w: previous key %d is the current key (rotation is forward-only)", ErrInvalidKeyring, i)
		}
		m.masters = append(m.masters, append([]byte(nil), p...))
	}
	return k, nil
}

// ParsePreviousKeys parses CACHEKIT_PREVIOUS_MASTER_KEYS: comma-separated hex
// master keys, surrounding whitespace and empty items ignored (so "" is no
// keys). It checks each key like ParseMasterKey and the count against
// MaxPreviousKeys; NewKeyring checks that the current key is not among them.
// Errors name the position of the bad key, never its text.
func ParsePreviousKeys(env string) ([][]byte, error) {
	var keys [][]byte
	pos := 0
	for item := range strings.SplitSeq(env, ",") {
		if strings.TrimSpace(item) == "" {
			continue
		}
		key, err := ParseMasterKey(item)
		if err != nil {
			return nil, fmt.Errorf("previous key %d: %w", pos, err)
		}
		keys = append(keys, key)
		pos++
	}
	if len(keys) > MaxPreviousKeys {
		return nil, fmt.Errorf("%w: %d previous keys, at most %d (drop retired keys explicitly)", ErrInvalidKeyring, len(keys), MaxPreviousKeys)
	}
	return keys, nil
}

// String describes the keyring without any key material:
// "crypto.Keyring{keys: N}". A Keyring holds master keys in unexported
// fields, which fmt would print byte by byte for %v of a *Keyring (and slog
// with it); String, GoString, Format and LogValue make every way of printing
// it show only this description.
func (k *Keyring) String() string {
	if k == nil {
		return "crypto.Keyring(nil)"
	}
	return fmt.Sprintf("crypto.Keyring{keys: %d}", len(k.keys.masters))
}

// GoString is String, for %#v.
func (k *Keyring) GoString() string { return k.String() }

// Format writes String for every verb.
func (k *Keyring) Format(f fmt.State, _ rune) { _, _ = fmt.Fprint(f, k.String()) }

// LogValue makes log/slog print String.
func (k *Keyring) LogValue() slog.Value { return slog.StringValue(k.String()) }

// Len returns the number of master keys: 1 (current) + previous keys.
func (k *Keyring) Len() int { return len(k.keys.masters) }

// Tenant returns the tenant's derived keys under every master key, deriving
// them on first use.
func (k *Keyring) Tenant(tenant string) (*TenantKeys, error) {
	k.mu.RLock()
	t := k.tenants[tenant]
	k.mu.RUnlock()
	if t != nil {
		return t, nil
	}
	t = &TenantKeys{aeads: make([]*AEAD, len(k.keys.masters))}
	for i, m := range k.keys.masters {
		a, err := NewTenantAEAD(m, tenant)
		if err != nil {
			return nil, err
		}
		t.aeads[i] = a
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if cur := k.tenants[tenant]; cur != nil {
		return cur, nil // another goroutine won; use one AEAD set per tenant
	}
	if len(k.tenants) >= MaxCachedTenants {
		for name := range k.tenants { // drop an arbitrary tenant
			delete(k.tenants, name)
			break
		}
	}
	k.tenants[tenant] = t
	return t, nil
}

// TenantKeys are one tenant's AEADs under each master key of a Keyring:
// index 0 is the current key, index i the keyring's previous key i-1.
type TenantKeys struct {
	aeads []*AEAD
}

// Current returns the AEAD of the current key, the only one that encrypts.
func (t *TenantKeys) Current() *AEAD { return t.aeads[0] }

// Len returns the number of keys (1 + previous keys).
func (t *TenantKeys) Len() int { return len(t.aeads) }

// At returns the AEAD of key i (0 = current).
func (t *TenantKeys) At(i int) *AEAD { return t.aeads[i] }

// ByFingerprint returns the AEAD whose fingerprint is fp (lowercase hex, as
// in the frame's key_fingerprint) and its index, or ok=false when no key of
// the keyring has it. An exact match picks the key; there is no trial
// decryption.
func (t *TenantKeys) ByFingerprint(fp string) (a *AEAD, index int, ok bool) {
	for i, a := range t.aeads {
		if a.fingerprint == fp {
			return a, i, true
		}
	}
	return nil, -1, false
}

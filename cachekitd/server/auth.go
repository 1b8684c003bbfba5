package server

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// API keys. A key is a secret and its prefix only a convention: any string of
// MinAPIKeyLen..MaxAPIKeyLen characters of the RFC 6750 bearer-token charset
// ([A-Za-z0-9._~+/-], then any '=' padding) is accepted, so keys of the
// managed service's other families (ck_sdk_..., and whatever comes next)
// work. Keys not starting with CommonKeyPrefix deserve a warning
// (UsualAPIKey), nothing more.
const (
	LiveKeyPrefix = "ck_live_"
	TestKeyPrefix = "ck_test_"
	// CommonKeyPrefix starts every key the managed service issues.
	CommonKeyPrefix = "ck_"
	// MinAPIKeyLen is the shortest key: shorter ones are too easy to guess.
	MinAPIKeyLen = 20
	// MinAPIKeySecretLen is the random part gen-key and --dev put after a
	// prefix.
	MinAPIKeySecretLen = 16
	MaxAPIKeyLen       = 256
	// MaxTenantIDLen bounds tenant ids, which are [A-Za-z0-9_-].
	MaxTenantIDLen = 64
)

// ErrBadKeyring is wrapped by every error about a keys file, a keys list or
// an API key that cannot be used.
var ErrBadKeyring = errors.New("cachekitd: bad API key configuration")

// Tenant is the owner of a set of API keys and of everything stored through
// them.
type Tenant struct {
	// ID names the tenant's namespace in the store.
	ID string
	// DefaultTTL applies to PUTs without a TTL header (0: the server's
	// default; NoExpiry: no expiry).
	DefaultTTL time.Duration
}

// Keyring maps API keys to tenants. It holds only SHA-256 digests of keys,
// never the keys themselves. Build one with NewKeyring and Add/AddHash; it is
// read-only (and safe for concurrent use) once serving starts.
type Keyring struct {
	byHash  map[[sha256.Size]byte]*Tenant
	tenants map[string]*Tenant
}

// NewKeyring returns an empty keyring.
func NewKeyring() *Keyring {
	return &Keyring{byHash: map[[sha256.Size]byte]*Tenant{}, tenants: map[string]*Tenant{}}
}

// HashKey returns the hex SHA-256 digest of an API key, the form keys files
// store. It does not validate the key; use ValidAPIKey for that.
func HashKey(apiKey string) string {
	sum := sha256.Sum256([]byte(apiKey))
	return hex.EncodeToString(sum[:])
}

// ValidAPIKey reports whether s can be an API key: MinAPIKeyLen to
// MaxAPIKeyLen characters of the bearer-token charset [A-Za-z0-9._~+/-]
// followed by any number of '='.
func ValidAPIKey(s string) bool {
	if len(s) < MinAPIKeyLen || len(s) > MaxAPIKeyLen {
		return false
	}
	body := strings.TrimRight(s, "=")
	if body == "" {
		return false
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~+/", c) >= 0) {
			return false
		}
	}
	return true
}

// UsualAPIKey reports whether a valid key has the managed service's ck_
// prefix; servers warn about others (a typo, a key meant for another system)
// but accept them.
func UsualAPIKey(s string) bool { return strings.HasPrefix(s, CommonKeyPrefix) }

// ValidTenantID reports whether id is 1..MaxTenantIDLen of [A-Za-z0-9_-].
func ValidTenantID(id string) bool {
	if id == "" || len(id) > MaxTenantIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func (k *Keyring) tenant(id string, defaultTTL time.Duration) (*Tenant, error) {
	if !ValidTenantID(id) {
		return nil, fmt.Errorf("%w: tenant id must be 1..%d characters of [A-Za-z0-9_-]", ErrBadKeyring, MaxTenantIDLen)
	}
	t := k.tenants[id]
	if t == nil {
		t = &Tenant{ID: id}
		k.tenants[id] = t
	}
	if defaultTTL != 0 {
		if t.DefaultTTL != 0 && t.DefaultTTL != defaultTTL {
			return nil, fmt.Errorf("%w: tenant %s has two different default TTLs", ErrBadKeyring, id)
		}
		t.DefaultTTL = defaultTTL
	}
	return t, nil
}

// Add registers an API key (hashed at once) for tenant.
func (k *Keyring) Add(tenant, apiKey string, defaultTTL time.Duration) error {
	if !ValidAPIKey(apiKey) {
		return fmt.Errorf("%w: an API key for tenant %s is not %d..%d characters of [A-Za-z0-9._~+/-] (then optional '=')", ErrBadKeyring, tenant, MinAPIKeyLen, MaxAPIKeyLen)
	}
	return k.AddHash(tenant, HashKey(apiKey), defaultTTL)
}

// AddHash registers the hex SHA-256 digest of an API key for tenant.
func (k *Keyring) AddHash(tenant, hexDigest string, defaultTTL time.Duration) error {
	var d [sha256.Size]byte
	if len(hexDigest) != 2*sha256.Size { // checked first: hex.Decode needs room for all of it
		return fmt.Errorf("%w: key hash for tenant %s is not 64 hex digits", ErrBadKeyring, tenant)
	}
	if n, err := hex.Decode(d[:], []byte(hexDigest)); err != nil || n != sha256.Size {
		return fmt.Errorf("%w: key hash for tenant %s is not 64 hex digits", ErrBadKeyring, tenant)
	}
	if defaultTTL != NoExpiry && (defaultTTL < 0 || defaultTTL%time.Second != 0 || defaultTTL > MaxTTL) {
		return fmt.Errorf("%w: default TTL of tenant %s must be NoExpiry or whole seconds up to %s", ErrBadKeyring, tenant, MaxTTL)
	}
	t, err := k.tenant(tenant, defaultTTL)
	if err != nil {
		return err
	}
	if _, dup := k.byHash[d]; dup {
		return fmt.Errorf("%w: the same API key is listed twice (tenant %s)", ErrBadKeyring, tenant)
	}
	k.byHash[d] = t
	return nil
}

// Len returns the number of registered API keys.
func (k *Keyring) Len() int { return len(k.byHash) }

// Tenants returns the number of tenants the keyring's keys belong to.
func (k *Keyring) Tenants() int { return len(k.tenants) }

// Lookup returns the tenant an API key belongs to. The key is hashed and the
// digest looked up in a map: what the lookup's timing could reveal is a
// prefix of a SHA-256 digest, which says nothing usable about any key, so no
// comparison of secret bytes ever depends on the input.
func (k *Keyring) Lookup(apiKey string) (*Tenant, bool) {
	if len(apiKey) < MinAPIKeyLen || len(apiKey) > MaxAPIKeyLen {
		return nil, false
	}
	d := sha256.Sum256([]byte(apiKey))
	t, ok := k.byHash[d]
	return t, ok
}

// LoadKeysFile reads a keys file into k. The format is one key per line:
//
//	# comment
//	<tenant-id> <sha256-hex-of-api-key> [default_ttl=<seconds>]
//
// default_ttl=0 gives the tenant entries without expiry for PUTs without a
// TTL header (NoExpiry). Blank lines and lines starting with # are ignored. A tenant may have several
// keys (rotation). `cachekitd hash-key` prints the digest of a key.
func (k *Keyring) LoadKeysFile(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 4096)
	line := 0
	for sc.Scan() {
		line++
		f := strings.Fields(sc.Text())
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		if len(f) < 2 || len(f) > 3 {
			return fmt.Errorf("%w: keys file line %d: want `tenant sha256hex [default_ttl=SECONDS]`", ErrBadKeyring, line)
		}
		var ttl time.Duration
		if len(f) == 3 {
			v, ok := strings.CutPrefix(f[2], "default_ttl=")
			if !ok {
				return fmt.Errorf("%w: keys file line %d: unknown field (want default_ttl=SECONDS)", ErrBadKeyring, line)
			}
			if strings.TrimSpace(v) == "0" {
				ttl = NoExpiry
			} else {
				secs, err := parseTTLSeconds(v)
				if err != nil {
					return fmt.Errorf("%w: keys file line %d: default_ttl: %w", ErrBadKeyring, line, err)
				}
				ttl = secs
			}
		}
		if err := k.AddHash(f[0], f[1], ttl); err != nil {
			return fmt.Errorf("keys file line %d: %w", line, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%w: keys file: %w", ErrBadKeyring, err)
	}
	return nil
}

// LoadKeysList adds keys from a list "tenant=ck_test_...,tenant2=ck_live_..."
// (the CACHEKITD_API_KEYS form). Keys are hashed at once; error messages name
// tenants, never keys. It returns the tenants whose keys lack the usual ck_
// prefix, for a warning.
func (k *Keyring) LoadKeysList(list string) (unusual []string, err error) {
	for item := range strings.SplitSeq(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		tenant, key, ok := strings.Cut(item, "=")
		if !ok {
			return nil, fmt.Errorf("%w: API keys list: want tenant=ck_..., comma separated", ErrBadKeyring)
		}
		tenant, key = strings.TrimSpace(tenant), strings.TrimSpace(key)
		if err := k.Add(tenant, key, 0); err != nil {
			return nil, err
		}
		if !UsualAPIKey(key) {
			unusual = append(unusual, tenant)
		}
	}
	return unusual, nil
}

package secure

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/cachekit-go/cachekit/protocol/codec"
	"github.com/cachekit-go/cachekit/protocol/crypto"
)

// Environment variables and files the policy reads.
const (
	// EnvMasterKey holds the hex master key.
	EnvMasterKey = "CACHEKIT_MASTER_KEY"
	// EnvPreviousMasterKeys holds up to 3 comma-separated decrypt-only keys.
	EnvPreviousMasterKeys = "CACHEKIT_PREVIOUS_MASTER_KEYS"
	// EnvDeploymentUUID holds the single-tenant deployment UUID.
	EnvDeploymentUUID = "CACHEKIT_DEPLOYMENT_UUID"
	// DeploymentUUIDDir is the directory under the home directory that holds
	// the generated deployment UUID (mode 0700).
	DeploymentUUIDDir = ".cachekit"
	// DeploymentUUIDFile is the file in DeploymentUUIDDir holding the
	// generated deployment UUID (mode 0600), as the Python SDK writes it.
	DeploymentUUIDFile = "deployment_uuid"
)

// tenantSource says where a single tenant came from.
type tenantSource uint8

const (
	sourceFixed    tenantSource = iota // Config.Tenant, verbatim
	sourceExplicit                     // Config.DeploymentUUID
	sourceEnv                          // CACHEKIT_DEPLOYMENT_UUID
	sourceFile                         // ~/.cachekit/deployment_uuid
)

func (s tenantSource) String() string {
	return [...]string{"fixed tenant", "explicit deployment UUID", EnvDeploymentUUID, "deployment UUID file"}[s]
}

// TenantPrefix returns the physical key prefix of a tenant in multi-tenant
// mode: "t:" + the tenant percent-encoded like Python's
// urllib.parse.quote(tenant, safe="") + ":". Every byte outside
// A-Za-z0-9 and "_.-~" is written as %XX (uppercase hex), so a tenant id
// containing ':' cannot forge another tenant's prefix.
func TenantPrefix(tenant string) string {
	const hexDigits = "0123456789ABCDEF"
	b := make([]byte, 0, len(tenant)+3+8)
	b = append(b, "t:"...)
	for i := 0; i < len(tenant); i++ {
		c := tenant[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-' || c == '~' {
			b = append(b, c)
			continue
		}
		b = append(b, '%', hexDigits[c>>4], hexDigits[c&0xf])
	}
	return string(append(b, ':'))
}

// PhysicalKey returns the backend key of a multi-tenant entry:
// TenantPrefix(tenant) + key, for example "t:org%3A1:users:42". The logical
// key (what the AAD binds) stays key.
func PhysicalKey(tenant, key string) string { return TenantPrefix(tenant) + key }

// validTenant checks a tenant id: 1..1024 bytes of valid UTF-8 (the frame
// header is JSON text).
func validTenant(t string) error {
	if len(t) == 0 || len(t) > crypto.MaxTenantIDSize {
		return fmt.Errorf("%w: %d bytes, want 1..%d", crypto.ErrInvalidTenant, len(t), crypto.MaxTenantIDSize)
	}
	if !utf8.ValidString(t) {
		return fmt.Errorf("%w: not valid UTF-8", crypto.ErrInvalidTenant)
	}
	return nil
}

// parseDeploymentUUID normalizes a deployment UUID to lowercase hyphenated
// form, accepting what Python's uuid.UUID accepts. canonical reports whether
// the input already was that form (interop needs it: other SDKs use the raw
// string).
func parseDeploymentUUID(s string) (uuid string, canonical bool, err error) {
	u, err := codec.ParseUUID(strings.TrimSpace(s))
	if err != nil {
		return "", false, err
	}
	uuid = u.String()
	return uuid, uuid == s, nil
}

// resolveSingleTenant applies the chain of PROTOCOL.md section 6: explicit
// deployment UUID > CACHEKIT_DEPLOYMENT_UUID > ~/.cachekit/deployment_uuid
// (created with a new random UUID when missing or unreadable).
func resolveSingleTenant(cfg *Config, getenv func(string) string, log *slog.Logger) (string, tenantSource, bool, error) {
	if cfg.DeploymentUUID != "" {
		u, canon, err := parseDeploymentUUID(cfg.DeploymentUUID)
		if err != nil {
			return "", 0, false, fmt.Errorf("%w: DeploymentUUID is not a UUID", ErrConfig)
		}
		return u, sourceExplicit, canon, nil
	}
	if v := getenv(EnvDeploymentUUID); v != "" {
		u, canon, err := parseDeploymentUUID(v)
		if err != nil {
			return "", 0, false, fmt.Errorf("%w: %s is not a UUID", ErrConfig, EnvDeploymentUUID)
		}
		return u, sourceEnv, canon, nil
	}
	home := cfg.HomeDir
	if home == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return "", 0, false, fmt.Errorf("%w: no deployment UUID configured and no home directory for %s: %w", ErrConfig, DeploymentUUIDFile, err)
		}
		home = h
	}
	u, err := deploymentUUIDFromFile(filepath.Join(home, DeploymentUUIDDir), log)
	if err != nil {
		return "", 0, false, err
	}
	return u, sourceFile, false, nil
}

// deploymentUUIDFromFile reads dir/deployment_uuid, creating it with a new
// random UUID (file 0600 in a 0700 directory) when it is missing, and
// replacing it when it does not hold a UUID (as Python does). Creation is
// race-free between processes: the UUID is written to a temporary file that
// is hard-linked into place, and the loser of a race reads the winner's file.
// When the file cannot be written the new UUID is used for this process only
// and a warning is logged (entries then do not survive a restart).
func deploymentUUIDFromFile(dir string, log *slog.Logger) (string, error) {
	path := filepath.Join(dir, DeploymentUUIDFile)
	existing, err := readUUIDFile(path)
	missing := errors.Is(err, fs.ErrNotExist)
	switch {
	case err == nil:
		return existing, nil
	case missing:
	default:
		log.Warn("cachekit: deployment UUID file is unreadable or corrupt; generating a new one (entries encrypted for the old deployment UUID become unreadable)", "path", path)
	}
	fresh := newUUID()
	if err := writeUUIDFile(dir, path, fresh, missing); err != nil {
		if errors.Is(err, fs.ErrExist) { // another process created it first
			if u, rerr := readUUIDFile(path); rerr == nil {
				return u, nil
			}
		}
		log.Warn("cachekit: cannot persist the deployment UUID; using a new one for this process only (encrypted entries will not survive a restart)", "path", path, "error", err)
		return fresh, nil
	}
	log.Info("cachekit: generated a new deployment UUID", "path", path)
	return fresh, nil
}

func readUUIDFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	buf := make([]byte, 256) // a UUID with whitespace; anything longer is corrupt
	n, _ := f.Read(buf)
	u, _, perr := parseDeploymentUUID(string(buf[:n]))
	if perr != nil {
		return "", fmt.Errorf("deployment UUID file: %w", perr)
	}
	return u, nil
}

// writeUUIDFile writes uuid to path through a temporary file: linked into
// place when create (fails with fs.ErrExist if path appeared meanwhile),
// renamed over path otherwise (replacing a corrupt file).
func writeUUIDFile(dir, path, uuid string, create bool) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, DeploymentUUIDFile+".tmp*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	defer os.Remove(name)
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.WriteString(uuid); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if create {
		return os.Link(name, path)
	}
	return os.Rename(name, path)
}

// newUUID returns a random (version 4) UUID, lowercase hyphenated.
func newUUID() string {
	var u codec.UUID
	_, _ = rand.Read(u[:]) // never fails (the runtime aborts instead)
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return u.String()
}

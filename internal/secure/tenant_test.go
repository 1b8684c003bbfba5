package secure

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/cachekit-go/cachekit/protocol/codec"
)

const canonicalUUID = "6f1c2a9e-3b4d-4e5f-8a7b-0c1d2e3f4a5b"

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestTenantChain(t *testing.T) {
	t.Parallel()
	upper := "{6F1C2A9E-3B4D-4E5F-8A7B-0C1D2E3F4A5B}"
	envUUID := "0e6e3c8a-1111-4222-8333-444455556666"
	tests := []struct {
		name       string
		cfg        Config
		env        map[string]string
		want       string
		interopErr bool
	}{
		{"fixed tenant wins", Config{Tenant: "acme", DeploymentUUID: canonicalUUID}, map[string]string{EnvDeploymentUUID: envUUID}, "acme", false},
		{"explicit UUID over env", Config{DeploymentUUID: canonicalUUID}, map[string]string{EnvDeploymentUUID: envUUID}, canonicalUUID, false},
		{"explicit UUID normalized", Config{DeploymentUUID: upper}, nil, canonicalUUID, true},
		{"env UUID", Config{}, map[string]string{EnvDeploymentUUID: envUUID}, envUUID, false},
		{"env UUID normalized", Config{}, map[string]string{EnvDeploymentUUID: "urn:uuid:" + envUUID}, envUUID, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.cfg.MasterKey = key32(1)
			tc.cfg.Getenv = envOf(tc.env)
			tc.cfg.HomeDir = t.TempDir()
			tc.cfg.Logger = quiet
			p, err := New(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			s := bind(t, p, context.Background())
			if s.Tenant() != tc.want {
				t.Fatalf("tenant %q, want %q", s.Tenant(), tc.want)
			}
			if got := p.InteropError() != nil; got != tc.interopErr {
				t.Fatalf("InteropError = %v, want error: %v", p.InteropError(), tc.interopErr)
			}
			if _, err := os.Stat(filepath.Join(tc.cfg.HomeDir, DeploymentUUIDDir)); !errors.Is(err, os.ErrNotExist) {
				t.Fatal("the UUID file was created although a tenant was configured")
			}
		})
	}
	for _, cfg := range []Config{
		{MasterKey: key32(1), DeploymentUUID: "not-a-uuid"},
		{MasterKey: key32(1), Getenv: envOf(map[string]string{EnvDeploymentUUID: "1234"})},
		{MasterKey: key32(1), Tenant: string(make([]byte, 1025))},
		{MasterKey: key32(1), Tenant: "\xff"},
	} {
		if cfg.Getenv == nil {
			cfg.Getenv = noEnv
		}
		cfg.HomeDir = t.TempDir()
		if _, err := New(cfg); !errors.Is(err, ErrConfig) {
			t.Fatalf("%+v: err = %v, want ErrConfig", cfg.DeploymentUUID, err)
		}
	}
}

func TestDeploymentUUIDFile(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	cfg := Config{MasterKey: key32(1), Getenv: noEnv, HomeDir: home, Logger: quiet}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tenant := bind(t, p, context.Background()).Tenant()
	u, err := codec.ParseUUID(tenant)
	if err != nil || u.String() != tenant || u[6]>>4 != 4 {
		t.Fatalf("generated tenant %q is not a canonical v4 UUID", tenant)
	}
	dir := filepath.Join(home, DeploymentUUIDDir)
	path := filepath.Join(dir, DeploymentUUIDFile)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("file mode %v, want 0600", fi.Mode().Perm())
	}
	di, _ := os.Stat(dir)
	if di.Mode().Perm() != 0o700 {
		t.Fatalf("directory mode %v, want 0700", di.Mode().Perm())
	}
	if b, _ := os.ReadFile(path); string(b) != tenant {
		t.Fatalf("file holds %q, want %q", b, tenant)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
	if !errors.Is(p.InteropError(), ErrInteropTenant) {
		t.Fatal("interop allowed with a machine-local tenant")
	}
	if _, err := bind(t, p, context.Background()).SealInterop("a:b:c", []byte{1}); !errors.Is(err, ErrInteropTenant) {
		t.Fatalf("SealInterop with a machine-local tenant: %v", err)
	}

	// A second policy (a restart) reads the same UUID.
	p2, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := bind(t, p2, context.Background()).Tenant(); got != tenant {
		t.Fatalf("restart: tenant %q, want %q", got, tenant)
	}

	// A file written by Python (with a newline, say) is read and normalized.
	if err := os.WriteFile(path, []byte(" "+canonicalUUID+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p3, _ := New(cfg)
	if got := bind(t, p3, context.Background()).Tenant(); got != canonicalUUID {
		t.Fatalf("existing file: tenant %q", got)
	}

	// A corrupt file is replaced by a new UUID, as Python does.
	if err := os.WriteFile(path, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	p4, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	replaced := bind(t, p4, context.Background()).Tenant()
	if replaced == canonicalUUID || replaced == tenant {
		t.Fatalf("corrupt file: tenant %q not regenerated", replaced)
	}
	if b, _ := os.ReadFile(path); string(b) != replaced {
		t.Fatalf("corrupt file not replaced: %q", b)
	}
}

// TestDeploymentUUIDFileRace: many first users at once agree on one UUID.
func TestDeploymentUUIDFileRace(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	tenants := make([]string, 12)
	var wg sync.WaitGroup
	for i := range tenants {
		wg.Go(func() {
			p, err := New(Config{MasterKey: key32(1), Getenv: noEnv, HomeDir: home, Logger: quiet})
			if err != nil {
				t.Error(err)
				return
			}
			s, _ := p.Bind(context.Background())
			tenants[i] = s.Tenant()
		})
	}
	wg.Wait()
	for _, got := range tenants[1:] {
		if got != tenants[0] {
			t.Fatalf("racing creators disagree: %q vs %q", got, tenants[0])
		}
	}
}

func TestDeploymentUUIDUnwritable(t *testing.T) {
	t.Parallel()
	// A regular file where the directory should be (works as root too,
	// where permission bits would not stop the write).
	home := t.TempDir()
	blocker := filepath.Join(home, DeploymentUUIDDir)
	if err := os.WriteFile(blocker, []byte("a file where the directory should be"), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := New(Config{MasterKey: key32(1), Getenv: noEnv, HomeDir: home, Logger: quiet})
	if err != nil {
		t.Fatalf("an unwritable home must not stop the cache: %v", err)
	}
	tenant := bind(t, p, context.Background()).Tenant()
	if _, err := codec.ParseUUID(tenant); err != nil {
		t.Fatalf("ephemeral tenant %q is not a UUID", tenant)
	}
}

package cachekitio

import (
	"context"
	"crypto/x509"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/backend"
	"github.com/cachekit-go/cachekit/internal/testenv/cachekitdtest"
)

func TestOptionsFromEnvCAFile(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t, testHost)
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	other := newTestPKI(t, testHost)
	good := write("ca.pem", pki.CAPEM)
	bundle := write("bundle.pem", append(append([]byte{}, other.CAPEM...), pki.CAPEM...))
	lookup := func(path string) func(string) (string, bool) {
		return func(k string) (string, bool) {
			switch k {
			case EnvAPIKey:
				return testAPIKey, true
			case EnvCAFile:
				return path, true
			}
			return "", false
		}
	}
	for _, tc := range []struct {
		name, path string
		pool       *x509.CertPool // nil: an error
		is         error
	}{
		{"one CA", good, pki.Pool, nil},
		{"bundle", bundle, func() *x509.CertPool { p := other.Pool.Clone(); p.AppendCertsFromPEM(pki.CAPEM); return p }(), nil},
		{"unset", "", nil, nil},
		{"missing file", filepath.Join(dir, testAPIKey+".pem"), nil, fs.ErrNotExist},
		{"a directory", dir, nil, nil},
		{"no certificate", write("key.pem", pki.KeyPEM), nil, ErrNoCACertificates},
		{"garbage", write("garbage", []byte("-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----\n")), nil, ErrNoCACertificates},
		{"too large", write("huge.pem", make([]byte, MaxCAFileSize+1)), nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := optionsFromLookup(lookup(tc.path))
			switch {
			case tc.path == "":
				if err != nil || o.RootCAs != nil {
					t.Fatalf("unset: RootCAs %v, err %v", o.RootCAs, err)
				}
			case tc.pool != nil:
				if err != nil || o.RootCAs == nil || !o.RootCAs.Equal(tc.pool) {
					t.Fatalf("RootCAs not the file's CAs: %v", err)
				}
			default:
				if !errors.Is(err, ErrInvalidOption) || !strings.Contains(err.Error(), EnvCAFile) {
					t.Fatalf("err = %v, want ErrInvalidOption naming %s", err, EnvCAFile)
				}
				if tc.is != nil && !errors.Is(err, tc.is) {
					t.Fatalf("err = %v, want %v", err, tc.is)
				}
				// The value (a path, or a key pasted by mistake) is not echoed.
				if strings.Contains(err.Error(), dir) || strings.Contains(err.Error(), testAPIKey) {
					t.Fatalf("error echoes the value: %v", err)
				}
			}
		})
	}
}

// TestLiveFromEnvCAFile configures a client only from the environment, the
// way a self-hoster does: the server's IP URL, both opt-ins and the CA file.
// Without the CA file the same configuration fails certificate verification.
func TestLiveFromEnvCAFile(t *testing.T) {
	t.Parallel()
	d := cachekitdtest.Start(t, cachekitdtest.Config{})
	env := map[string]string{
		EnvAPIKey: d.APIKey(), EnvAPIURL: d.IPURL(), EnvCAFile: d.CAFile(),
		EnvAllowCustomHost: "true", EnvAllowPrivateNetworks: "true", EnvMaxRetries: "0",
	}
	fromEnv := func() *Backend {
		t.Helper()
		o, err := optionsFromLookup(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
		if err != nil {
			t.Fatal(err)
		}
		b, err := New(o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		return b
	}
	ctx := context.Background()
	b := fromEnv()
	if err := b.Set(ctx, "env:ca", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if v, found, err := b.Get(ctx, "env:ca"); err != nil || !found || string(v) != "v" {
		t.Fatalf("Get = %q %v %v", v, found, err)
	}
	delete(env, EnvCAFile)
	var unknown x509.UnknownAuthorityError
	if _, _, err := fromEnv().Get(ctx, "env:ca"); !errors.As(err, &unknown) || kindOf(err) != backend.Permanent {
		t.Fatalf("without the CA file: %v, want an unknown-authority failure", err)
	}
}

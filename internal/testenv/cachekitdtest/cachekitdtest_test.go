package cachekitdtest_test

import (
	"context"
	"crypto/x509"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/backend"
	"github.com/cachekit-go/cachekit/backend/cachekitio"
	"github.com/cachekit-go/cachekit/internal/testenv/cachekitdtest"
)

var _ cachekitio.Resolver = cachekitdtest.Resolver{}

// client connects to d the way the live tests do: the allowlisted host name
// through the loopback resolver, the test CA, the private-network opt-in.
func client(t *testing.T, d *cachekitdtest.Daemon, adjust func(*cachekitio.Options)) *cachekitio.Backend {
	t.Helper()
	opts := cachekitio.Options{
		APIKey:               cachekitio.Secret(d.APIKey()),
		URL:                  d.URL(),
		AllowPrivateNetworks: true,
		RootCAs:              d.RootCAs(),
		Resolver:             d.Resolver(),
		Timeout:              5 * time.Second,
		MaxRetries:           cachekitio.NoRetries,
	}
	if adjust != nil {
		adjust(&opts)
	}
	b, err := cachekitio.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func roundTrip(t *testing.T, b *cachekitio.Backend, key string) {
	t.Helper()
	ctx := context.Background()
	if err := b.Set(ctx, key, []byte("v:"+key), time.Minute); err != nil {
		t.Fatalf("Set(%s): %v", key, err)
	}
	if v, found, err := b.Get(ctx, key); err != nil || !found || string(v) != "v:"+key {
		t.Fatalf("Get(%s) = %q %v %v", key, v, found, err)
	}
}

func TestStartServesTLSAndHTTP2(t *testing.T) {
	t.Parallel()
	d := cachekitdtest.Start(t, cachekitdtest.Config{})
	if ap, err := netip.ParseAddrPort(d.Addr()); err != nil || !ap.Addr().IsLoopback() || int(ap.Port()) != d.Port() || d.Port() == 0 {
		t.Fatalf("Addr %q, Port %d", d.Addr(), d.Port())
	}
	if want := "https://api.cachekit.io:" + strconv.Itoa(d.Port()); d.URL() != want || cachekitdtest.URLFor(d.Port()) != want {
		t.Fatalf("URL %q, want %q", d.URL(), want)
	}
	b := client(t, d, nil)
	ok, details := b.HealthCheck(context.Background())
	if !ok || details["http_protocol"] != "HTTP/2.0" {
		t.Fatalf("health %v %v", ok, details)
	}
	roundTrip(t, b, "harness:h2")

	// The same server by IP, as a client configured from the environment
	// reaches it: both opt-ins, no resolver.
	byIP := client(t, d, func(o *cachekitio.Options) {
		o.URL, o.Resolver, o.AllowCustomHost = d.IPURL(), nil, true
	})
	if v, found, err := byIP.Get(context.Background(), "harness:h2"); err != nil || !found || string(v) != "v:harness:h2" {
		t.Fatalf("by IP: %q %v %v", v, found, err)
	}
	// CAFile holds the CA that signed the server certificate.
	pem, err := os.ReadFile(d.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) || !pool.Equal(d.RootCAs()) {
		t.Fatal("CAFile is not the CA of RootCAs")
	}
}

func TestConfigKeysAndFlags(t *testing.T) {
	t.Parallel()
	pki := cachekitdtest.NewPKI(t, cachekitdtest.Host)
	d := cachekitdtest.Start(t, cachekitdtest.Config{
		PKI:   pki,
		Keys:  []cachekitdtest.Key{{"acme", "ck_test_acmeacmeacmeacmeacme"}, {"other", "ck_test_otherotherotherother"}},
		Flags: []string{"--max-value-bytes", "1KiB"},
	})
	if d.PKI() != pki || d.APIKey() != "ck_test_acmeacmeacmeacmeacme" {
		t.Fatalf("PKI or APIKey not the configured ones: %q", d.APIKey())
	}
	ctx := context.Background()
	acme := client(t, d, nil)
	roundTrip(t, acme, "harness:keys")
	// The second key is a different tenant: it authenticates but does not
	// see the first tenant's entry.
	other := client(t, d, func(o *cachekitio.Options) { o.APIKey = "ck_test_otherotherotherother" })
	if _, found, err := other.Get(ctx, "harness:keys"); err != nil || found {
		t.Fatalf("other tenant: found %v, err %v", found, err)
	}
	wrong := client(t, d, func(o *cachekitio.Options) { o.APIKey = cachekitdtest.APIKey })
	if _, _, err := wrong.Get(ctx, "harness:keys"); !errors.Is(err, backend.ErrAuthentication) {
		t.Fatalf("default key on a server without it: %v", err)
	}
	// The extra flag took effect.
	if err := acme.Set(ctx, "harness:big", make([]byte, 2048), time.Minute); !errors.Is(err, cachekitio.ErrValueTooLarge) {
		t.Fatalf("2 KiB over a 1 KiB limit: %v", err)
	}
}

func TestStopAndRestart(t *testing.T) {
	t.Parallel()
	d := cachekitdtest.Start(t, cachekitdtest.Config{})
	b := client(t, d, nil)
	roundTrip(t, b, "harness:restart")
	addr := d.Addr()
	d.Stop()
	d.Stop() // idempotent
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatal("something still listens after Stop")
	}
	d.Restart()
	if d.Addr() != addr {
		t.Fatalf("restarted on %s, want %s", d.Addr(), addr)
	}
	b2 := client(t, d, nil)
	if _, found, err := b2.Get(context.Background(), "harness:restart"); err != nil || found {
		t.Fatalf("after restart: found %v, err %v (the memory store starts empty)", found, err)
	}
	roundTrip(t, b2, "harness:restart")
}

// The test's CACHEKITD_* variables do not reach the process: a tiny
// value limit in the environment would refuse every write.
func TestEnvironmentIsolated(t *testing.T) {
	t.Setenv("CACHEKITD_MAX_VALUE_BYTES", "1")
	t.Setenv("CACHEKITD_API_KEYS", "intruder=ck_test_intruderintruder")
	d := cachekitdtest.Start(t, cachekitdtest.Config{})
	roundTrip(t, client(t, d, nil), "harness:env")
	intruder := client(t, d, func(o *cachekitio.Options) { o.APIKey = "ck_test_intruderintruder" })
	if _, _, err := intruder.Get(context.Background(), "harness:env"); !errors.Is(err, backend.ErrAuthentication) {
		t.Fatalf("a key from the test's environment was accepted: %v", err)
	}
}

// Without the binary, Start skips (locally; under CI=true it fails, which a
// test cannot show without failing).
func TestMissingBinarySkips(t *testing.T) {
	t.Setenv(cachekitdtest.EnvBinary, "")
	t.Setenv("CI", "")
	var inner *testing.T
	t.Run("start", func(t *testing.T) {
		inner = t
		cachekitdtest.Start(t, cachekitdtest.Config{})
		t.Error("Start returned without the binary")
	})
	if !inner.Skipped() {
		t.Fatal("Start did not skip")
	}
}

func TestNewPKI(t *testing.T) {
	t.Parallel()
	p := cachekitdtest.NewPKI(t, "api.cachekit.io", "localhost", "127.0.0.1", "::1")
	leaf, err := x509.ParseCertificate(p.Cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"api.cachekit.io", true},
		{"localhost", true},
		{"127.0.0.1", true},
		{"::1", true},
		{"other.cachekit.io", false},
		{"127.0.0.2", false},
	} {
		_, err := leaf.Verify(x509.VerifyOptions{DNSName: tc.name, Roots: p.Pool})
		if (err == nil) != tc.ok {
			t.Errorf("verify for %s: %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
	// Another PKI's CA does not vouch for this certificate.
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "localhost", Roots: cachekitdtest.NewPKI(t, "localhost").Pool}); err == nil {
		t.Fatal("a foreign CA verified the certificate")
	}
	cert, key := p.WriteFiles(t, t.TempDir())
	for path, want := range map[string][]byte{cert: p.CertPEM, key: p.KeyPEM} {
		got, err := os.ReadFile(path)
		if err != nil || string(got) != string(want) {
			t.Fatalf("%s: %v", filepath.Base(path), err)
		}
		if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s mode %v", filepath.Base(path), fi.Mode())
		}
	}
}

func TestResolver(t *testing.T) {
	t.Parallel()
	r := cachekitdtest.LoopbackResolver("API.cachekit.io")
	for _, tc := range []struct {
		host string
		ok   bool
	}{
		{"api.cachekit.io", true},
		{"Api.Cachekit.IO.", true},
		{"cachekit.io", false},
		{"localhost", false},
	} {
		a, err := r.LookupNetIP(context.Background(), "ip", tc.host)
		var dnsErr *net.DNSError
		switch {
		case tc.ok && (err != nil || len(a) != 1 || a[0] != netip.MustParseAddr("127.0.0.1")):
			t.Errorf("%s: %v %v", tc.host, a, err)
		case !tc.ok && (!errors.As(err, &dnsErr) || !dnsErr.IsNotFound):
			t.Errorf("%s: %v %v, want not found", tc.host, a, err)
		}
	}
}

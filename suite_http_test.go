package cachekit

import (
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/backend"
	"github.com/cachekit-go/cachekit/backend/cachekitio"
	"github.com/cachekit-go/cachekit/internal/testenv/cachekitdtest"
)

// cachekitioKind runs the suite over the CacheKit HTTP API: a real cachekitd
// (its own process per backend, started by the harness) over TLS and
// HTTP/2, reached as api.cachekit.io through a resolver mapping that name to
// the loopback listener. Every host-name SSRF rule stays on; only the
// private-network opt-in is set, because the name resolves to 127.0.0.1.
func cachekitioKind() backendKind {
	return backendKind{"cachekitio", func(t *testing.T) backend.Backend {
		return cachekitdClient(t, cachekitdtest.Start(t, cachekitdtest.Config{}))
	}}
}

// cachekitdClient connects to d by its allowlisted host name through the
// test resolver, with the test CA and the private-network opt-in. It is
// closed when the test ends.
func cachekitdClient(t *testing.T, d *cachekitdtest.Daemon) *cachekitio.Backend {
	t.Helper()
	b, err := cachekitio.New(cachekitio.Options{
		APIKey:               cachekitio.Secret(d.APIKey()),
		URL:                  d.URL(),
		AllowPrivateNetworks: true,
		RootCAs:              d.RootCAs(),
		Resolver:             d.Resolver(),
		Timeout:              5 * time.Second,
	})
	if err != nil {
		t.Fatalf("cachekitio: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// zeroTTLServerDefault names the backends whose server stores an entry
// written without a TTL with its own default lifetime instead of none, and
// that lifetime. On these a cache's NoExpiry means "the server's default".
var zeroTTLServerDefault = map[string]struct {
	ttl    time.Duration
	reason string
}{
	"cachekitio": {time.Hour, "cachekitd applies --default-ttl (1 h) to a PUT without a TTL header, as the hosted API applies the tenant's default"},
}

// TestCacheTTLReachesBackend checks, on every backend that reports
// lifetimes, that the cache's TTLs arrive: an explicit TTL as set, NoExpiry
// as no expiry, or, where the server substitutes its default (see
// zeroTTLServerDefault), as that default.
func TestCacheTTLReachesBackend(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	for _, k := range allKinds() {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			b := k.make(t)
			if b == nil {
				t.Skip("no backend: in-process only")
			}
			in, ok := b.(backend.TTLInspector)
			if !ok {
				t.Fatalf("%T does not report lifetimes; every backend of the suite does", b)
			}
			c := newTestCache(t, b)
			explicit, forever := uniq(t), uniq(t)
			if err := c.Set(ctx, explicit, "v", 90*time.Second); err != nil {
				t.Fatal(err)
			}
			if err := c.Set(ctx, forever, "v", NoExpiry); err != nil {
				t.Fatal(err)
			}
			// Backends count lifetimes at their own granularity (whole
			// seconds for some); 10 s of slack bounds only a slow run.
			if rem, found, err := in.TTL(ctx, explicit); err != nil || !found || rem <= 80*time.Second || rem > 90*time.Second {
				t.Fatalf("TTL of a 90 s entry = %v %v %v", rem, found, err)
			}
			rem, found, err := in.TTL(ctx, forever)
			if err != nil || !found {
				t.Fatalf("TTL of a NoExpiry entry: found %v, err %v", found, err)
			}
			if d, differs := zeroTTLServerDefault[k.name]; differs {
				t.Logf("NoExpiry stores with the server's default: %s", d.reason)
				if rem <= d.ttl-10*time.Second || rem > d.ttl {
					t.Fatalf("TTL of a NoExpiry entry = %v, want the server default %v", rem, d.ttl)
				}
				return
			}
			if rem != 0 {
				t.Fatalf("TTL of a NoExpiry entry = %v, want 0 (no expiry)", rem)
			}
		})
	}
}

package cachekit

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/backend/cachekitio"
	"github.com/cachekit-go/cachekit/internal/testenv/cachekitdtest"
)

// TestFromEnvCacheKitAPI configures caches from the environment only, as a
// self-hoster would (CACHEKIT_API_KEY, CACHEKIT_API_URL, both opt-ins and
// CACHEKIT_CA_FILE for the server's private CA), through FromEnv and the IO
// preset, against a real cachekitd, and reads what they stored back through
// a second, independently configured backend. Not parallel: it sets
// environment variables.
func TestFromEnvCacheKitAPI(t *testing.T) {
	d := cachekitdtest.Start(t, cachekitdtest.Config{})
	for name, value := range map[string]string{
		cachekitio.EnvAPIKey:               d.APIKey(),
		cachekitio.EnvAPIURL:               d.IPURL(),
		cachekitio.EnvAllowCustomHost:      "true",
		cachekitio.EnvAllowPrivateNetworks: "true",
		cachekitio.EnvCAFile:               d.CAFile(),
		// No other backend, no encryption, whatever the developer's shell has.
		EnvRedisURL: "", EnvRedisURLFallback: "", EnvMemcachedServers: "", EnvFileCacheDir: "", EnvMasterKey: "",
	} {
		t.Setenv(name, value)
	}
	// The reader is configured by hand, by host name through the test
	// resolver: a different client, the same server.
	reader := cachekitdClient(t, d)
	ctx := context.Background()

	for name, build := range map[string]func() (*Cache, error){
		"FromEnv": func() (*Cache, error) { return FromEnv(quiet()) },
		"IO":      func() (*Cache, error) { return New(IO(), quiet()) },
	} {
		t.Run(name, func(t *testing.T) {
			c, err := build()
			if err != nil {
				t.Fatal(err)
			}
			b, ok := c.Backend().(*cachekitio.Backend)
			if !ok || b.URL() != d.IPURL() {
				t.Fatalf("backend %T (%v), want the cachekitio backend for %s", c.Backend(), c.Backend(), d.IPURL())
			}
			if ok, details := c.HealthCheck(ctx); !ok || details["backend_type"] != "saas" {
				t.Fatalf("health %v %v", ok, details)
			}
			var cnt counter
			fname := Name(uniq(t))
			f := wrapCounter(t, c, &cnt, fname, TTL(time.Minute))
			if v, err := f.Call(ctx, 7); err != nil || v != "v0:7" {
				t.Fatalf("Call = %q %v", v, err)
			}
			k := mustKey(t, f, 7)
			if err := c.Flush(ctx); err != nil { // the backend write is made in the background
				t.Fatal(err)
			}
			if raw, found, err := reader.Get(ctx, k); err != nil || !found || len(raw) == 0 {
				t.Fatalf("entry %q not in cachekitd: found %v, err %v", k, found, err)
			}
			// Another cache on the reader decodes the entry instead of
			// running its function.
			var other counter
			g := wrapCounter(t, newTestCache(t, reader), &other, fname)
			if v, err := g.Call(ctx, 7); err != nil || v != "v0:7" || other.calls.Load() != 0 || g.Info().L2Hits != 1 {
				t.Fatalf("read back = %q %v, calls %d, info %+v", v, err, other.calls.Load(), g.Info())
			}
			// The cache made the backend, so it closes it.
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			if _, _, err := b.Get(ctx, k); !errors.Is(err, cachekitio.ErrClosed) {
				t.Fatalf("backend after Close: %v, want ErrClosed", err)
			}
		})
	}
}

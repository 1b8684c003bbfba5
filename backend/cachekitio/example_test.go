package cachekitio_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/cachekit-go/cachekit/backend"
	"github.com/cachekit-go/cachekit/backend/cachekitio"
)

// The managed service, configured from CACHEKIT_API_KEY and friends.
func ExampleFromEnv() {
	b, err := cachekitio.FromEnv()
	if errors.Is(err, cachekitio.ErrMissingAPIKey) {
		fmt.Println("set CACHEKIT_API_KEY")
		return
	}
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()

	ctx := context.Background()
	if err := b.Set(ctx, "greeting", []byte("hello"), 10*time.Minute); err != nil {
		log.Fatal(err)
	}
	v, found, err := b.Get(ctx, "greeting")
	fmt.Println(string(v), found, err)
}

// Explicit options instead of the environment.
func ExampleNew() {
	b, err := cachekitio.New(cachekitio.Options{
		APIKey:     cachekitio.Secret(os.Getenv("CACHEKIT_API_KEY")),
		Timeout:    2 * time.Second,
		MaxRetries: 2,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	fmt.Println(b.URL())
}

// A self-hosted cachekitd on an internal network with its own CA: lift the
// host allowlist, admit private addresses, trust the CA. https and
// certificate verification stay on.
func ExampleNew_selfHosted() {
	b, err := cachekitio.New(cachekitio.Options{
		APIKey:               cachekitio.Secret(os.Getenv("CACHEKIT_API_KEY")),
		URL:                  "https://cachekitd.internal.example:8443",
		AllowCustomHost:      true,
		AllowPrivateNetworks: true,
		// RootCAs: pool, // an *x509.CertPool with the CA that signed cachekitd's certificate
	})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	ok, details := b.HealthCheck(context.Background())
	fmt.Println(ok, details["version"], details["http_protocol"])
}

// The SSRF rules refuse internal targets unless the opt-ins say otherwise.
func ExampleNew_ssrf() {
	for _, u := range []string{
		"http://api.cachekit.io",             // not https
		"https://169.254.169.254",            // cloud metadata
		"https://cache.example.com",          // not on the allowlist
		"https://api.staging.cachekit.io/v2", // fine
	} {
		_, err := cachekitio.New(cachekitio.Options{APIKey: "ck_live_example", URL: u})
		fmt.Println(u, errors.Is(err, cachekitio.ErrUnsafeURL))
	}
	// Output:
	// http://api.cachekit.io true
	// https://169.254.169.254 true
	// https://cache.example.com true
	// https://api.staging.cachekit.io/v2 false
}

// Failures are *backend.Error values: branch on their kind.
func ExampleBackend_Get_errors() {
	b, err := cachekitio.FromEnv()
	if err != nil {
		return
	}
	_, _, err = b.Get(context.Background(), "user:42")
	switch {
	case err == nil:
	case errors.Is(err, backend.ErrAuthentication):
		log.Print("check CACHEKIT_API_KEY")
	case backend.IsTransient(err):
		log.Print("the API is unavailable; serve without the cache")
	default:
		log.Print(err)
	}
}

// Stale-while-revalidate: write with a grace window, then serve stale
// entries while recomputing them.
func ExampleBackend_GetEntry() {
	b, err := cachekitio.FromEnv()
	if err != nil {
		return
	}
	ctx := context.Background()
	_ = b.SetWithStale(ctx, "report", []byte("..."), time.Minute, 10*time.Minute)

	e, found, err := b.GetEntry(ctx, "report")
	if err != nil || !found {
		return
	}
	if e.Stale {
		if id, ok, _ := b.AcquireLock(ctx, "report", 30*time.Second); ok {
			go func() {
				defer b.ReleaseLock(context.Background(), "report", id)
				// recompute, then SetWithStale again
			}()
		}
	}
	fmt.Println(len(e.Value))
}

// Command httpbackend shows how to write your own cachekit-go backend: package
// kvhttp implements backend.Backend over a plain HTTP key/value service
// (GET/PUT/DELETE/HEAD on /kv/{key}); this program starts that service
// in-process, uses the backend directly, and then plugs it into a cache.
//
//	go run ./examples/httpbackend
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/cachekit-go/cachekit"
	"github.com/cachekit-go/cachekit/examples/httpbackend/kvhttp"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "httpbackend:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx := context.Background()

	// The service: a tiny in-memory key/value store over HTTP, on a free
	// loopback port.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: kvhttp.NewServer(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintln(os.Stderr, "server:", err)
		}
	}()
	defer srv.Shutdown(ctx)
	url := "http://" + ln.Addr().String()
	fmt.Println("kv service on", url)

	// The backend, used directly.
	b, err := kvhttp.New(url, &http.Client{Timeout: 5 * time.Second})
	if err != nil {
		return err
	}
	if err := b.Set(ctx, "greeting", []byte("hello"), time.Minute); err != nil {
		return err
	}
	v, found, err := b.Get(ctx, "greeting")
	fmt.Printf("Get(greeting) = %q, found=%v, err=%v\n", v, found, err)
	deleted, err := b.Delete(ctx, "greeting")
	fmt.Printf("Delete(greeting) = %v, err=%v\n", deleted, err)
	healthy, details := b.HealthCheck(ctx)
	fmt.Printf("HealthCheck = %v %v\n", healthy, details["backend_type"])

	// The same backend behind a cache: a wrapped function is computed once;
	// a second cache (standing in for another process) finds the entry in
	// the service instead of computing it again.
	calls := 0
	square := func(_ context.Context, n int) (int, error) {
		calls++
		return n * n, nil
	}
	for i := range 2 {
		c, err := cachekit.New(cachekit.WithBackend(b), cachekit.WithNamespace("httpbackend"))
		if err != nil {
			return err
		}
		f, err := cachekit.Wrap1(c, square, cachekit.Name("example.square"), cachekit.TTL(time.Minute))
		if err != nil {
			return err
		}
		r, err := f.Call(ctx, 12)
		if err != nil {
			return err
		}
		fmt.Printf("cache %d: square(12) = %d, computed %d time(s) so far\n", i+1, r, calls)
		_ = c.Close()
	}
	return nil
}

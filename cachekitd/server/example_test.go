package server_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/cachekit-go/cachekit/cachekitd/server"
	"github.com/cachekit-go/cachekit/cachekitd/store"
)

// Example embeds the CacheKit API in a Go program: a memory store, one tenant,
// and the handler on an HTTP server (in production, NewHTTPServer with TLS).
func Example() {
	st := store.NewMemory(store.MemoryOptions{MaxBytes: 64 << 20})
	defer st.Close()
	keys := server.NewKeyring()
	if err := keys.Add("acme", "ck_test_example0123456789abcd", 0); err != nil {
		panic(err)
	}
	h, err := server.New(server.Config{Store: st, Keys: keys})
	if err != nil {
		panic(err)
	}
	ts := httptest.NewServer(h)
	defer ts.Close()

	req, _ := http.NewRequest("PUT", ts.URL+"/v1/cache/user:42", strings.NewReader("cached bytes"))
	req.Header.Set("Authorization", "Bearer ck_test_example0123456789abcd")
	req.Header.Set("X-CacheKit-TTL", "300")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println("PUT", resp.StatusCode)

	req, _ = http.NewRequest("GET", ts.URL+"/v1/cache/user%3A42", nil)
	req.Header.Set("Authorization", "Bearer ck_test_example0123456789abcd")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println("GET", resp.StatusCode, string(body))
	// Output:
	// PUT 200
	// GET 200 cached bytes
}

// ExampleKeyring_LoadKeysFile shows the keys file format: one
// `tenant sha256hex [default_ttl=SECONDS]` per line.
func ExampleKeyring_LoadKeysFile() {
	file := "# tenant  sha256(api key)  [default_ttl]\n" +
		"acme " + server.HashKey("ck_live_acme0123456789abcdef") + " default_ttl=600\n"
	keys := server.NewKeyring()
	if err := keys.LoadKeysFile(strings.NewReader(file)); err != nil {
		panic(err)
	}
	t, ok := keys.Lookup("ck_live_acme0123456789abcdef")
	fmt.Println(ok, t.ID, t.DefaultTTL)
	// Output: true acme 10m0s
}

// ExampleGuardListener serves the handler the way cachekitd does: the
// http.Server of NewHTTPServer on a GuardListener, which caps connections and
// refuses smuggled requests on cleartext HTTP/1.1.
func ExampleGuardListener() {
	st := store.NewMemory(store.MemoryOptions{})
	defer st.Close()
	keys := server.NewKeyring()
	if err := keys.Add("acme", "ck_test_example0123456789abcd", 0); err != nil {
		panic(err)
	}
	h, err := server.New(server.Config{Store: st, Keys: keys})
	if err != nil {
		panic(err)
	}
	opts := server.HTTPOptions{MaxConns: 1024}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	srv := server.NewHTTPServer(h, opts)
	go func() { _ = srv.Serve(server.GuardListener(ln, opts)) }()
	defer srv.Close()

	resp, err := http.Get("http://" + ln.Addr().String() + "/health")
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println("health", resp.StatusCode)
	// Output: health 200
}

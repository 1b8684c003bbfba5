package server_test

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/cachekitd/server"
	"github.com/cachekit-go/cachekit/cachekitd/store"
)

// openStream opens apiKey's invalidation stream and returns its data lines.
func openStream(t *testing.T, ts *httptest.Server, apiKey string) <-chan string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, "GET", ts.URL+server.EventsPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+apiKey)
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream answered %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	lines := make(chan string, 100)
	go func() {
		defer resp.Body.Close()
		defer close(lines)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				lines <- d
			}
		}
	}()
	return lines
}

func next(t *testing.T, lines <-chan string) string {
	t.Helper()
	select {
	case l := <-lines:
		return l
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s")
	}
	return ""
}

func TestInvalidationStreamPerTenant(t *testing.T) {
	t.Parallel()
	ts := newServer(t, store.NewMemory(store.MemoryOptions{}), nil)
	if r := call(t, ts, "", "GET", server.EventsPath, nil); r.status != http.StatusUnauthorized {
		t.Fatalf("stream without a key: %d", r.status)
	}
	acme := openStream(t, ts, keyAcme)
	globex := openStream(t, ts, keyGlobex)
	call(t, ts, keyGlobex, "PUT", "/v1/cache/g:1", []byte("secret-value"))
	call(t, ts, keyAcme, "PUT", "/v1/cache/a:1", []byte("v"), server.HeaderSender, "cacheA")
	call(t, ts, keyAcme, "DELETE", "/v1/cache/a:1", nil, server.HeaderSender, "bad sender!")
	if got, want := next(t, acme), `{"s":"cacheA","q":1,"k":["a:1"]}`; got != want {
		t.Fatalf("acme's first event %s, want %s", got, want)
	}
	if got, want := next(t, acme), `{"s":"cachekitd","q":2,"k":["a:1"]}`; got != want {
		t.Fatalf("acme's second event %s, want %s", got, want)
	}
	g := next(t, globex)
	if g != `{"s":"cachekitd","q":1,"k":["g:1"]}` {
		t.Fatalf("globex's event %s", g)
	}
	select {
	case l := <-globex:
		t.Fatalf("globex received another tenant's event %s", l)
	case <-time.After(50 * time.Millisecond):
	}
	if strings.Contains(g, "secret") {
		t.Fatal("an event carries the value")
	}
}

func TestInvalidationStreamEndsOnShutdown(t *testing.T) {
	t.Parallel()
	keys := server.NewKeyring()
	if err := keys.Add("acme", keyAcme, 0); err != nil {
		t.Fatal(err)
	}
	h, err := server.New(server.Config{Store: store.NewMemory(store.MemoryOptions{}), Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(h)
	srv := server.NewHTTPServer(h, server.HTTPOptions{})
	ts.Config = srv
	ts.Start()
	defer ts.Close()
	lines := openStream(t, ts, keyAcme)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown with a stream open: %v", err)
	}
	select {
	case _, ok := <-lines:
		if ok {
			t.Fatal("an event after shutdown")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the stream did not end with the server")
	}
}

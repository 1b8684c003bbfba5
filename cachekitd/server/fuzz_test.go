package server_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/cachekit-go/cachekit/cachekitd/server"
	"github.com/cachekit-go/cachekit/cachekitd/store"
)

// FuzzHandler drives the handler with arbitrary methods, paths, TTL headers
// and bodies: it must answer with a status of the API, never panic and never
// a 5xx (the memory store cannot fail).
func FuzzHandler(f *testing.F) {
	st := store.NewMemory(store.MemoryOptions{MaxBytes: 1 << 20, SweepInterval: -1})
	f.Cleanup(func() { st.Close() })
	keys := server.NewKeyring()
	if err := keys.Add("acme", keyAcme, 0); err != nil {
		f.Fatal(err)
	}
	h, err := server.New(server.Config{Store: st, Keys: keys, MaxValueBytes: 4096, RateLimit: 1000, RateBurst: 1000})
	if err != nil {
		f.Fatal(err)
	}
	f.Add("PUT", "k", "60", "", []byte("v"))
	f.Add("GET", "k", "", "", []byte(nil))
	f.Add("POST", "k/lock", "", "", []byte(`{"timeout_ms":5}`))
	f.Add("PATCH", "k/ttl", "", "", []byte(`{"ttl":1e400}`))
	f.Add("PATCH", "k/ttl", "", "", []byte(`{"ttl":99999999999999999999999}`))
	f.Add("DELETE", "k/lock", "", "", []byte(nil))
	f.Add("PUT", "a%3Ab", "-1", "5", []byte("v"))
	f.Add("PUT", "x", "1", "99999999999999999999", []byte("v"))
	allowed := map[int]bool{200: true, 201: true, 204: true, 400: true, 401: true, 404: true, 405: true, 413: true, 429: true}
	f.Fuzz(func(t *testing.T, method, path, ttl, stale string, body []byte) {
		u, err := url.Parse("/v1/cache/" + path)
		if err != nil || !validMethod(method) {
			return
		}
		r := &http.Request{Method: method, URL: u, Header: http.Header{}, Body: http.NoBody, Host: "x", RequestURI: u.RequestURI()}
		r = r.WithContext(t.Context())
		if body != nil {
			r.Body = httpBody(body)
			r.ContentLength = int64(len(body))
		}
		r.Header.Set("Authorization", "Bearer "+keyAcme)
		if ttl != "" {
			r.Header.Set("X-CacheKit-TTL", ttl)
		}
		if stale != "" {
			r.Header.Set("X-CacheKit-Stale-TTL", stale)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if !allowed[w.Code] {
			t.Fatalf("%s %s: status %d %s", method, path, w.Code, w.Body)
		}
	})
}

func validMethod(m string) bool {
	if m == "" {
		return false
	}
	for i := 0; i < len(m); i++ {
		if m[i] < 'A' || m[i] > 'Z' {
			return false
		}
	}
	return true
}

type bodyReader struct{ *bytes.Reader }

func (bodyReader) Close() error { return nil }

func httpBody(b []byte) bodyReader { return bodyReader{bytes.NewReader(b)} }

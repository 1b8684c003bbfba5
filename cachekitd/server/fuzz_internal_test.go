package server

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/cachekit-go/cachekit/cachekitd/store"
)

// FuzzKeySegment: any path segment after /v1/cache/ either names a valid key
// (the segment unescaped once, stored under exactly that key) or is refused;
// never a panic, never a key outside the charset.
func FuzzKeySegment(f *testing.F) {
	st := store.NewMemory(store.MemoryOptions{SweepInterval: -1})
	f.Cleanup(func() { st.Close() })
	keys := NewKeyring()
	const apiKey = "ck_test_fuzz0123456789abcdef"
	if err := keys.Add("fuzz", apiKey, 0); err != nil {
		f.Fatal(err)
	}
	h, err := New(Config{Store: st, Keys: keys, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"user:1", "user%3A1", "a..b", "%2F", "%", "%4", "%zz", "a%2e%2eb", strings.Repeat("k", 401), "é", "%C3%A9", "", ".", "%2E", "%68ealth"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := url.Parse(CachePrefix + raw)
		if err != nil || strings.ContainsAny(raw, "/?#") {
			return
		}
		// Built by hand: httptest.NewRequest parses a request line and panics
		// on segments a URL allows but a request line does not (spaces).
		r := &http.Request{Method: http.MethodPut, URL: u, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: http.Header{}, Body: io.NopCloser(strings.NewReader("v")), ContentLength: 1, Host: "x", RequestURI: u.RequestURI()}
		r = r.WithContext(t.Context())
		r.Header.Set("Authorization", "Bearer "+apiKey)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		switch w.Code {
		case http.StatusCreated, http.StatusOK:
			key, err := url.PathUnescape(raw)
			if err != nil || !ValidKey(key) {
				t.Fatalf("PUT %q stored an invalid key (%v)", raw, err)
			}
			if _, found, _ := st.Get(t.Context(), "fuzz", key); !found {
				t.Fatalf("PUT %q answered %d but %q is not stored", raw, w.Code, key)
			}
		case http.StatusBadRequest, http.StatusNotFound, http.StatusMethodNotAllowed:
		default:
			t.Fatalf("PUT %q = %d %s", raw, w.Code, w.Body)
		}
	})
}

// FuzzLoadKeysFile: a hostile keys file is refused with an error, never a
// panic, and whatever it accepts authenticates nothing it did not list.
func FuzzLoadKeysFile(f *testing.F) {
	f.Add("acme " + HashKey("ck_test_abcdefghijklmnop") + " default_ttl=60\n")
	f.Add("# c\n\nacme 00\n")
	f.Add("a b c d\n")
	f.Add("acme " + strings.Repeat("g", 64))
	f.Add(strings.Repeat("x", 5000))
	f.Fuzz(func(t *testing.T, in string) {
		k := NewKeyring()
		if err := k.LoadKeysFile(strings.NewReader(in)); err != nil {
			return
		}
		if _, ok := k.Lookup("ck_test_not-listed-anywhere-0000"); ok && !strings.Contains(in, HashKey("ck_test_not-listed-anywhere-0000")) {
			t.Fatal("an unlisted key authenticates")
		}
	})
}

package cachekit

import (
	"bytes"
	"context"
	"encoding/hex"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/cachekit-go/cachekit/backend/memory"
)

// The worked example of docs/python.md: its keys and bytes are exactly what
// Go writes (and what the public vectors say Python writes), and Go reads
// them back.
func TestPythonDocWorkedExample(t *testing.T) {
	t.Parallel()
	page, err := os.ReadFile("docs/python.md")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^key: +(\S+)\nvalue: +([0-9a-f ]+)$`)
	found := re.FindAllStringSubmatch(string(page), -1)
	if len(found) != 2 {
		t.Fatalf("docs/python.md has %d key/value examples, want 2", len(found))
	}
	ctx := context.Background()
	for _, m := range found {
		docKey := m[1]
		docValue, err := hex.DecodeString(strings.ReplaceAll(m[2], " ", ""))
		if err != nil {
			t.Fatal(err)
		}
		mem := memory.New(memory.Options{})
		c := newTestCache(t, mem, WithPythonLayout(true), WithL1(false))
		runs := 0
		getUser := func(_ context.Context, id int) (map[string]any, error) {
			runs++
			return map[string]any{"name": "alice", "age": 30}, nil
		}
		var f *Func1[int, map[string]any]
		if strings.HasPrefix(docKey, PythonKeyPrefix) {
			f = MustWrap1(c, getUser, Name("__main__.get_user"), Namespace("test"))
			if want := keyVectors(t)["single_integer"].Key; docKey != PythonKeyPrefix+want {
				t.Fatalf("doc key %q is not the vector's %q", docKey, want)
			}
		} else {
			f = MustWrap1(c, getUser, Interop("users", "get_user"))
		}
		if _, err := f.Call(ctx, 42); err != nil {
			t.Fatal(err)
		}
		if got := storedAt(t, mem, docKey); !bytes.Equal(got, docValue) {
			t.Fatalf("%s: Go wrote\n% x\ndoc says\n% x", docKey, got, docValue)
		}
		c2 := newTestCache(t, mem, WithPythonLayout(true), WithL1(false))
		g := MustWrap1(c2, getUser, Name(f.Name()), Namespace("test"))
		if !strings.HasPrefix(docKey, PythonKeyPrefix) {
			g = MustWrap1(c2, getUser, Interop("users", "get_user"))
		}
		if v, err := g.Call(ctx, 42); err != nil || v["name"] != "alice" || runs != 1 {
			t.Fatalf("read back %v %v (runs %d)", v, err, runs)
		}
	}
}

// The qualname rules of docs/python.md: Python's raw "module.qualname" is
// sanitized by Go exactly as Python sanitizes it. The expected segments are
// what cachekit-py's CacheKeyGenerator._sanitize_func_name returns for them
// (run against the reference source).
func TestPythonQualnames(t *testing.T) {
	t.Parallel()
	c := newTestCache(t, nil)
	fn := func(_ context.Context, n int) (int, error) { return n, nil }
	for name, segment := range map[string]string{
		"app.outer.<locals>.inner":  "app.outer._locals_.inner",
		"app.outer._locals_.inner":  "app.outer._locals_.inner",
		"app.<lambda>":              "app._lambda_",
		"app.users.UserStore.get":   "app.users.UserStore.get",
		"__main__.get_user":         "__main__.get_user",
		"app..weird name-with.dash": "app.weird_name_with.dash",
	} {
		k, err := MustWrap1(c, fn, Name(name), Namespace("ns")).Key(1)
		if err != nil || !strings.HasPrefix(k, "ns:ns:func:"+segment+":args:") {
			t.Errorf("Name(%q): key %q (%v), want segment %q", name, k, err, segment)
		}
	}
}

// The keyword-argument example of docs/python.md. The expected keys were
// computed by cachekit-py's own key generator (CacheKeyGenerator.generate_key
// of the reference source, with msgpack-python 1.0.3) for
// search("foo", limit=5, exact=True) and search("foo", 5, True) in module
// app.catalog with namespace "catalog".
func TestPythonDocKeywordsExample(t *testing.T) {
	t.Parallel()
	c := newTestCache(t, nil)
	searchCatalog := func(_ context.Context, query string, limit int, exact bool) ([]string, error) { return nil, nil }
	opts := []FuncOption{Name("app.catalog.search"), Namespace("catalog")}
	kw := MustWrap3(c, searchCatalog, append(opts, Keywords("limit", "exact"))...)
	pos := MustWrap3(c, searchCatalog, opts...)
	for _, tc := range []struct {
		f    *Func3[string, int, bool, []string]
		want string
	}{
		{kw, "ns:catalog:func:app.catalog.search:args:64858ad42c3cdd76830d8466bd91746a62e0d05d288ea8feadaaf7938732ce88:1s"},
		{pos, "ns:catalog:func:app.catalog.search:args:e3ce47ee81bb7e284f858135ae2fa0b4a1a641932d07d9fe3b587e28e36fcb8f:1s"},
	} {
		if k, err := tc.f.Key("foo", 5, true); err != nil || k != tc.want {
			t.Errorf("key %q (%v), Python's %q", k, err, tc.want)
		}
	}
}

package server

import (
	"strings"
	"testing"
)

// FuzzParseKey: any path segment either becomes a valid key or is refused;
// never a panic, never a key outside the charset.
func FuzzParseKey(f *testing.F) {
	for _, s := range []string{"user:1", "user%3A1", "a..b", "%2F", "%", "%4", "%zz", "a%2e%2eb", strings.Repeat("k", 401), "é", "%C3%A9", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		key, ok := parseKey(raw)
		if ok && !ValidKey(key) {
			t.Fatalf("parseKey(%q) accepted invalid %q", raw, key)
		}
		if ok && len(key) > len(raw) {
			t.Fatalf("unescaping grew %q to %q", raw, key)
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

package server_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/cachekit-go/cachekit/cachekitd/server"
)

// TestTenantIDsCannotForgeStoreNames: the Redis store names an entry
// <prefix>:{<tenant>:<key>}. Keys may hold ':', so a tenant id with ':' (or a
// brace, which moves the Cluster hash tag) could name another tenant's entry
// ("a" + "b:c" against "a:b" + "c"). Tenant ids are refused unless they are
// [A-Za-z0-9_-], in keys lists and keys files alike.
func TestTenantIDsCannotForgeStoreNames(t *testing.T) {
	t.Parallel()
	for _, id := range []string{"a:b", "a{b", "a}b", "a b", "a.b", "a/b", "", strings.Repeat("t", server.MaxTenantIDLen+1), "é"} {
		if server.ValidTenantID(id) {
			t.Errorf("ValidTenantID(%q) = true", id)
		}
		if err := server.NewKeyring().Add(id, "ck_test_0123456789abcdef", 0); !errors.Is(err, server.ErrBadKeyring) {
			t.Errorf("Add(%q) = %v, want ErrBadKeyring", id, err)
		}
		if err := server.NewKeyring().LoadKeysFile(strings.NewReader(id + " " + server.HashKey("ck_test_0123456789abcdef") + "\n")); err == nil {
			t.Errorf("keys file with tenant %q accepted", id)
		}
	}
	for _, id := range []string{"acme", "A-b_9", strings.Repeat("t", server.MaxTenantIDLen)} {
		if !server.ValidTenantID(id) {
			t.Errorf("ValidTenantID(%q) = false", id)
		}
	}
}

// TestAnyReasonableAPIKey: keys of the managed service's other families
// (ck_sdk_...) and keys without the ck_ prefix authenticate; what is too
// short, too long or outside the bearer-token charset is refused when the
// keyring is built, never silently trimmed.
func TestAnyReasonableAPIKey(t *testing.T) {
	t.Parallel()
	for _, key := range []string{"ck_sdk_0123456789abcdefABCDEF", "ck_live_0123456789abcdef", "mycompany-cache-key-0123456789", "abcdefghijklmnopqrst", "tok.en~with+slash/and==", strings.Repeat("k", server.MaxAPIKeyLen)} {
		k := server.NewKeyring()
		if err := k.Add("acme", key, 0); err != nil {
			t.Errorf("Add(%q) = %v", key, err)
			continue
		}
		if tn, ok := k.Lookup(key); !ok || tn.ID != "acme" {
			t.Errorf("%q does not authenticate", key)
		}
		if _, ok := k.Lookup(key + "x"); ok {
			t.Errorf("%q plus a character authenticates", key)
		}
		if got, want := server.UsualAPIKey(key), strings.HasPrefix(key, "ck_"); got != want {
			t.Errorf("UsualAPIKey(%q) = %v", key, got)
		}
	}
	for _, key := range []string{"", "short_key_123", "ck_test_with space_0123456", "ck_test_0123456789abcdef\n", "\ufeffck_test_0123456789abcdef", "ck_test_é0123456789abcdef", "=====================", "ck_test_0123=456789abcdef", strings.Repeat("k", server.MaxAPIKeyLen+1)} {
		if err := server.NewKeyring().Add("acme", key, 0); !errors.Is(err, server.ErrBadKeyring) {
			t.Errorf("Add(%q) = %v, want ErrBadKeyring", key, err)
		}
	}
	unusual, err := server.NewKeyring().LoadKeysList("a=ck_sdk_0123456789abcdefABCDEF, b=mycompany-cache-key-0123456789")
	if err != nil || len(unusual) != 1 || unusual[0] != "b" {
		t.Fatalf("LoadKeysList: unusual %v, %v; want [b]", unusual, err)
	}
}

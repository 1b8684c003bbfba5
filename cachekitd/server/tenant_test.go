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

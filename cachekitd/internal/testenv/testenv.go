// Package testenv connects cachekitd's tests to the private servers the
// repository's test command (scripts/test.sh) starts, the same way the SDK's
// internal/testenv does (this module does not import the SDK): a missing
// server skips the test locally and FAILS it when CI=true.
package testenv

import (
	"os"
	"strconv"
	"testing"
)

// CI reports whether CI=true.
func CI() bool {
	v, _ := strconv.ParseBool(os.Getenv("CI"))
	return v
}

// Require returns the environment variable name, skipping the test (failing
// it under CI) when it is unset.
func Require(t testing.TB, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		if CI() {
			t.Fatalf("required test dependency missing under CI=true: %s is not set (run through `make test`)", name)
		}
		t.Skipf("%s is not set (run the tests through `make test`, which starts the servers)", name)
	}
	return v
}

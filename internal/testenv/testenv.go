// Package testenv connects tests to the private servers the test command
// (scripts/test.sh) starts. A test asks for a server by the environment
// variable the script exports; when the variable is missing the test skips
// locally but FAILS when CI=true, so a green CI run never hides a test that
// ran against nothing.
package testenv

import (
	"os"
	"strconv"
	"testing"
)

// CI reports whether the tests run in continuous integration (CI=true), where
// a missing server is a failure rather than a skip.
func CI() bool {
	v, _ := strconv.ParseBool(os.Getenv("CI"))
	return v
}

// Require returns the value of the environment variable name, which the test
// command sets to a server's address (or a binary's path). If it is unset, the
// test is skipped, or failed under CI.
func Require(t testing.TB, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		Missing(t, name+" is not set (run the tests through `make test`, which starts the servers)")
	}
	return v
}

// Missing skips the test with reason, or fails it when CI=true.
func Missing(t testing.TB, reason string) {
	t.Helper()
	if CI() {
		t.Fatalf("required test dependency missing under CI=true: %s", reason)
	}
	t.Skip(reason)
}

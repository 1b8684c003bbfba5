// Package backendtest is the conformance suite for cachekit-go backends. One
// call, Run, checks that any backend (ours or a user's) honours the contract of
// package backend.
package backendtest

import (
	"testing"

	"github.com/cachekit-go/cachekit/backend"
)

// Option adjusts the suite for what a backend can legitimately not do.
type Option func(*config)

type config struct{}

// Run runs the full contract against backends made by newBackend. newBackend is
// called once per subtest and must return a ready backend; the suite uses keys
// unique to each subtest, so backends may share one store.
func Run(t *testing.T, newBackend func(t *testing.T) backend.Backend, opts ...Option) {
	t.Helper()
	_ = newBackend
	_ = opts
	// Filled in by the backends work (issue 4).
}

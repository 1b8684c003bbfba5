package backendtest

import (
	"sync"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/backend"
)

// InvalidationRecorder collects what a backend.Invalidator subscription
// delivers, for tests of an implementation: pass its Message and State
// methods to SubscribeInvalidations. It is safe for concurrent use.
type InvalidationRecorder struct {
	mu     sync.Mutex
	msgs   []backend.Invalidation
	states []backend.LinkState
}

// Message records a delivered message.
func (r *InvalidationRecorder) Message(m backend.Invalidation) {
	r.mu.Lock()
	r.msgs = append(r.msgs, m)
	r.mu.Unlock()
}

// State records a change of the subscription's link state.
func (r *InvalidationRecorder) State(s backend.LinkState) {
	r.mu.Lock()
	r.states = append(r.states, s)
	r.mu.Unlock()
}

// Snapshot returns copies of the messages and states recorded so far.
func (r *InvalidationRecorder) Snapshot() ([]backend.Invalidation, []backend.LinkState) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]backend.Invalidation(nil), r.msgs...), append([]backend.LinkState(nil), r.states...)
}

// WaitFor polls until cond holds for what has been recorded, and fails the
// test (naming what, with the record) when it has not within timeout.
func (r *InvalidationRecorder) WaitFor(t testing.TB, what string, timeout time.Duration,
	cond func(msgs []backend.Invalidation, states []backend.LinkState) bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); ; time.Sleep(time.Millisecond) {
		msgs, states := r.Snapshot()
		if cond(msgs, states) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v (messages %v, states %v)", what, timeout, msgs, states)
		}
	}
}

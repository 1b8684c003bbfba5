package backendtest

import (
	"context"
	"slices"
	"sync"

	"github.com/cachekit-go/cachekit/backend"
)

// LocalBus adds an in-process invalidation channel to a backend: every
// message published through it reaches every subscription made through it,
// synchronously and in order. Caches that share one LocalBus behave like
// replicas that share a Redis, without a server: for tests of what sits on
// top of the channel (metrics, dashboards), not of a backend's own channel.
// The link is up from the start and never goes down.
type LocalBus struct {
	backend.Backend

	mu   sync.Mutex
	subs []func(backend.Invalidation)
}

// NewLocalBus returns b with an in-process invalidation channel.
func NewLocalBus(b backend.Backend) *LocalBus { return &LocalBus{Backend: b} }

// PublishInvalidation delivers m to every subscription, before it returns.
func (l *LocalBus) PublishInvalidation(_ context.Context, m backend.Invalidation) error {
	l.mu.Lock()
	subs := slices.Clone(l.subs)
	l.mu.Unlock()
	for _, s := range subs {
		s(m)
	}
	return nil
}

// SubscribeInvalidations reports the link up at once and then delivers every
// published message; callbacks of one subscription never run concurrently.
func (l *LocalBus) SubscribeInvalidations(onMessage func(backend.Invalidation), onState func(backend.LinkState)) (func(), error) {
	var (
		mu      sync.Mutex // one callback at a time, as backend.Invalidator requires
		stopped bool
	)
	mu.Lock()
	onState(backend.LinkUp)
	mu.Unlock()
	l.mu.Lock()
	l.subs = append(l.subs, func(m backend.Invalidation) {
		mu.Lock()
		defer mu.Unlock()
		if !stopped {
			onMessage(m)
		}
	})
	l.mu.Unlock()
	return func() {
		mu.Lock()
		stopped = true
		mu.Unlock()
	}, nil
}

var _ backend.Invalidator = (*LocalBus)(nil)

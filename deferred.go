package cachekit

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cachekit-go/cachekit/backend"
)

// Retry pacing of a backend that could not be reached when the cache was
// made (see deferredBackend).
const (
	connectRetryMin = 100 * time.Millisecond
	connectRetryMax = DefaultRecoveryTimeout
)

// deferredBackend stands in for a backend FromEnv could not create because
// its server was unreachable (a transient error or a timeout while
// connecting: a bad URL or bad credentials are still errors). It retries the
// constructor in the background, with backoff, until it succeeds or the
// cache is closed; until then every operation fails fast with a transient
// error, so the breaker opens and the cache serves in-process. Once
// connected it forwards every operation and optional capability to the real
// backend (an absent capability reports an error, which the cache treats as
// a backend failure and works around).
type deferredBackend struct {
	name    string
	inner   atomic.Pointer[backend.Backend]
	stop    chan struct{}
	stopped sync.Once
	done    chan struct{}
}

var errNotConnected = errors.New("not connected yet (connecting in the background)")

// connectLater starts retrying build in the background.
func connectLater(name string, build func() (backend.Backend, error), first error, log *slog.Logger) *deferredBackend {
	d := &deferredBackend{name: name, stop: make(chan struct{}), done: make(chan struct{})}
	log.Warn("cachekit: the backend is unreachable; starting without it and connecting in the background",
		"backend", name, "err", first)
	go func() {
		defer close(d.done)
		wait := connectRetryMin
		for {
			t := time.NewTimer(wait)
			select {
			case <-d.stop:
				t.Stop()
				return
			case <-t.C:
			}
			b, err := build()
			if err == nil {
				select {
				case <-d.stop: // closed meanwhile
					_ = closeBackend(b)
				default:
					d.inner.Store(&b)
					log.Info("cachekit: connected to the backend", "backend", name)
				}
				return
			}
			if !unreachable(err) {
				log.Error("cachekit: the backend answered but refused the configuration; still retrying",
					"backend", name, "err", err)
			}
			wait = min(wait*2, connectRetryMax)
		}
	}()
	return d
}

// unreachable reports whether a constructor's error means the server could
// not be reached (as opposed to a configuration it refused).
func unreachable(err error) bool {
	return errors.Is(err, backend.ErrTransient) || errors.Is(err, backend.ErrTimeout)
}

func (d *deferredBackend) get() (backend.Backend, error) {
	if p := d.inner.Load(); p != nil {
		return *p, nil
	}
	return nil, backend.NewError(backend.Transient, d.name, "connect", "", errNotConnected)
}

func (d *deferredBackend) Get(ctx context.Context, key string) ([]byte, bool, error) {
	b, err := d.get()
	if err != nil {
		return nil, false, err
	}
	return b.Get(ctx, key)
}

func (d *deferredBackend) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	b, err := d.get()
	if err != nil {
		return err
	}
	return b.Set(ctx, key, value, ttl)
}

func (d *deferredBackend) Delete(ctx context.Context, key string) (bool, error) {
	b, err := d.get()
	if err != nil {
		return false, err
	}
	return b.Delete(ctx, key)
}

func (d *deferredBackend) Exists(ctx context.Context, key string) (bool, error) {
	b, err := d.get()
	if err != nil {
		return false, err
	}
	return b.Exists(ctx, key)
}

func (d *deferredBackend) HealthCheck(ctx context.Context) (bool, map[string]any) {
	b, err := d.get()
	if err != nil {
		return false, map[string]any{backend.DetailBackendType: d.name, backend.DetailLatencyMS: 0.0, backend.DetailError: err.Error()}
	}
	return b.HealthCheck(ctx)
}

// capability returns the connected backend as a T, or an error.
func capability[T any](d *deferredBackend, op string) (T, error) {
	var zero T
	b, err := d.get()
	if err != nil {
		return zero, err
	}
	t, ok := b.(T)
	if !ok {
		return zero, backend.NewError(backend.Permanent, d.name, op, "", errors.New("not supported by this backend"))
	}
	return t, nil
}

func (d *deferredBackend) GetWithTTL(ctx context.Context, key string) ([]byte, time.Duration, bool, error) {
	if tg, err := capability[backend.TTLGetter](d, "get"); err == nil {
		return tg.GetWithTTL(ctx, key)
	}
	v, found, err := d.Get(ctx, key)
	return v, 0, found, err // lifetime unknown: taken as no expiry
}

func (d *deferredBackend) TTL(ctx context.Context, key string) (time.Duration, bool, error) {
	ti, err := capability[backend.TTLInspector](d, "ttl")
	if err != nil {
		return 0, false, err
	}
	return ti.TTL(ctx, key)
}

func (d *deferredBackend) RefreshTTL(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	ti, err := capability[backend.TTLInspector](d, "refresh_ttl")
	if err != nil {
		return false, err
	}
	return ti.RefreshTTL(ctx, key, ttl)
}

func (d *deferredBackend) AcquireLock(ctx context.Context, key string, hold time.Duration) (string, bool, error) {
	l, err := capability[backend.Locker](d, "lock")
	if err != nil {
		return "", false, err
	}
	return l.AcquireLock(ctx, key, hold)
}

func (d *deferredBackend) ReleaseLock(ctx context.Context, key, lockID string) (bool, error) {
	l, err := capability[backend.Locker](d, "unlock")
	if err != nil {
		return false, err
	}
	return l.ReleaseLock(ctx, key, lockID)
}

func (d *deferredBackend) DeletePrefix(ctx context.Context, prefix string) (int, error) {
	pd, err := capability[backend.PrefixDeleter](d, "delete_prefix")
	if err != nil {
		return 0, err
	}
	return pd.DeletePrefix(ctx, prefix)
}

// Close stops connecting and closes the backend if it was made.
func (d *deferredBackend) Close() error {
	d.stopped.Do(func() { close(d.stop) })
	<-d.done
	if p := d.inner.Load(); p != nil {
		return closeBackend(*p)
	}
	return nil
}

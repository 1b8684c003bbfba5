package redis

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/cachekit-go/cachekit/backend"
)

// maxRetries is how many times a read that failed on the network is
// retried, at once, on a fresh connection.
const maxRetries = 1

// ErrNotConnected is matched (errors.Is) by the errors of operations made
// before the first connection to Redis succeeded. The error's Kind is that of
// the last failed attempt: Transient while the server is unreachable,
// Authentication when it refused the credentials.
var ErrNotConnected = errors.New("redis: not connected yet")

// Reconnection timing of the background connector: the first retry comes
// after connectRetryMin, each later one after twice the previous delay, at
// most connectRetryMax, so that a server coming up is found within about a
// second.
const (
	connectRetryMin = 50 * time.Millisecond
	connectRetryMax = time.Second
	// connectWait is how long New waits for the first attempt, so that a
	// reachable server is connected (and a misconfiguration reported) when
	// New returns, while an unreachable or hung one delays start-up by no
	// more than this.
	connectWait = time.Second
)

// link is the connection to Redis, shared by a Backend and its WithTimeout
// copies. New makes it in the background: rueidis.NewClient dials at once
// and fails while the server is down, so the client is created by a
// goroutine that retries until it succeeds or Close is called.
type link struct {
	ready   chan struct{} // closed once client is set
	client  rueidis.Client
	mode    string                // the deployment; client.Mode() once connected
	lastErr atomic.Pointer[error] // why the last attempt failed
	owned   bool                  // Close closes client
	first   chan error            // the first attempt's outcome (New only)
	mu      sync.Mutex            // guards closed against publishing the client
	closed  bool
	stop    chan struct{}
}

// readyLink wraps a client that is already connected.
func readyLink(c rueidis.Client, owned bool) *link {
	l := &link{ready: make(chan struct{}), client: c, mode: string(c.Mode()), owned: owned, stop: make(chan struct{})}
	close(l.ready)
	return l
}

// connectLink starts connecting with co in the background.
func connectLink(co rueidis.ClientOption, mode Mode) *link {
	l := &link{ready: make(chan struct{}), mode: string(mode), owned: true, first: make(chan error, 1), stop: make(chan struct{})}
	go l.connect(co)
	return l
}

// connect retries rueidis.NewClient with backoff until it succeeds or the
// link is closed.
func (l *link) connect(co rueidis.ClientOption) {
	delay := connectRetryMin
	for attempt := 0; ; attempt++ {
		c, err := rueidis.NewClient(co)
		if err == nil {
			l.mu.Lock()
			if l.closed {
				l.mu.Unlock()
				c.Close()
				return
			}
			l.client = c
			close(l.ready)
			l.mu.Unlock()
			if attempt == 0 {
				l.first <- nil
			}
			return
		}
		l.lastErr.Store(&err)
		if attempt == 0 {
			l.first <- err
		}
		select {
		case <-l.stop:
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, connectRetryMax)
	}
}

// get returns the client, or the error an operation reports while there is
// none yet.
func (l *link) get(op, key string) (rueidis.Client, error) {
	select {
	case <-l.ready:
		return l.client, nil
	default:
	}
	cause, kind := ErrNotConnected, backend.Transient
	if p := l.lastErr.Load(); p != nil {
		cause = fmt.Errorf("%w: %w", ErrNotConnected, *p)
		if kindOf(*p) == backend.Authentication {
			kind = backend.Authentication
		}
	}
	return nil, backend.NewError(kind, backendName, op, key, cause)
}

// current returns the client, or nil before the first connection.
func (l *link) current() rueidis.Client {
	select {
	case <-l.ready:
		return l.client
	default:
		return nil
	}
}

// close stops connecting and closes an owned client.
func (l *link) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.closed = true
	close(l.stop)
	if c := l.current(); c != nil && l.owned {
		c.Close()
	}
}

// fatalAtStart reports whether err, from the first attempt, shows a
// misconfiguration that retrying cannot fix, for New to return: the server
// answered and refused the credentials (Authentication) or the request
// (Permanent: an unknown database), or it answered in a way that is not
// Redis (Unknown: a failed TLS verification, another protocol).
// Unreachable, refusing and hung servers are Transient or Timeout and are
// retried in the background.
func fatalAtStart(err error) bool {
	switch kindOf(err) {
	case backend.Transient, backend.Timeout:
		return false
	}
	return true
}

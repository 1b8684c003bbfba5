package resilience

import (
	"sync"
	"sync/atomic"
	"time"
)

// State is the state of a Breaker.
type State int32

const (
	// Closed: operations go through; consecutive failures are counted.
	Closed State = iota
	// Open: operations are refused without touching the backend until the
	// open interval has passed.
	Open
	// HalfOpen: a bounded number of probe operations go through; the first
	// success closes the breaker, a failure opens it again.
	HalfOpen
)

// String returns "closed", "open" or "half-open".
func (s State) String() string {
	switch s {
	case Closed:
		return "closed"
	case Open:
		return "open"
	case HalfOpen:
		return "half-open"
	}
	return "unknown"
}

// BreakerConfig configures a Breaker. Zero fields take the defaults noted.
type BreakerConfig struct {
	// Threshold is the number of consecutive failures that opens the
	// breaker (default 5).
	Threshold int
	// OpenFor is how long the breaker stays open before it lets probes
	// through (default 1s).
	OpenFor time.Duration
	// Probes is the number of operations let through at once while
	// half-open (default 1).
	Probes int
	// TimeoutSpan is how long a run of consecutive failures that ends in
	// a timeout must have lasted (from its first failure) before the
	// timeout may open the breaker; errors open it at Threshold alone.
	// When a loaded machine does not schedule the process for longer than
	// an operation's timeout, every operation in flight times out at once
	// and reports a burst of "consecutive" timeouts within a millisecond,
	// though the backend answered each in time; a hung backend keeps
	// timing out for as long as it hangs. Zero: timeouts count like errors.
	TimeoutSpan time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// OnTransition, if set, is called after every state change, outside
	// the breaker's lock; failures is the consecutive-failure count that
	// opened it (0 for other transitions).
	OnTransition func(from, to State, failures int)
}

// Breaker is a circuit breaker. Callers ask Allow before an operation and
// report its outcome with Success or Failure on the Ticket it returned.
// Only backend failures must be reported as failures (errors and
// timeouts); misses, a caller giving up and the user function's errors are
// not the backend's fault and must not be. It is safe for concurrent use.
type Breaker struct {
	cfg         BreakerConfig
	state       atomic.Int32
	gen         atomic.Uint64 // bumped on every transition; stale outcomes are ignored
	failures    atomic.Int64  // consecutive failures while closed
	runStart    atomic.Int64  // Unix nanoseconds of the first of those failures
	openUntil   atomic.Int64  // Unix nanoseconds
	transitions atomic.Uint64
	opens       atomic.Uint64
	mu          sync.Mutex // transitions and half-open probe accounting
	probes      int        // probes in flight while half-open
}

// Ticket identifies one allowed operation.
type Ticket struct {
	gen   uint64
	probe bool
}

// NewBreaker returns a closed Breaker.
func NewBreaker(cfg BreakerConfig) *Breaker {
	if cfg.Threshold <= 0 {
		cfg.Threshold = 5
	}
	if cfg.OpenFor <= 0 {
		cfg.OpenFor = time.Second
	}
	if cfg.Probes <= 0 {
		cfg.Probes = 1
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Breaker{cfg: cfg}
}

// State returns the current state (an open breaker whose interval has
// passed reports Open until the next Allow moves it to HalfOpen).
func (b *Breaker) State() State { return State(b.state.Load()) }

// Transitions returns the number of state changes so far.
func (b *Breaker) Transitions() uint64 { return b.transitions.Load() }

// Opens returns how many times the breaker opened.
func (b *Breaker) Opens() uint64 { return b.opens.Load() }

// Allow reports whether an operation may go to the backend now. While
// closed it costs one atomic load. ok == false means skip the backend.
func (b *Breaker) Allow() (t Ticket, ok bool) {
	if State(b.state.Load()) == Closed {
		return Ticket{gen: b.gen.Load()}, true
	}
	if State(b.state.Load()) == Open && b.cfg.Now().UnixNano() < b.openUntil.Load() {
		return Ticket{}, false
	}
	b.mu.Lock()
	from := State(b.state.Load())
	switch from {
	case Closed: // closed meanwhile
		b.mu.Unlock()
		return Ticket{gen: b.gen.Load()}, true
	case Open:
		if b.cfg.Now().UnixNano() < b.openUntil.Load() {
			b.mu.Unlock()
			return Ticket{}, false
		}
		b.setLocked(HalfOpen)
		b.probes = 0
	}
	if b.probes >= b.cfg.Probes {
		b.mu.Unlock()
		if from == Open {
			b.notify(Open, HalfOpen, 0)
		}
		return Ticket{}, false
	}
	b.probes++
	t = Ticket{gen: b.gen.Load(), probe: true}
	b.mu.Unlock()
	if from == Open {
		b.notify(Open, HalfOpen, 0)
	}
	return t, true
}

// Success reports that the operation of t succeeded (a miss is a success:
// the backend answered).
func (b *Breaker) Success(t Ticket) {
	if !t.probe {
		if b.failures.Load() != 0 && b.gen.Load() == t.gen {
			b.failures.Store(0)
		}
		return
	}
	b.mu.Lock()
	if b.gen.Load() != t.gen || State(b.state.Load()) != HalfOpen {
		b.mu.Unlock()
		return
	}
	b.failures.Store(0)
	b.setLocked(Closed)
	b.mu.Unlock()
	b.notify(HalfOpen, Closed, 0)
}

// Failure reports that the operation of t failed with an error of the
// backend (refused, reset, a protocol error).
func (b *Breaker) Failure(t Ticket) { b.fail(t, false) }

// Timeout reports that the operation of t ran out of its time. It counts
// like a Failure, except that it opens a closed breaker only once the run
// of consecutive failures has lasted TimeoutSpan; a failed probe opens the
// breaker again at once either way.
func (b *Breaker) Timeout(t Ticket) { b.fail(t, true) }

func (b *Breaker) fail(t Ticket, timeout bool) {
	if !t.probe {
		if b.gen.Load() != t.gen {
			return
		}
		n := b.failures.Add(1)
		now := b.cfg.Now().UnixNano()
		if n == 1 {
			b.runStart.Store(now)
		}
		if n < int64(b.cfg.Threshold) {
			return
		}
		if timeout && b.cfg.TimeoutSpan > 0 && now-b.runStart.Load() < int64(b.cfg.TimeoutSpan) {
			return
		}
	}
	b.mu.Lock()
	if b.gen.Load() != t.gen {
		b.mu.Unlock()
		return
	}
	from := State(b.state.Load())
	n := int(b.failures.Load())
	if from == Open {
		b.mu.Unlock()
		return
	}
	b.openLocked()
	b.mu.Unlock()
	b.notify(from, Open, n)
}

// Release gives back a ticket whose operation ended without telling
// anything about the backend (the caller gave up): a probe slot is freed.
func (b *Breaker) Release(t Ticket) {
	if !t.probe {
		return
	}
	b.mu.Lock()
	if b.gen.Load() == t.gen && b.probes > 0 {
		b.probes--
	}
	b.mu.Unlock()
}

// Trip opens the breaker now (for example when the backend is known to be
// unreachable); it is a no-op when already open.
func (b *Breaker) Trip() {
	b.mu.Lock()
	from := State(b.state.Load())
	if from == Open {
		b.mu.Unlock()
		return
	}
	b.openLocked()
	b.mu.Unlock()
	b.notify(from, Open, 0)
}

func (b *Breaker) openLocked() {
	b.openUntil.Store(b.cfg.Now().Add(b.cfg.OpenFor).UnixNano())
	b.setLocked(Open)
	b.opens.Add(1)
}

func (b *Breaker) setLocked(s State) {
	b.gen.Add(1)
	b.state.Store(int32(s))
	b.transitions.Add(1)
	if s == Closed {
		b.failures.Store(0)
	}
}

func (b *Breaker) notify(from, to State, failures int) {
	if b.cfg.OnTransition != nil {
		b.cfg.OnTransition(from, to, failures)
	}
}

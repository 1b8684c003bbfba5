// Package faultproxy is a TCP proxy for tests that sits between a client and
// a real server on loopback and, on command, injects the network faults a
// cache must survive: added latency, reset connections, a blackhole (packets
// silently lost), and healing.
//
// It forwards bytes and knows nothing of the protocol, so TLS, HTTP/2, RESP
// and the memcached protocol pass through it unchanged. A client is pointed
// at Proxy.Addr instead of the server.
//
// # Faults
//
//   - SetLatency(d): every chunk the server sends reaches the client d later,
//     so each request/response round trip takes d longer. Chunks keep their
//     order and are not serialised behind each other's delay (a pipelined
//     connection sees d, not n*d).
//   - Reset(): every open connection is closed with an RST on both sides, and
//     new connections are reset right after accept, until Heal.
//   - Blackhole(): new connections are accepted and then never forwarded;
//     open connections stop forwarding at once in both directions (what the
//     peer sends is read and dropped, as a lossy network would). Nothing is
//     ever closed: the client sees silence, not an error.
//   - Heal(): new connections are forwarded again. Connections that were
//     blackholed stay dead (like connections whose NAT entry or peer
//     vanished): a client must notice them and dial again, which is exactly
//     the recovery a blackhole test exercises.
//
// Latency is independent of the mode: a healed proxy keeps its latency until
// SetLatency(0).
package faultproxy

import (
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// mode is what the proxy does with traffic.
type mode int32

const (
	forward mode = iota
	reset
	blackhole
)

// Proxy forwards loopback TCP connections to a target address and injects
// faults. Its methods are safe for concurrent use.
type Proxy struct {
	ln      net.Listener
	target  string
	mode    atomic.Int32
	latency atomic.Int64 // nanoseconds

	accepted atomic.Int64
	dialFail atomic.Int64

	mu     sync.Mutex
	conns  map[*link]struct{}
	closed bool
	wg     sync.WaitGroup
}

// link is one proxied connection: the client side and the server side.
type link struct {
	client, server net.Conn
	dead           atomic.Bool // blackholed: forwards nothing, ever again
	once           sync.Once
}

// New listens on a free loopback port and forwards every connection to
// target (host:port). Close stops it.
func New(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, target: target, conns: map[*link]struct{}{}}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

// Addr is the proxy's listening address, 127.0.0.1:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Port is the proxy's listening port.
func (p *Proxy) Port() int { return p.ln.Addr().(*net.TCPAddr).Port }

// Target is the address connections are forwarded to.
func (p *Proxy) Target() string { return p.target }

// SetLatency delays every server-to-client chunk by d (0 removes the delay).
// It applies to chunks read from now on.
func (p *Proxy) SetLatency(d time.Duration) { p.latency.Store(int64(d)) }

// Reset closes every open connection with an RST (both sides) and resets new
// connections right after accept, until Heal or Blackhole.
func (p *Proxy) Reset() {
	p.mode.Store(int32(reset))
	for _, l := range p.links() {
		l.reset()
	}
}

// Blackhole stops all forwarding: open connections go silent for good and
// new connections are accepted but never forwarded, until Heal (which
// revives only new connections).
func (p *Proxy) Blackhole() {
	p.mode.Store(int32(blackhole))
	for _, l := range p.links() {
		l.dead.Store(true)
	}
}

// Heal forwards new connections again. Blackholed connections stay dead.
func (p *Proxy) Heal() { p.mode.Store(int32(forward)) }

// Stats reports how many connections the proxy accepted in total, how many
// are open now, and how many it could not forward because dialling the
// target failed (those were reset).
func (p *Proxy) Stats() (accepted, open, dialFailures int64) {
	p.mu.Lock()
	open = int64(len(p.conns))
	p.mu.Unlock()
	return p.accepted.Load(), open, p.dialFail.Load()
}

// Close stops listening, resets every open connection and waits for the
// proxy's goroutines.
func (p *Proxy) Close() error {
	p.mu.Lock()
	already := p.closed
	p.closed = true
	p.mu.Unlock()
	if already {
		return nil
	}
	err := p.ln.Close()
	for _, l := range p.links() {
		l.reset()
	}
	p.wg.Wait()
	return err
}

func (p *Proxy) links() []*link {
	p.mu.Lock()
	defer p.mu.Unlock()
	ls := make([]*link, 0, len(p.conns))
	for l := range p.conns {
		ls = append(ls, l)
	}
	return ls
}

func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(time.Millisecond) // EMFILE and the like: try again
			continue
		}
		p.accepted.Add(1)
		switch mode(p.mode.Load()) {
		case reset:
			rst(c)
			continue
		case blackhole:
			l := &link{client: c}
			l.dead.Store(true)
			if !p.add(l) {
				continue
			}
			p.wg.Add(1)
			go func() { defer p.wg.Done(); p.sink(l) }()
			continue
		}
		p.wg.Add(1)
		go func() { defer p.wg.Done(); p.open(c) }()
	}
}

// add registers l, or resets it when the proxy is closed.
func (p *Proxy) add(l *link) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		l.reset()
		return false
	}
	p.conns[l] = struct{}{}
	return true
}

func (p *Proxy) remove(l *link) {
	p.mu.Lock()
	delete(p.conns, l)
	p.mu.Unlock()
}

// sink reads and drops what a blackholed client sends until it goes away.
func (p *Proxy) sink(l *link) {
	defer p.remove(l)
	_, _ = io.Copy(io.Discard, l.client)
	l.client.Close()
}

func (p *Proxy) open(c net.Conn) {
	s, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		// The server is down: the client sees its connection reset, the
		// nearest a proxy can get to "connection refused".
		p.dialFail.Add(1)
		rst(c)
		return
	}
	l := &link{client: c, server: s}
	if !p.add(l) {
		return
	}
	defer p.remove(l)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.pump(l, l.client, l.server, false) }()
	go func() { defer wg.Done(); p.pump(l, l.server, l.client, true) }()
	wg.Wait()
}

// chunk is data read from one side, due at the other side at due.
type chunk struct {
	b   []byte
	due time.Time
}

// pump copies src to dst until either side fails. Server-to-client chunks
// are delayed by the latency; chunks of a dead link are dropped. When the
// copy ends, both sides are closed, except on a dead link, where the client
// must not learn anything (it hears silence until it gives up itself).
func (p *Proxy) pump(l *link, src, dst net.Conn, delayed bool) {
	q := make(chan chunk, 64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for c := range q {
			if l.dead.Load() {
				continue
			}
			if d := time.Until(c.due); d > 0 {
				time.Sleep(d)
			}
			if l.dead.Load() {
				continue
			}
			if _, err := dst.Write(c.b); err != nil {
				l.close()
				// Keep draining q so the reader never blocks on it.
			}
		}
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !l.dead.Load() {
			var due time.Time
			if delayed {
				if d := time.Duration(p.latency.Load()); d > 0 {
					due = time.Now().Add(d)
				}
			}
			q <- chunk{b: append([]byte(nil), buf[:n]...), due: due}
		}
		if err != nil {
			break
		}
	}
	close(q)
	<-done
	if l.dead.Load() {
		// Silence: the client must not learn that the server side ended.
		// Only when the client itself went away is everything closed.
		if src == l.client {
			l.server.Close()
			l.client.Close()
		}
		return
	}
	l.close()
}

// reset closes both sides with an RST.
func (l *link) reset() {
	l.once.Do(func() {
		rst(l.client)
		if l.server != nil {
			rst(l.server)
		}
	})
}

// close closes both sides normally (FIN).
func (l *link) close() {
	l.once.Do(func() {
		l.server.Close()
		l.client.Close()
	})
}

// rst closes c with an RST instead of a FIN (SO_LINGER 0).
func rst(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

// String describes the proxy for test logs.
func (p *Proxy) String() string {
	m := [...]string{"forward", "reset", "blackhole"}[p.mode.Load()]
	return "faultproxy " + p.Addr() + " -> " + p.target + " (" + m + ", latency " +
		time.Duration(p.latency.Load()).String() + ", accepted " + strconv.FormatInt(p.accepted.Load(), 10) + ")"
}

package memcached

import (
	"bufio"
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// conn is one connection to one server. It is used by one operation at a
// time and goes back to its pool only when the operation read exactly its
// response; anything else (a timeout, a cancellation, an I/O or protocol
// error) closes it, so a connection is never reused in the middle of a
// response.
type conn struct {
	nc     net.Conn
	br     *bufio.Reader
	bw     *bufio.Writer
	reused bool // came out of the idle list (may have been closed by the server)
}

// pool holds the connections to one server: at most maxOpen in use at once
// (further callers wait for a free slot until their context ends) and at
// most maxIdle kept open while unused. A new connection is dialled only when
// no idle one is left, so the total never exceeds maxOpen either. Idle connections are reused newest
// first, so a burst's extra connections age out of use and are closed when
// the idle list is full.
type pool struct {
	addr    string
	dial    func(ctx context.Context, network, addr string) (net.Conn, error)
	slots   chan struct{} // one token per open connection
	maxIdle int

	mu     sync.Mutex
	idle   []*conn
	closed bool

	dials    atomic.Int64
	discards atomic.Int64
	noMeta   atomic.Bool // the server answered a meta command with ERROR
}

func newPool(addr string, maxOpen, maxIdle int, dial func(ctx context.Context, network, addr string) (net.Conn, error)) *pool {
	return &pool{addr: addr, dial: dial, slots: make(chan struct{}, maxOpen), maxIdle: maxIdle}
}

// errPoolClosed reports an operation on a closed Backend.
var errPoolClosed = errors.New("memcached: backend closed")

// get returns an idle connection or dials a new one, waiting for a free slot
// while maxOpen connections are in use.
func (p *pool) get(ctx context.Context) (*conn, error) {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		<-p.slots
		return nil, errPoolClosed
	}
	if n := len(p.idle); n > 0 {
		c := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		c.reused = true
		return c, nil
	}
	p.mu.Unlock()
	nc, err := p.dial(ctx, "tcp", p.addr)
	if err != nil {
		<-p.slots
		return nil, err
	}
	p.dials.Add(1)
	return &conn{nc: nc, br: bufio.NewReaderSize(nc, 16<<10), bw: bufio.NewWriterSize(nc, 16<<10)}, nil
}

// put returns c to the pool when reusable, and closes it otherwise.
func (p *pool) put(c *conn, reusable bool) {
	if reusable {
		// Clear the deadline of the finished operation.
		reusable = c.nc.SetDeadline(time.Time{}) == nil
	}
	if reusable {
		p.mu.Lock()
		if !p.closed && len(p.idle) < p.maxIdle {
			c.reused = false
			p.idle = append(p.idle, c)
			p.mu.Unlock()
			<-p.slots
			return
		}
		p.mu.Unlock()
	} else {
		p.discards.Add(1)
	}
	_ = c.nc.Close()
	<-p.slots
}

// close closes the idle connections and makes later gets fail. Connections
// in use are closed when they come back.
func (p *pool) close() {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	p.mu.Unlock()
	for _, c := range idle {
		_ = c.nc.Close()
	}
}

// dropIdle closes the idle connections: after one of them turned out to be
// closed by the server (a restart), the others most likely are too.
func (p *pool) dropIdle() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, c := range idle {
		p.discards.Add(1)
		_ = c.nc.Close()
	}
}

// stats reports the pool's counters.
func (p *pool) stats() PoolStats {
	p.mu.Lock()
	idle := len(p.idle)
	p.mu.Unlock()
	return PoolStats{
		Server:   p.addr,
		InUse:    len(p.slots),
		Idle:     idle,
		Dials:    p.dials.Load(),
		Discards: p.discards.Load(),
	}
}

// PoolStats describes the connection pool of one server.
type PoolStats struct {
	Server   string // "host:port"
	InUse    int    // connections serving an operation now
	Idle     int    // open connections waiting for reuse
	Dials    int64  // connections dialled since New
	Discards int64  // connections closed because of an error, timeout or cancellation
}

package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
)

// Transport-level guards, below the handler:
//
//   - Request smuggling. net/http accepts an HTTP/1.1 request with both
//     Content-Length and Transfer-Encoding: chunked (the chunked framing
//     wins) and removes Content-Length before the handler sees the request.
//     A proxy in front that trusts Content-Length then disagrees with us on
//     where the request ends, and bytes it forwarded as body would be read
//     here as a second request. On cleartext connections the guarded
//     listener follows the request framing of the byte stream (heads and
//     Content-Length bodies) and marks a request that carries both headers;
//     the handler answers it 400 and closes the connection. Every chunked
//     HTTP/1.x request, on any listener, also ends its connection, so no
//     byte after a chunked body is ever parsed as a request (on TLS, where
//     the listener sees only ciphertext, that is the protection).
//   - Connection cap. At most MaxConns connections are open; at the cap a
//     new connection closes an idle one (no request in flight: an idle
//     HTTP/1.1 keep-alive or an HTTP/2 connection without streams) or, when
//     none is idle, is itself closed at once.

// DefaultMaxConns is the connection cap of GuardListener when
// HTTPOptions.MaxConns is 0.
const DefaultMaxConns = 4096

// GuardListener wraps l with the connection cap and, unless o.TLS is set, the
// request-smuggling check. Serve the *http.Server of NewHTTPServer(h, o) on
// the returned listener (with ServeTLS when o.TLS is set).
func GuardListener(l net.Listener, o HTTPOptions) net.Listener {
	n := o.MaxConns
	if n <= 0 {
		n = DefaultMaxConns
	}
	return &guardListener{Listener: l, max: n, scan: o.TLS == nil, conns: map[*guardedConn]struct{}{}}
}

type guardListener struct {
	net.Listener
	max   int
	scan  bool
	mu    sync.Mutex
	conns map[*guardedConn]struct{}
}

func (l *guardListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		g := &guardedConn{Conn: c, l: l, badAt: -1, offAt: -1}
		g.idle.Store(true)
		if !l.scan {
			g.state = scanOff
		}
		if l.admit(g) {
			return g, nil
		}
		_ = c.Close()
	}
}

// admit registers g, making room by closing an idle connection at the cap.
func (l *guardListener) admit(g *guardedConn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.conns) >= l.max {
		var victim *guardedConn
		for c := range l.conns {
			if c.idle.Load() {
				victim = c
				break
			}
		}
		if victim == nil {
			return false
		}
		delete(l.conns, victim)
		_ = victim.Conn.Close()
	}
	l.conns[g] = struct{}{}
	return true
}

func (l *guardListener) forget(g *guardedConn) {
	l.mu.Lock()
	delete(l.conns, g)
	l.mu.Unlock()
}

// Scanner states of a guarded connection.
const (
	scanHead = iota // reading a request head
	scanBody        // skipping a Content-Length body
	scanOff         // not following the stream any more
)

// maxScanHead bounds the request head the scanner keeps; a longer one is
// refused by net/http (431), which then closes the connection.
const maxScanHead = 1 << 20

type guardedConn struct {
	net.Conn
	l    *guardListener
	idle atomic.Bool
	once sync.Once

	mu    sync.Mutex
	state int
	head  []byte
	skip  int64
	heads int // request heads seen
	badAt int // index of the first head with Content-Length and Transfer-Encoding
	offAt int // index of the first request the scanner did not follow

	served atomic.Int64 // HTTP/1.x requests that reached the handler
}

func (c *guardedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		c.scanBytes(p[:n])
		c.mu.Unlock()
	}
	return n, err
}

func (c *guardedConn) Close() error {
	c.once.Do(func() { c.l.forget(c) })
	return c.Conn.Close()
}

func (c *guardedConn) stop() {
	c.state, c.head = scanOff, nil
	if c.offAt < 0 {
		c.offAt = c.heads
	}
}

func (c *guardedConn) scanBytes(b []byte) {
	for len(b) > 0 {
		switch c.state {
		case scanOff:
			return
		case scanBody:
			k := int64(len(b))
			if k > c.skip {
				k = c.skip
			}
			c.skip -= k
			b = b[k:]
			if c.skip == 0 {
				c.state = scanHead
			}
		case scanHead:
			start := max(len(c.head)-3, 0)
			c.head = append(c.head, b...)
			i := bytes.Index(c.head[start:], []byte("\r\n\r\n"))
			if i < 0 {
				if len(c.head) > maxScanHead {
					c.stop()
				}
				return
			}
			end := start + i + 4
			rest := c.head[end:]
			c.endHead(c.head[:end])
			if c.state == scanOff {
				return
			}
			// rest aliases c.head's array: the next head's append copies
			// it to the front (copy handles the overlap), no allocation.
			b = rest
			c.head = c.head[:0]
		}
	}
}

// endHead reads the framing headers of one request head.
func (c *guardedConn) endHead(h []byte) {
	line, fields, _ := bytes.Cut(h, []byte("\r\n"))
	if bytes.HasPrefix(line, []byte("PRI * HTTP/2")) {
		c.stop() // h2c prior knowledge: frames from here on
		return
	}
	var hasCL, hasTE bool
	var cl int64
	for len(fields) > 0 {
		var f []byte
		f, fields, _ = bytes.Cut(fields, []byte("\r\n"))
		name, value, ok := bytes.Cut(f, []byte(":"))
		if !ok {
			continue
		}
		switch {
		case bytes.EqualFold(bytes.TrimSpace(name), []byte("Content-Length")):
			n, err := strconv.ParseInt(string(bytes.TrimSpace(value)), 10, 64)
			if err != nil || n < 0 || (hasCL && n != cl) {
				c.stop() // net/http refuses it and closes the connection
				return
			}
			hasCL, cl = true, n
		case bytes.EqualFold(bytes.TrimSpace(name), []byte("Transfer-Encoding")):
			hasTE = true
		}
	}
	idx := c.heads
	c.heads++
	switch {
	case hasTE:
		if hasCL && c.badAt < 0 {
			c.badAt = idx
		}
		c.stop() // a chunked request ends its connection; nothing follows
	case cl > 0:
		c.state, c.skip = scanBody, cl
	}
}

// verdict reports, for the next HTTP/1.x request the handler sees, whether it
// carried both framing headers and whether the scanner followed it at all.
func (c *guardedConn) verdict() (smuggled, unchecked bool) {
	i := int(c.served.Add(1) - 1)
	c.mu.Lock()
	defer c.mu.Unlock()
	return i == c.badAt, c.offAt >= 0 && i >= c.offAt
}

type guardKey struct{}

// connContext remembers the guarded connection of a request.
func connContext(ctx context.Context, c net.Conn) context.Context {
	if t, ok := c.(*tls.Conn); ok {
		c = t.NetConn()
	}
	if g, ok := c.(*guardedConn); ok && g.l.scan {
		return context.WithValue(ctx, guardKey{}, g)
	}
	return ctx
}

// connState tracks which guarded connections are idle (evictable at the cap).
func connState(c net.Conn, s http.ConnState) {
	if t, ok := c.(*tls.Conn); ok {
		c = t.NetConn()
	}
	if g, ok := c.(*guardedConn); ok {
		g.idle.Store(s == http.StateIdle || s == http.StateNew)
	}
}

// guardRequests answers a smuggling attempt with 400 and closes every
// connection whose framing it cannot vouch for after the response.
func guardRequests(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 1 {
			h.ServeHTTP(w, r)
			return
		}
		if g, ok := r.Context().Value(guardKey{}).(*guardedConn); ok {
			smuggled, unchecked := g.verdict()
			if smuggled {
				w.Header().Set("Connection", "close")
				writeError(w, http.StatusBadRequest, "both Content-Length and Transfer-Encoding: refused")
				return
			}
			if unchecked {
				w.Header().Set("Connection", "close")
			}
		}
		if len(r.TransferEncoding) > 0 {
			w.Header().Set("Connection", "close")
		}
		h.ServeHTTP(w, r)
	})
}

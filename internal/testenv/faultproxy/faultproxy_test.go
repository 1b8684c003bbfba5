package faultproxy_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/internal/testenv/faultproxy"
)

// echoServer is a real line-echo TCP server on loopback: the thing the proxy
// stands in front of.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

func start(t *testing.T, target string) *faultproxy.Proxy {
	t.Helper()
	p, err := faultproxy.New(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

type client struct {
	net.Conn
	r *bufio.Reader
}

func dial(t *testing.T, p *faultproxy.Proxy) *client {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{c, bufio.NewReader(c)}
}

// roundTrip sends line and reads the echo, waiting at most wait.
func (c *client) roundTrip(line string, wait time.Duration) (string, error) {
	_ = c.SetDeadline(time.Now().Add(wait))
	if _, err := c.Write([]byte(line + "\n")); err != nil {
		return "", err
	}
	s, err := c.r.ReadString('\n')
	return strings.TrimSuffix(s, "\n"), err
}

func mustEcho(t *testing.T, c *client, line string) {
	t.Helper()
	got, err := c.roundTrip(line, 5*time.Second)
	if err != nil || got != line {
		t.Fatalf("echo %q: got %q, %v", line, got, err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// Silence is a read that times out: no data, no EOF, no reset.
func mustBeSilent(t *testing.T, c *client, line string) {
	t.Helper()
	got, err := c.roundTrip(line, 300*time.Millisecond)
	if !isTimeout(err) {
		t.Fatalf("blackholed connection answered %q, %v; want silence (a timeout)", got, err)
	}
}

func mustBeReset(t *testing.T, c *client) {
	t.Helper()
	_, err := c.roundTrip("x", 5*time.Second)
	mustBeResetErr(t, err)
}

// mustDialReset dials p and expects the new connection to be reset, during
// the dial (the RST can arrive before connect reports success) or after.
func mustDialReset(t *testing.T, p *faultproxy.Proxy) {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		mustBeResetErr(t, err)
		return
	}
	defer c.Close()
	mustBeReset(t, &client{c, bufio.NewReader(c)})
}

func mustBeResetErr(t *testing.T, err error) {
	t.Helper()
	if err == nil || isTimeout(err) {
		t.Fatalf("reset connection: err = %v, want a connection error", err)
	}
	if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, io.EOF) && !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("reset connection: err = %v, want ECONNRESET (or EOF/EPIPE)", err)
	}
}

func TestForwards(t *testing.T) {
	t.Parallel()
	p := start(t, echoServer(t))
	c := dial(t, p)
	for _, s := range []string{"a", "hello", strings.Repeat("z", 100<<10)} {
		mustEcho(t, c, s)
	}
	mustEcho(t, dial(t, p), "second connection")
	if acc, open, fails := p.Stats(); acc != 2 || open != 2 || fails != 0 {
		t.Fatalf("Stats = %d accepted, %d open, %d dial failures; want 2, 2, 0", acc, open, fails)
	}
	if !strings.Contains(p.String(), "forward") || p.Target() == p.Addr() {
		t.Fatalf("String %q, Target %q", p, p.Target())
	}
}

func TestLatency(t *testing.T) {
	t.Parallel()
	p := start(t, echoServer(t))
	c := dial(t, p)
	mustEcho(t, c, "warm")
	const d = 150 * time.Millisecond
	p.SetLatency(d)
	t0 := time.Now()
	mustEcho(t, c, "slow")
	if el := time.Since(t0); el < d {
		t.Fatalf("round trip took %v with %v latency", el, d)
	}
	// Pipelined requests arrive in order, each delayed.
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	t0 = time.Now()
	for i := range 5 {
		if _, err := c.Write([]byte(strings.Repeat("p", i+1) + "\n")); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		s, err := c.r.ReadString('\n')
		if err != nil || s != strings.Repeat("p", i+1)+"\n" {
			t.Fatalf("pipelined reply %d: %q %v", i, s, err)
		}
	}
	if el := time.Since(t0); el < d {
		t.Fatalf("pipelined round trips took %v with %v latency", el, d)
	}
	p.SetLatency(0)
	mustEcho(t, c, "fast again")
}

func TestReset(t *testing.T) {
	t.Parallel()
	p := start(t, echoServer(t))
	old := dial(t, p)
	mustEcho(t, old, "before")
	p.Reset()
	mustBeReset(t, old)
	mustDialReset(t, p) // new connections too
	p.Heal()
	mustEcho(t, dial(t, p), "healed")
}

func TestBlackhole(t *testing.T) {
	t.Parallel()
	p := start(t, echoServer(t))
	old := dial(t, p)
	mustEcho(t, old, "before")
	p.Blackhole()
	mustBeSilent(t, old, "lost")
	fresh := dial(t, p) // accepted, never forwarded
	mustBeSilent(t, fresh, "lost too")
	if !strings.Contains(p.String(), "blackhole") {
		t.Fatalf("String %q", p)
	}
	p.Heal()
	// Blackholed connections stay dead; new ones are forwarded.
	mustBeSilent(t, old, "still lost")
	mustBeSilent(t, fresh, "still lost")
	mustEcho(t, dial(t, p), "healed")
}

func TestTargetDown(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := start(t, ln.Addr().String())
	ln.Close() // nothing listens there now (closed after the proxy took its own port)
	mustDialReset(t, p)
	if _, _, fails := p.Stats(); fails != 1 {
		t.Fatalf("%d dial failures, want 1", fails)
	}
}

func TestCloseEndsConnections(t *testing.T) {
	t.Parallel()
	p := start(t, echoServer(t))
	live, dead := dial(t, p), dial(t, p)
	mustEcho(t, live, "x")
	mustEcho(t, dead, "y")
	p.Blackhole()
	blackholed := dial(t, p)
	mustBeSilent(t, blackholed, "z")
	if err := p.Close(); err != nil { // waits for every proxy goroutine
		t.Fatal(err)
	}
	for _, c := range []*client{live, dead, blackholed} {
		mustBeReset(t, c)
	}
	if _, open, _ := p.Stats(); open != 0 {
		t.Fatalf("%d connections open after Close", open)
	}
	if _, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		t.Fatal("the proxy still accepts after Close")
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

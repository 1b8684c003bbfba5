//go:build unix

package serverproc_test

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/internal/testenv/serverproc"
)

// ask sends one protocol line and returns the first line of the answer,
// waiting at most wait.
func ask(addr, line string, wait time.Duration) (string, error) {
	c, err := net.DialTimeout("tcp", addr, wait)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(wait))
	if _, err := c.Write([]byte(line + "\r\n")); err != nil {
		return "", err
	}
	s, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(s), err
}

func mustAnswer(t *testing.T, addr, line, want string) {
	t.Helper()
	got, err := ask(addr, line, 5*time.Second)
	if err != nil || !strings.HasPrefix(got, want) {
		t.Fatalf("%s %q: %q, %v; want %q", addr, line, got, err, want)
	}
}

func mustRefuse(t *testing.T, addr string) {
	t.Helper()
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatalf("%s still accepts connections", addr)
	}
}

func TestRedisLifecycle(t *testing.T) {
	t.Parallel()
	s := serverproc.Redis(t)
	addr := s.Addr()
	mustAnswer(t, addr, "SET k v", "+OK")
	mustAnswer(t, addr, "GET k", "$1")

	s.Pause()
	if got, err := ask(addr, "PING", 300*time.Millisecond); err == nil {
		t.Fatalf("a paused server answered %q", got)
	}
	if !s.Running() || s.Pid() == 0 {
		t.Fatal("a paused server counts as not running")
	}
	s.Resume()
	mustAnswer(t, addr, "PING", "+PONG")

	s.Kill()
	if s.Running() || s.Pid() != 0 {
		t.Fatal("killed server still running")
	}
	mustRefuse(t, addr)
	s.Kill() // idempotent
	s.Restart()
	if s.Addr() != addr {
		t.Fatalf("restarted on %s, want %s", s.Addr(), addr)
	}
	mustAnswer(t, addr, "GET k", "$-1") // memory only: the entry is gone
}

func TestRedisDown(t *testing.T) {
	t.Parallel()
	s := serverproc.RedisDown(t)
	if s.Running() || s.Port() == 0 {
		t.Fatalf("RedisDown: running %v, port %d", s.Running(), s.Port())
	}
	mustRefuse(t, s.Addr())
	s.Restart()
	mustAnswer(t, s.Addr(), "PING", "+PONG")
}

func TestMemcachedLifecycle(t *testing.T) {
	t.Parallel()
	s := serverproc.Memcached(t)
	mustAnswer(t, s.Addr(), "version", "VERSION")
	s.Pause()
	if got, err := ask(s.Addr(), "version", 300*time.Millisecond); err == nil {
		t.Fatalf("a paused server answered %q", got)
	}
	s.Resume()
	mustAnswer(t, s.Addr(), "version", "VERSION")
	s.Restart()
	mustAnswer(t, s.Addr(), "version", "VERSION")
}

//go:build unix

package testenv_test

import (
	"bufio"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/internal/testenv"
)

// ping sends PING on a fresh connection and reads the answer within d.
func ping(addr string, d time.Duration) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(d))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return "", err
	}
	return bufio.NewReader(c).ReadString('\n')
}

// Stop returns once the process is stopped: a request sent right after it
// gets no answer (SIGSTOP is delivered asynchronously; a request sent right
// after kill(2) used to be answered now and then), and one after Cont does.
func TestProcessStopCont(t *testing.T) {
	p := testenv.NewProcess(t, "redis-server", "--port", "{port}", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	p.Start()
	for i := range 20 {
		p.Stop()
		if s, err := ping(p.Addr(), 200*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("round %d: PING to a stopped server: %q, %v; want no answer", i, s, err)
		}
		p.Cont()
		if s, err := ping(p.Addr(), 5*time.Second); err != nil || s != "+PONG\r\n" {
			t.Fatalf("round %d: PING after Cont: %q, %v", i, s, err)
		}
	}
}

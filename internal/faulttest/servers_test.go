//go:build unix

package faulttest_test

import (
	"os"
	"testing"

	"github.com/cachekit-go/cachekit/internal/testenv"
)

// newRedis prepares a private redis-server (memory only) on a free loopback
// port without starting it.
func newRedis(t *testing.T) *testenv.Process {
	t.Helper()
	return testenv.NewProcess(t, "redis-server", "--port", "{port}", "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", "{dir}", "--daemonize", "no", "--loglevel", "warning")
}

// startRedis starts a private redis-server.
func startRedis(t *testing.T) *testenv.Process {
	t.Helper()
	p := newRedis(t)
	p.Start()
	return p
}

// startMemcached starts a private memcached (TCP only, 64 MiB).
func startMemcached(t *testing.T) *testenv.Process {
	t.Helper()
	args := []string{"-l", "127.0.0.1", "-p", "{port}", "-U", "0", "-m", "64", "-t", "2"}
	if os.Geteuid() == 0 {
		args = append(args, "-u", "root") // memcached refuses root without -u
	}
	p := testenv.NewProcess(t, "memcached", args...)
	p.Start()
	return p
}

// proc adapts a testenv.Process to server.
type proc struct{ *testenv.Process }

func (p proc) Restart() { p.Kill(); p.Start() }
func (p proc) Pause()   { p.Stop() }
func (p proc) Resume()  { p.Cont() }

// Package serverproc runs private server processes (redis-server, memcached)
// that a test owns and may therefore hurt: kill with SIGKILL and restart on
// the same port, freeze with SIGSTOP and thaw with SIGCONT. The shared
// servers the test command starts must never be treated that way, so
// fault-injection tests start their own here.
//
// The binaries are looked up on PATH (scripts/test.sh installs them). When
// one is missing the test is skipped locally and FAILS under CI=true
// (testenv.Missing). Every process listens on 127.0.0.1 only, keeps its data
// in memory, is stopped when the test ends and, on Linux, is killed by the
// kernel if the test binary dies first.
//go:build unix

package serverproc

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/internal/testenv"
)

// StartTimeout bounds how long a start or restart waits for the port.
const StartTimeout = 15 * time.Second

// Server is one server process started by a test.
type Server struct {
	t    testing.TB
	name string
	bin  string
	args func(port int) []string
	dir  string
	port int
	cmd  *exec.Cmd
	done chan struct{}
}

// Redis starts a redis-server on a free loopback port without persistence.
// extra arguments are appended to the command line.
func Redis(t testing.TB, extra ...string) *Server {
	t.Helper()
	s := redis(t, extra)
	s.startFree()
	return s
}

// RedisDown returns a redis-server on a free loopback port that is not
// started yet: Restart starts it. It is for tests of a service that boots
// while its Redis is down.
func RedisDown(t testing.TB, extra ...string) *Server {
	t.Helper()
	s := redis(t, extra)
	s.port = FreePort(t)
	return s
}

func redis(t testing.TB, extra []string) *Server {
	dir := t.TempDir()
	return newServer(t, "redis-server", dir, func(port int) []string {
		return append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--dir", dir, "--daemonize", "no",
			"--loglevel", "warning"}, extra...)
	})
}

// Memcached starts a memcached on a free loopback port (TCP only, 64 MiB).
func Memcached(t testing.TB) *Server {
	t.Helper()
	var user []string
	if os.Geteuid() == 0 {
		user = []string{"-u", "root"} // memcached refuses to run as root without -u
	}
	s := newServer(t, "memcached", t.TempDir(), func(port int) []string {
		return append([]string{"-l", "127.0.0.1", "-p", strconv.Itoa(port), "-U", "0", "-m", "64", "-t", "2"}, user...)
	})
	s.startFree()
	return s
}

// FreePort returns a loopback port nothing listens on right now (another
// process may still take it before the caller does).
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func newServer(t testing.TB, name, dir string, args func(int) []string) *Server {
	t.Helper()
	bin, err := exec.LookPath(name)
	if err != nil {
		testenv.Missing(t, name+" is not on PATH (scripts/test.sh installs it)")
	}
	s := &Server{t: t, name: name, bin: bin, args: args, dir: dir}
	t.Cleanup(func() {
		s.Kill()
		if t.Failed() {
			if b, _ := os.ReadFile(s.logPath()); len(b) > 0 {
				t.Logf("%s log:\n%s", name, b)
			}
		}
	})
	return s
}

// startFree starts the process on a free port. A free port can be taken
// between the check and the bind: then it tries again on another one.
func (s *Server) startFree() {
	s.t.Helper()
	for attempt := 1; ; attempt++ {
		s.port = FreePort(s.t)
		if s.launch() == nil {
			return
		}
		if attempt == 3 {
			s.t.Fatalf("%s did not start on a free port", s.name)
		}
	}
}

func (s *Server) logPath() string { return filepath.Join(s.dir, s.name+".log") }

// launch starts the process on s.port and waits until the port accepts
// connections.
func (s *Server) launch() error {
	cmd := exec.Command(s.bin, s.args(s.port)...)
	logFile, err := os.OpenFile(s.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		s.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		logFile.Close()
		s.t.Fatalf("starting %s: %v", s.name, err)
	}
	s.cmd, s.done = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); logFile.Close(); close(s.done) }()
	deadline := time.Now().Add(StartTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return errExited
		default:
		}
		if c, err := net.DialTimeout("tcp", s.Addr(), 100*time.Millisecond); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.Kill()
	return errExited
}

// errExited: the process exited, or never listened, during launch.
var errExited = errors.New("server exited or never listened")

// Addr is 127.0.0.1:port; it stays the same across restarts.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Port is the listening port.
func (s *Server) Port() int { return s.port }

// Pid is the process id of the running process (0 when stopped).
func (s *Server) Pid() int {
	if !s.Running() {
		return 0
	}
	return s.cmd.Process.Pid
}

// Running reports whether the process is alive (a paused process is).
func (s *Server) Running() bool {
	if s.cmd == nil {
		return false
	}
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

// Kill sends SIGKILL and waits for the process to exit. Killing a stopped
// server does nothing.
func (s *Server) Kill() {
	if !s.Running() {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
}

// Restart kills the process if it runs and starts a new one on the same
// port, with empty memory, waiting until it accepts connections.
func (s *Server) Restart() {
	s.t.Helper()
	s.Kill()
	if err := s.launch(); err != nil {
		b, _ := os.ReadFile(s.logPath())
		s.t.Fatalf("%s did not restart on port %d: %v\n%s", s.name, s.port, err, b)
	}
}

// Pause freezes the process with SIGSTOP: its sockets stay open, nothing
// answers.
func (s *Server) Pause() { s.signal(syscall.SIGSTOP) }

// Resume thaws a paused process with SIGCONT.
func (s *Server) Resume() { s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig syscall.Signal) {
	s.t.Helper()
	if !s.Running() {
		s.t.Fatalf("%s: %v to a process that is not running", s.name, sig)
	}
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("%s: %v: %v", s.name, sig, err)
	}
}

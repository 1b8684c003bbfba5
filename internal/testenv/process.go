//go:build unix

package testenv

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Process is a server process owned by one test, on a loopback port that
// stays the same across restarts, so the test can kill, stop and restart it
// under a client's feet. The test command installs the binaries
// (redis-server, memcached); a missing one skips the test, or fails it
// under CI=true.
type Process struct {
	t    testing.TB
	bin  string
	args []string
	port int
	cmd  *exec.Cmd
}

// NewProcess prepares bin on a free loopback port without starting it. In
// args, "{port}" is replaced by the port and "{dir}" by a fresh temporary
// directory. The process is killed when the test ends.
func NewProcess(t testing.TB, bin string, args ...string) *Process {
	t.Helper()
	if _, err := exec.LookPath(bin); err != nil {
		Missing(t, bin+" is not installed (the test command installs it)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	p := &Process{t: t, bin: bin, args: args, port: port}
	t.Cleanup(p.Kill)
	return p
}

// Addr is the process's 127.0.0.1:port, valid whether it runs or not.
func (p *Process) Addr() string { return "127.0.0.1:" + strconv.Itoa(p.port) }

// Start runs the process and waits until its port accepts connections.
func (p *Process) Start() {
	p.t.Helper()
	args := make([]string, len(p.args))
	for i, a := range p.args {
		a = strings.ReplaceAll(a, "{port}", strconv.Itoa(p.port))
		if strings.Contains(a, "{dir}") {
			a = strings.ReplaceAll(a, "{dir}", p.t.TempDir())
		}
		args[i] = a
	}
	p.cmd = exec.Command(p.bin, args...)
	if err := p.cmd.Start(); err != nil {
		p.t.Fatalf("starting %s: %v", p.bin, err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s did not listen on %s", p.bin, p.Addr())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill ends the process with SIGKILL (a crash) and waits for it; it does
// nothing when the process is not running.
func (p *Process) Kill() {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGCONT) // a stopped process must run to die
	_ = p.cmd.Process.Kill()
	_ = p.cmd.Wait()
	p.cmd = nil
}

// Stop freezes the process (SIGSTOP): its port still accepts connections,
// which the kernel queues, but nothing answers. It returns once the process
// is stopped (a signal is delivered asynchronously: a request sent right
// after kill(2) could still be answered). Cont resumes it.
func (p *Process) Stop() {
	p.signal(syscall.SIGSTOP)
	WaitStopped(p.cmd.Process.Pid)
}

// WaitStopped waits, at most a second, until /proc says pid is stopped
// (state T); where there is no /proc it waits a little.
func WaitStopped(pid int) {
	stat := "/proc/" + strconv.Itoa(pid) + "/stat"
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		b, err := os.ReadFile(stat)
		if err != nil {
			time.Sleep(20 * time.Millisecond)
			return
		}
		// The state follows the command name, which is in parentheses.
		if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) && (b[i+2] == 'T' || b[i+2] == 't') {
			return
		}
	}
}

// Cont resumes a stopped process (SIGCONT).
func (p *Process) Cont() { p.signal(syscall.SIGCONT) }

func (p *Process) signal(s syscall.Signal) {
	p.t.Helper()
	if p.cmd == nil {
		p.t.Fatalf("%s is not running", p.bin)
	}
	if err := p.cmd.Process.Signal(s); err != nil {
		p.t.Fatalf("signal %v to %s: %v", s, p.bin, err)
	}
}

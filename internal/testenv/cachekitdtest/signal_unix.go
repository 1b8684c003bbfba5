//go:build unix

package cachekitdtest

import (
	"syscall"

	"github.com/cachekit-go/cachekit/internal/testenv"
)

// Pause freezes the process with SIGSTOP: its sockets stay open and nothing
// answers, as a hung server would. It returns once the process is stopped
// (a signal is delivered asynchronously: a request sent right after kill(2)
// could still be answered). Resume thaws it.
func (d *Daemon) Pause() {
	d.signal(syscall.SIGSTOP)
	testenv.WaitStopped(d.cmd.Process.Pid)
}

// Resume thaws a paused process with SIGCONT.
func (d *Daemon) Resume() { d.signal(syscall.SIGCONT) }

func (d *Daemon) signal(sig syscall.Signal) {
	d.t.Helper()
	if d.cmd == nil || d.cmd.Process == nil {
		d.t.Fatalf("cachekitd: %v before Start", sig)
	}
	select {
	case <-d.done:
		d.t.Fatalf("cachekitd: %v to a process that exited", sig)
	default:
	}
	if err := d.cmd.Process.Signal(sig); err != nil {
		d.t.Fatalf("cachekitd: %v: %v", sig, err)
	}
}

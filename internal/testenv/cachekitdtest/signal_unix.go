//go:build unix

package cachekitdtest

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
	"time"
)

// Pause freezes the process with SIGSTOP: its sockets stay open and nothing
// answers, as a hung server would. It returns once the process is stopped
// (a signal is delivered asynchronously: a request sent right after kill(2)
// could still be answered). Resume thaws it.
func (d *Daemon) Pause() {
	d.signal(syscall.SIGSTOP)
	waitStopped(d.cmd.Process.Pid)
}

// waitStopped waits, at most a second, until /proc says pid is stopped
// (state T); where there is no /proc it waits a little.
func waitStopped(pid int) {
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

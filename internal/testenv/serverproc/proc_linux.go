package serverproc

import "syscall"

// procAttr makes the kernel kill the server if the test binary dies first
// (a timeout, a crash), so no server outlives its test.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

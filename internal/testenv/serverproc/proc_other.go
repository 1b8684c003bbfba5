//go:build unix && !linux

package serverproc

import "syscall"

// procAttr: only Linux can tie a child's life to its parent; elsewhere the
// test's Cleanup stops the process.
func procAttr() *syscall.SysProcAttr { return nil }

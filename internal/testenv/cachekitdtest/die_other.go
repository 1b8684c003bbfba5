//go:build !linux

package cachekitdtest

import "os/exec"

// dieWithParent: only Linux can tie a child's life to its parent; elsewhere
// the test's Cleanup stops the process.
func dieWithParent(*exec.Cmd) {}

package testenv

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"testing"
)

// Child is a copy of the running test binary started as a helper process
// (another "replica" of a service in multi-process tests). The test talks to
// it over its standard input and output, one line per command and answer.
type Child struct {
	Cmd *exec.Cmd
	In  io.WriteCloser // the child's standard input
	Out *bufio.Scanner // the child's standard output, lines up to 1 MiB
}

// StartChild re-executes the test binary running no test, with env
// ("NAME=value", the variable the package's TestMain or init looks for to act
// as a child) added to the environment and its standard error joined to the
// test's. When the test ends its input is closed and the process is killed
// and reaped.
func StartChild(t testing.TB, env string) *Child {
	t.Helper()
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^$")
	cmd.Env = append(os.Environ(), env)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = in.Close(); _ = cmd.Process.Kill(); _ = cmd.Wait() })
	sc := bufio.NewScanner(out)
	sc.Buffer(nil, 1<<20)
	return &Child{Cmd: cmd, In: in, Out: sc}
}

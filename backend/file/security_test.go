//go:build unix

package file

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/internal/testenv"
)

// otherUID is the local user playing the attacker (or the directory's other
// owner). Tests that need it chown files, which only root may do.
const otherUID = 12345

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		// A skip locally, a failure under CI=true: CI runs as root, and a
		// green run must not hide the attacks these tests make.
		testenv.Missing(t, "needs root to give files to another uid")
	}
}

func TestDefaultDirIsPerUser(t *testing.T) {
	shared := filepath.Join(os.TempDir(), "cachekit")
	if d := DefaultDir(); d == shared {
		t.Fatalf("DefaultDir() = %s: a shared name another user can create first", d)
	}
	if ucd, err := os.UserCacheDir(); err == nil && DefaultDir() != filepath.Join(ucd, "cachekit") {
		t.Fatalf("DefaultDir() = %s, want it under the user cache directory %s", DefaultDir(), ucd)
	}
	// Without a user cache directory the fallback names the uid.
	t.Setenv("HOME", "")
	t.Setenv("XDG_CACHE_HOME", "")
	want := filepath.Join(os.TempDir(), "cachekit-"+strconv.Itoa(os.Geteuid()))
	if d := DefaultDir(); d != want {
		t.Fatalf("DefaultDir() without HOME = %s, want %s", d, want)
	}
}

// TestRefusesADirectoryAnotherUserControls: New refuses a directory owned by
// another uid, writable by group or others, or reached through another
// user's symbolic link, with an error naming the path and the fix; the
// user's own directories and links are accepted.
func TestRefusesADirectoryAnotherUserControls(t *testing.T) {
	t.Parallel()
	mkdir := func(t *testing.T, mode fs.FileMode, uid int) string {
		t.Helper()
		d := filepath.Join(t.TempDir(), "cache")
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, mode); err != nil {
			t.Fatal(err)
		}
		if uid >= 0 {
			if err := os.Chown(d, uid, -1); err != nil {
				t.Fatal(err)
			}
		}
		return d
	}
	link := func(t *testing.T, target string, uid int) string {
		t.Helper()
		l := filepath.Join(t.TempDir(), "link")
		if err := os.Symlink(target, l); err != nil {
			t.Fatal(err)
		}
		if uid >= 0 {
			if err := os.Lchown(l, uid, -1); err != nil {
				t.Fatal(err)
			}
		}
		return l
	}
	tests := []struct {
		name   string
		root   bool                      // needs chown
		dir    func(t *testing.T) string // the Options.Dir to try
		wantOK bool                      // accepted
		want   []string                  // in the error
	}{
		{name: "own 0700", dir: func(t *testing.T) string { return mkdir(t, 0o700, -1) }, wantOK: true},
		{name: "own 0755", dir: func(t *testing.T) string { return mkdir(t, 0o755, -1) }, wantOK: true},
		{name: "world-writable", dir: func(t *testing.T) string { return mkdir(t, 0o777, -1) }, want: []string{"writable by group or others", "chmod go-w"}},
		{name: "world-writable sticky", dir: func(t *testing.T) string { return mkdir(t, 0o1777, -1) }, want: []string{"writable by group or others"}},
		{name: "group-writable", dir: func(t *testing.T) string { return mkdir(t, 0o770, -1) }, want: []string{"writable by group or others"}},
		{name: "owned by another uid", root: true, dir: func(t *testing.T) string { return mkdir(t, 0o700, otherUID) },
			want: []string{"owned by uid 12345", "set Options.Dir"}},
		{name: "own link to own directory", dir: func(t *testing.T) string { return link(t, mkdir(t, 0o700, -1), -1) }, wantOK: true},
		{name: "another user's link to own directory", root: true, dir: func(t *testing.T) string { return link(t, mkdir(t, 0o700, -1), otherUID) },
			want: []string{"symbolic link owned by uid 12345"}},
		{name: "own link to another user's directory", root: true, dir: func(t *testing.T) string { return link(t, mkdir(t, 0o700, otherUID), -1) },
			want: []string{"owned by uid 12345"}},
		{name: "own link to a world-writable directory", dir: func(t *testing.T) string { return link(t, mkdir(t, 0o777, -1), -1) },
			want: []string{"writable by group or others"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.root {
				needRoot(t)
			}
			dir := tt.dir(t)
			b, err := New(Options{Dir: dir})
			if tt.wantOK {
				if err != nil {
					t.Fatalf("New(%s): %v", dir, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("New(%s) accepted a directory another user controls (dir %s)", dir, b.Dir())
			}
			for _, w := range append([]string{dir}, tt.want...) {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// TestPlantedDirectoryAttack runs the attack of issue 12 for real: another
// uid creates the victim's cache directory first, world-writable, and plants
// an entry in it. The victim's New must refuse the directory, so the planted
// value is never served as a hit.
func TestPlantedDirectoryAttack(t *testing.T) {
	needRoot(t)
	t.Parallel()
	parent := t.TempDir()
	// Like /tmp: reachable and writable by the attacker.
	if err := os.Chmod(filepath.Dir(parent), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(parent, 0o777); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(parent, "cachekit")
	planted := entryBytes(0, 0, "attacker's value")
	attacker := exec.Command("/bin/sh", "-c", `mkdir -m 0777 "$1" && cat > "$1/$2" && chmod 0666 "$1/$2"`, "sh", dir, FileName("k"))
	attacker.Stdin = bytes.NewReader(planted)
	attacker.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: otherUID, Gid: otherUID}}
	if out, err := attacker.CombinedOutput(); err != nil {
		t.Fatalf("the attacker (uid %d) could not prepare the directory: %v %s", otherUID, err, out)
	}
	if fi, err := os.Stat(filepath.Join(dir, FileName("k"))); err != nil || !ownerIs(fi, otherUID) {
		t.Fatalf("planted entry: %v", err)
	}
	b, err := New(Options{Dir: dir})
	if err == nil {
		v, found, _ := b.Get(context.Background(), "k")
		t.Fatalf("New accepted the attacker's directory; Get = %q, found=%v", v, found)
	}
	if !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "owned by uid 12345") {
		t.Fatalf("error %q should name the directory and its owner", err)
	}
}

func ownerIs(fi fs.FileInfo, uid int) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == uid
}

// TestAnotherUsersEntryIsAMiss: an entry file owned by another uid in the
// user's own directory (planted by root, or left from a chown) is never
// served: every operation treats it as corrupt, a miss, and removes it.
func TestAnotherUsersEntryIsAMiss(t *testing.T) {
	needRoot(t)
	t.Parallel()
	for opName, op := range entryOps() {
		t.Run(opName, func(t *testing.T) {
			t.Parallel()
			b := newTestBackend(t, Options{})
			path := b.Path("k")
			if err := os.WriteFile(path, entryBytes(0, 0, "planted"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chown(path, otherUID, otherUID); err != nil {
				t.Fatal(err)
			}
			found, err := op(b, "k")
			if err != nil || found {
				t.Fatalf("%s on another user's entry: found=%v err=%v, want a miss", opName, found, err)
			}
			if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("another user's entry not removed: %v", err)
			}
			if opName != "Delete" && b.Stats().CorruptRemoved != 1 { // Delete removes without judging
				t.Fatalf("stats %+v", b.Stats())
			}
		})
	}
}

// hangBound is how long an operation on a FIFO may take before the test
// calls it hung. On the code before the fix these operations never return;
// after it they return at once, so the bound is only a generous backstop.
const hangBound = 20 * time.Second

// returns runs fn and fails the test if it does not return within
// hangBound (the blocked goroutine is left behind; it cannot be cancelled).
func returns(t *testing.T, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	select {
	case <-done:
	case <-time.After(hangBound):
		t.Fatalf("%s hangs on a FIFO", what)
	}
}

// TestFIFOsDoNotHang plants a FIFO at an entry's path: every operation
// returns a miss at once (the FIFO is removed as a corrupt entry) instead of
// waiting forever for a writer, even under a context deadline.
func TestFIFOsDoNotHang(t *testing.T) {
	t.Parallel()
	for opName, op := range entryOps() {
		t.Run(opName, func(t *testing.T) {
			t.Parallel()
			b := newTestBackend(t, Options{})
			path := b.Path("k")
			if err := syscall.Mkfifo(path, 0o600); err != nil {
				t.Fatal(err)
			}
			var (
				found bool
				err   error
			)
			returns(t, opName, func() { found, err = op(b, "k") })
			if err != nil || found {
				t.Fatalf("%s on a FIFO: found=%v err=%v, want a miss", opName, found, err)
			}
			if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("FIFO not removed: %v", err)
			}
		})
	}
	t.Run("lock file", func(t *testing.T) {
		t.Parallel()
		b := newTestBackend(t, Options{})
		if err := syscall.Mkfifo(b.lockPath("k"), 0o600); err != nil {
			t.Fatal(err)
		}
		var ok bool
		var err error
		returns(t, "AcquireLock", func() { _, ok, err = b.AcquireLock(context.Background(), "k", time.Minute) })
		if ok || !errors.Is(err, ErrRefusedFile) {
			t.Fatalf("AcquireLock over a FIFO: ok=%v err=%v", ok, err)
		}
		returns(t, "ReleaseLock", func() { ok, err = b.ReleaseLock(context.Background(), "k", "token") })
		if ok {
			t.Fatalf("ReleaseLock over a FIFO released")
		}
	})
	// New's start-up scan reads every lock file it finds.
	t.Run("New", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		if err := syscall.Mkfifo(filepath.Join(dir, lockPrefix+FileName("k")), 0o600); err != nil {
			t.Fatal(err)
		}
		var err error
		returns(t, "New", func() { _, err = New(Options{Dir: dir}) })
		if err != nil {
			t.Fatalf("New with a FIFO lock file: %v", err)
		}
	})
	t.Run("New with a FIFO as the eviction lock", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		if err := syscall.Mkfifo(filepath.Join(dir, evictLockName), 0o600); err != nil {
			t.Fatal(err)
		}
		var err error
		returns(t, "New", func() { _, err = New(Options{Dir: dir}) })
		if !errors.Is(err, ErrRefusedFile) || !strings.Contains(err.Error(), evictLockName) {
			t.Fatalf("New with a FIFO eviction lock: %v, want a refusal naming it", err)
		}
	})
}

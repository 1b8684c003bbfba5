//go:build unix

package file

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// noFollow makes opening an entry fail on a symbolic link planted at its
// path (a shared-directory attack); such an entry is a miss.
const noFollow = syscall.O_NOFOLLOW

// isSymlink reports the error O_NOFOLLOW produces for a symbolic link.
func isSymlink(err error) bool { return errors.Is(err, syscall.ELOOP) }

// tryFlock takes an exclusive advisory lock on f without blocking and
// reports whether it got it. flock locks belong to the open file, so they
// exclude other processes and other opens within this process alike.
func tryFlock(f *os.File) (bool, error) {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EWOULDBLOCK):
			return false, nil
		}
		return false, err
	}
}

// unflock releases the lock taken by tryFlock.
func unflock(f *os.File) { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }

// nonBlock opens without blocking: opening a FIFO planted in the cache
// directory for reading would otherwise wait for a writer forever. The file
// is then required to be regular (fstat), so nothing is ever read from a
// FIFO, device or socket; on regular files the flag changes nothing.
const nonBlock = syscall.O_NONBLOCK

// ownerOf returns the uid that owns the file described by fi.
func ownerOf(fi fs.FileInfo) (uint32, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return st.Uid, true
}

// ownedByMe reports whether the effective user owns the file.
func ownedByMe(fi fs.FileInfo) bool {
	uid, ok := ownerOf(fi)
	return !ok || uid == uint32(os.Geteuid())
}

// checkDir refuses a cache directory that another local user could control:
// one they own, one they may write (group or others have write permission),
// or a symbolic link they own. Any of these lets them plant entries that
// read as hits, or lock files that make New fail. A symbolic link owned by
// this user or by root is followed and its target checked.
func checkDir(dir string) error {
	me := uint32(os.Geteuid())
	lfi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("file: cache directory: %w", err)
	}
	if lfi.Mode()&fs.ModeSymlink != 0 {
		if uid, ok := ownerOf(lfi); ok && uid != me && uid != 0 {
			return fmt.Errorf("file: cache directory %s is a symbolic link owned by uid %d, not by this user (uid %d): "+
				"whoever owns it decides where entries go; remove it, or set Options.Dir (%s) to a directory you own", dir, uid, me, EnvDir)
		}
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("file: cache directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("file: cache directory %s is not a directory", dir)
	}
	if uid, ok := ownerOf(fi); ok && uid != me {
		return fmt.Errorf("file: cache directory %s is owned by uid %d, not by this user (uid %d): "+
			"its owner could plant entries that read as hits; remove it, or set Options.Dir (%s) to a directory you own", dir, uid, me, EnvDir)
	}
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		return fmt.Errorf("file: cache directory %s is writable by group or others (mode %04o): "+
			"another user could plant entries that read as hits; run chmod go-w %s (New creates it 0700), or set Options.Dir (%s) to a directory only you can write",
			dir, perm, dir, EnvDir)
	}
	return nil
}

// defaultDirFallback is the default directory when the user has no cache
// directory: named with the uid, so each user gets their own (and checkDir
// refuses one that another user made first).
func defaultDirFallback() string {
	return filepath.Join(os.TempDir(), "cachekit-"+strconv.Itoa(os.Geteuid()))
}

//go:build unix

package file

import (
	"errors"
	"os"
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

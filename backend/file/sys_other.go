//go:build !unix

package file

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// On systems without flock and O_NOFOLLOW, symbolic links are followed and
// the advisory locks only exclude other users of the same path within this
// process: several processes sharing a directory stay safe for entries
// (rename is still atomic) but not for lock take-over and eviction.
const noFollow = 0

func isSymlink(error) bool { return false }

// Without O_NONBLOCK, file ownership and POSIX modes, entries are opened
// plainly, every file counts as the user's, and the directory is only
// checked to be a directory (Windows protects a user's cache directory with
// its ACLs).
const nonBlock = 0

func ownedByMe(fs.FileInfo) bool { return true }

func checkDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("file: cache directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("file: cache directory %s is not a directory", dir)
	}
	return nil
}

func defaultDirFallback() string { return filepath.Join(os.TempDir(), "cachekit") }

var (
	flockMu   sync.Mutex
	flockHeld = map[string]bool{}
)

func tryFlock(f *os.File) (bool, error) {
	flockMu.Lock()
	defer flockMu.Unlock()
	if flockHeld[f.Name()] {
		return false, nil
	}
	flockHeld[f.Name()] = true
	return true, nil
}

func unflock(f *os.File) {
	flockMu.Lock()
	defer flockMu.Unlock()
	delete(flockHeld, f.Name())
}

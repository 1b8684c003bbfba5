//go:build !unix

package file

import (
	"os"
	"sync"
)

// On systems without flock and O_NOFOLLOW, symbolic links are followed and
// the advisory locks only exclude other users of the same path within this
// process: several processes sharing a directory stay safe for entries
// (rename is still atomic) but not for lock take-over and eviction.
const noFollow = 0

func isSymlink(error) bool { return false }

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

package file

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/cachekit-go/cachekit/backend"
)

// Lock files: ".lock.<entry name>" holding "<token> <expiry unix nanoseconds>\n".
// See the package documentation for the protocol.

// maxLockFile bounds what is read from a lock file.
const maxLockFile = 128

// unparseableStaleAfter is how old an unreadable lock file must be before it
// counts as stale: younger ones may still be being written (on file systems
// without hard links, where the content is written after the exclusive
// create).
const unparseableStaleAfter = 10 * time.Second

// lockInfo is a parsed lock file.
type lockInfo struct {
	token  string
	expiry time.Time
	ok     bool // the content parsed
	raw    []byte
	mtime  time.Time
}

func (l lockInfo) stale(now time.Time) bool {
	if !l.ok {
		return now.Sub(l.mtime) > unparseableStaleAfter
	}
	return !now.Before(l.expiry)
}

func (b *Backend) lockPath(key string) string {
	return filepath.Join(b.dir, lockPrefix+FileName(key))
}

// AcquireLock tries once to take the lock for key for hold. A lock whose
// holder let it expire is taken over.
func (b *Backend) AcquireLock(ctx context.Context, key string, hold time.Duration) (string, bool, error) {
	if err := ctx.Err(); err != nil {
		return "", false, ctxError("lock", key, err)
	}
	if hold <= 0 {
		return "", false, backend.NewError(backend.Permanent, backendName, "lock", key, errors.New("lock hold time must be positive"))
	}
	var r [16]byte
	_, _ = rand.Read(r[:])
	token := hex.EncodeToString(r[:])
	content := fmt.Appendf(nil, "%s %d\n", token, time.Now().Add(hold).UnixNano())
	path := b.lockPath(key)

	ok, err := b.placeLock(path, content)
	if err != nil {
		return "", false, ioError("lock", key, err)
	}
	if ok {
		return token, true, nil
	}
	cur, err := readLock(path)
	if err != nil {
		if missing(err) { // released meanwhile: one more try
			ok, err = b.placeLock(path, content)
			if err != nil {
				return "", false, ioError("lock", key, err)
			}
			return tokenIf(token, ok), ok, nil
		}
		return "", false, ioError("lock", key, err)
	}
	if !cur.stale(time.Now()) {
		return "", false, nil
	}
	// Take over the stale lock under the directory's lock mutex, after
	// checking that it is still the same stale lock.
	ok, err = b.withLocksLock(ctx, func() (bool, error) {
		again, err := readLock(path)
		if err != nil && !missing(err) {
			return false, err
		}
		if err == nil {
			if !bytes.Equal(again.raw, cur.raw) || !again.stale(time.Now()) {
				return false, nil
			}
			if err := os.Remove(path); err != nil && !missing(err) {
				return false, err
			}
		}
		return b.placeLock(path, content)
	})
	if err != nil {
		if ce := ctxErrorOf(ctx, err); ce != nil {
			return "", false, ctxError("lock", key, ce)
		}
		return "", false, ioError("lock", key, err)
	}
	return tokenIf(token, ok), ok, nil
}

func tokenIf(token string, ok bool) string {
	if ok {
		return token
	}
	return ""
}

// ReleaseLock removes key's lock if lockID holds it and it has not expired.
// An expired lock of lockID is removed too, but reported as not released.
func (b *Backend) ReleaseLock(ctx context.Context, key, lockID string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, ctxError("unlock", key, err)
	}
	path := b.lockPath(key)
	released, err := b.withLocksLock(ctx, func() (bool, error) {
		cur, err := readLock(path)
		if err != nil {
			if missing(err) {
				return false, nil
			}
			return false, err
		}
		if !cur.ok || cur.token != lockID {
			return false, nil
		}
		if err := os.Remove(path); err != nil && !missing(err) {
			return false, err
		}
		return time.Now().Before(cur.expiry), nil
	})
	if err != nil {
		if ce := ctxErrorOf(ctx, err); ce != nil {
			return false, ctxError("unlock", key, ce)
		}
		return false, ioError("unlock", key, err)
	}
	return released, nil
}

// placeLock creates the lock file at path with content, atomically: the
// content goes to a temporary file that is then hard-linked to path, which
// fails when path exists. Where hard links are not supported it falls back
// to an exclusive create. It reports false when path exists.
func (b *Backend) placeLock(path string, content []byte) (bool, error) {
	tmp, f, err := createTemp(path)
	if err != nil {
		return false, err
	}
	defer os.Remove(tmp)
	_, werr := f.Write(content)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return false, werr
	}
	err = os.Link(tmp, path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrExist):
		return false, nil
	}
	// No hard links here: exclusive create, then write.
	lf, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|noFollow, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	_, werr = lf.Write(content)
	if cerr := lf.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		_ = os.Remove(path)
		return false, werr
	}
	return true, nil
}

// readLock reads and parses the lock file at path.
func readLock(path string) (lockInfo, error) {
	f, fi, err := openRegular(path, os.O_RDONLY)
	if err != nil {
		return lockInfo{}, err
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, maxLockFile))
	if err != nil {
		return lockInfo{}, err
	}
	return parseLock(raw, fi.ModTime()), nil
}

// parseLock decodes "<token> <expiry unix nanoseconds>\n".
func parseLock(raw []byte, mtime time.Time) lockInfo {
	l := lockInfo{raw: raw, mtime: mtime}
	line, ok := bytes.CutSuffix(raw, []byte{'\n'})
	if !ok {
		return l
	}
	tok, exp, ok := bytes.Cut(line, []byte{' '})
	if !ok || len(tok) == 0 {
		return l
	}
	n, err := strconv.ParseInt(string(exp), 10, 64)
	if err != nil {
		return l
	}
	l.token, l.expiry, l.ok = string(tok), time.Unix(0, n), true
	return l
}

// withLocksLock runs fn while holding the flock on ".locks.lock", waiting
// for it until ctx ends. The flock is held only for a few file operations.
func (b *Backend) withLocksLock(ctx context.Context, fn func() (bool, error)) (bool, error) {
	lf, err := openLockFile(filepath.Join(b.dir, locksLockName))
	if err != nil {
		return false, err
	}
	defer lf.Close()
	wait := 100 * time.Microsecond
	for {
		got, err := tryFlock(lf)
		if err != nil {
			return false, err
		}
		if got {
			break
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 10*time.Millisecond)
	}
	defer unflock(lf)
	return fn()
}

// openLockFile opens (creating) one of the directory's flock files. Like
// entries, it must be a regular file owned by this user: a FIFO or another
// user's file there is an error naming it, never something to wait on.
func openLockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|noFollow|nonBlock, 0o600)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil && (!fi.Mode().IsRegular() || !ownedByMe(fi)) {
		err = fmt.Errorf("%w: %s (remove it)", ErrRefusedFile, path)
	}
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	return f, nil
}

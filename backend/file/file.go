// Package file is the cachekit-go backend that keeps entries as files in a
// local directory, byte-compatible with the file backends of cachekit-py and
// cachekit-rs: processes in any of the three languages pointed at the same
// directory read each other's entries (format in header.go).
//
// Decisions, and why:
//
//   - Atomic writes. An entry is written to a temporary file in the same
//     directory ("<name>.tmp.<pid>.<n>", the pattern the reference SDKs sweep
//     up), flushed with fsync, and renamed over the entry. Readers in any
//     process see the old or the new entry, never a torn one. The fsync
//     matches the reference SDKs and keeps a crash from leaving an entry whose
//     header is on disk but whose value is not; Options.NoSync drops it for
//     throw-away caches where speed matters more.
//   - Permissions and ownership. The directory is created 0700 and files
//     0600 (only the owner can read cached values). The default directory is
//     per user (DefaultDir), never a shared name another user could create
//     first. New refuses a directory that another local user could control:
//     owned by another user, writable by group or others, or a symbolic link
//     owned by another user (the error names the path and the fix), because
//     whoever can write the directory can plant entries that read as hits.
//     Entries are opened with O_NOFOLLOW (a symbolic link planted at an
//     entry's path is a miss, never followed) and O_NONBLOCK, and only a
//     regular file owned by the effective user is read: a FIFO, device or
//     another user's file is a corrupt entry (removed, a miss), so nothing
//     planted can hang a read or pass as a value.
//   - Bad files. A file that is shorter than the header, has the wrong magic
//     or an unknown version is a miss; it is removed, counted in
//     Stats().CorruptRemoved and logged (by file name and key, never its
//     bytes). Expired entries are misses and removed when read. Removal first
//     checks that the path still names the file that was read, so an entry
//     another process has just rewritten is not deleted by mistake.
//   - Bounds. Options.MaxBytes and Options.MaxEntries bound the directory.
//     When either goes above 90 %, eviction removes expired and corrupt
//     entries first, then the least recently used (oldest modification time;
//     a read refreshes an entry's modification time at most once a minute),
//     until both are at or below 70 % (the reference SDK's thresholds). The
//     usage is tracked in memory and recounted from the directory when it
//     nears a limit and at least once per Options.ScanInterval, so writes by
//     other processes are noticed. Eviction runs in the Set that crosses the
//     threshold, under an flock on ".evict.lock", so only one process evicts at
//     a time; files that vanish meanwhile are skipped. Only files whose names
//     look like entries (32 hex digits) or their temporary files are ever
//     removed: pointing Dir at the wrong directory does not wipe it.
//   - Locks. A lock is a file ".lock.<name>" holding the holder's token and
//     expiry, created atomically with link(2) so it is never seen half
//     written. A lock whose expiry has passed is taken over; take-over and
//     release run under an flock on ".locks.lock", so two processes never
//     both take over the same stale lock and a release never removes a lock
//     that someone else just took. Names starting with "." are ignored by the
//     reference SDKs' size accounting and eviction.
//   - Context. Each operation checks its context before it starts and between
//     its steps; a single disk system call cannot be interrupted.
//   - No deletion by prefix. The backend does not implement
//     backend.PrefixDeleter, so a cached function's Clear returns
//     cachekit.ErrClearUnsupported here (its entries expire or are evicted).
//     A file's name is a hash of its key and the format shared with Python
//     and Rust stores no key inside the file, so the keys under a prefix
//     cannot be found; recording them would break byte compatibility.
package file

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cachekit-go/cachekit/backend"
)

// Defaults for Options fields left at zero. They match cachekit-py's.
const (
	// DefaultMaxBytes bounds the total size of the entry files: 1 GiB.
	DefaultMaxBytes = 1 << 30
	// DefaultMaxEntries bounds the number of entries.
	DefaultMaxEntries = 10_000
	// DefaultMaxValueSize is the largest value Set accepts (and Get reads):
	// 100 MiB.
	DefaultMaxValueSize = 100 << 20
	// DefaultScanInterval is how often, at most, the directory is recounted
	// to notice writes by other processes.
	DefaultScanInterval = time.Minute
	// EvictionTrigger and EvictionTarget are the fractions of MaxBytes and
	// MaxEntries at which eviction starts and down to which it evicts, in
	// percent.
	EvictionTrigger = 90
	EvictionTarget  = 70
	// tempMaxAge is how old a temporary file must be before a scan treats
	// it as left behind by a crashed writer (the reference SDKs use 60 s).
	tempMaxAge = time.Minute
	// touchInterval is the granularity of the LRU clock: a read refreshes an
	// entry's modification time when it is older than this.
	touchInterval = time.Minute
)

const (
	backendName   = "file"
	evictLockName = ".evict.lock"
	locksLockName = ".locks.lock"
	lockPrefix    = ".lock."
	tempInfix     = ".tmp."
)

// DefaultDir is where entries go when Options.Dir is empty: "cachekit" in the
// user's cache directory (os.UserCacheDir, e.g. ~/.cache/cachekit), or, when
// the user has none, "cachekit-<uid>" in the system's temporary directory.
// cachekit-py's default is the shared $TMPDIR/cachekit, which any local user
// can create first; to share entries with Python processes, set both to the
// same directory with CACHEKIT_FILE_CACHE_DIR.
func DefaultDir() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "cachekit")
	}
	return defaultDirFallback()
}

// Options configures a Backend.
type Options struct {
	// Dir holds the entries. It is created (0700) when missing; an existing
	// one must be owned by the effective user and not writable by group or
	// others. Default DefaultDir().
	Dir string
	// MaxBytes bounds the total size of the entries in bytes (headers
	// included). Default DefaultMaxBytes.
	MaxBytes int64
	// MaxEntries bounds the number of entries. Default DefaultMaxEntries.
	MaxEntries int
	// MaxValueSize is the largest value Set stores and Get reads, in bytes.
	// Default DefaultMaxValueSize.
	MaxValueSize int
	// ScanInterval is how often, at most, the directory is recounted.
	// Default DefaultScanInterval.
	ScanInterval time.Duration
	// NoSync skips the fsync before an entry becomes visible.
	NoSync bool
	// Logger receives records about removed corrupt files and eviction.
	// Default slog.Default().
	Logger *slog.Logger
}

// Backend stores entries as files. It implements backend.Backend,
// backend.Locker, backend.TTLInspector and backend.TTLGetter and is safe
// for concurrent use by goroutines and by several processes sharing the directory.
type Backend struct {
	dir          string
	maxBytes     int64
	maxEntries   int64
	maxValueSize int
	scanInterval time.Duration
	sync         bool
	log          *slog.Logger

	bytes    atomic.Int64 // estimated usage, recounted by scans
	entries  atomic.Int64
	lastScan atomic.Int64 // unix nanoseconds
	scanMu   sync.Mutex   // one scan at a time in this process

	evictions      atomic.Int64
	corruptRemoved atomic.Int64
	expiredRemoved atomic.Int64
}

var (
	_ backend.Backend      = (*Backend)(nil)
	_ backend.Locker       = (*Backend)(nil)
	_ backend.TTLInspector = (*Backend)(nil)
	_ backend.TTLGetter    = (*Backend)(nil)
)

// ErrValueTooLarge reports a value above Options.MaxValueSize; the
// *backend.Error carrying it is Permanent.
var ErrValueTooLarge = errors.New("file: value too large")

// New opens (creating when needed) the directory in opts and counts what it
// holds. It also removes temporary files left behind by crashed writers. It
// refuses a directory another local user could control (see the package
// documentation).
func New(opts Options) (*Backend, error) {
	b := &Backend{
		dir:          opts.Dir,
		maxBytes:     opts.MaxBytes,
		maxEntries:   int64(opts.MaxEntries),
		maxValueSize: opts.MaxValueSize,
		scanInterval: opts.ScanInterval,
		sync:         !opts.NoSync,
		log:          opts.Logger,
	}
	if b.dir == "" {
		b.dir = DefaultDir()
	}
	if b.maxBytes <= 0 {
		b.maxBytes = DefaultMaxBytes
	}
	if b.maxEntries <= 0 {
		b.maxEntries = DefaultMaxEntries
	}
	b.maxBytes, b.maxEntries = min(b.maxBytes, maxLimit), min(b.maxEntries, maxLimit)
	if b.maxValueSize <= 0 {
		b.maxValueSize = DefaultMaxValueSize
	}
	if b.scanInterval <= 0 {
		b.scanInterval = DefaultScanInterval
	}
	if b.log == nil {
		b.log = slog.Default()
	}
	if err := os.MkdirAll(b.dir, 0o700); err != nil {
		return nil, fmt.Errorf("file: create cache directory: %w", err)
	}
	if err := checkDir(b.dir); err != nil {
		return nil, err
	}
	if err := b.scan(context.Background()); err != nil {
		return nil, err
	}
	return b, nil
}

// Dir returns the directory that holds the entries.
func (b *Backend) Dir() string { return b.dir }

// Path returns the path of the file that holds key.
func (b *Backend) Path(key string) string { return filepath.Join(b.dir, FileName(key)) }

// Stats describes the directory and what the backend removed.
type Stats struct {
	Entries        int64 // entries counted (an estimate between scans)
	Bytes          int64 // bytes of the entry files (an estimate between scans)
	Evictions      int64 // entries removed to stay within the limits
	ExpiredRemoved int64 // expired entries removed when read or by eviction
	CorruptRemoved int64 // corrupt or foreign files removed
}

// Stats returns the backend's counters.
func (b *Backend) Stats() Stats {
	return Stats{
		Entries:        b.entries.Load(),
		Bytes:          b.bytes.Load(),
		Evictions:      b.evictions.Load(),
		ExpiredRemoved: b.expiredRemoved.Load(),
		CorruptRemoved: b.corruptRemoved.Load(),
	}
}

// Get returns the value under key. Corrupt and expired entries are misses
// and are removed.
func (b *Backend) Get(ctx context.Context, key string) ([]byte, bool, error) {
	v, _, found, err := b.GetWithTTL(ctx, key)
	return v, found, err
}

// GetWithTTL returns the value under key and its remaining lifetime (0: no
// expiry), both from the one file read: the header holds the expiry. An entry
// in its last second reports at least a nanosecond, never 0 (which would mean
// "no expiry").
func (b *Backend) GetWithTTL(ctx context.Context, key string) ([]byte, time.Duration, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, false, ctxError("get", key, err)
	}
	path := b.Path(key)
	f, fi, err := openRegular(path, os.O_RDONLY)
	if err != nil {
		if missing(err) {
			return nil, 0, false, nil
		}
		if errors.Is(err, ErrRefusedFile) {
			b.removeCorrupt(path, fi, key, err)
			return nil, 0, false, nil
		}
		return nil, 0, false, ioError("get", key, err)
	}
	defer f.Close()
	size := fi.Size()
	if size > HeaderSize+int64(b.maxValueSize) {
		return nil, 0, false, backend.NewError(backend.Permanent, backendName, "get", key,
			fmt.Errorf("%w: the entry holds %d bytes, Options.MaxValueSize is %d", ErrValueTooLarge, size-HeaderSize, b.maxValueSize))
	}
	data := make([]byte, size)
	n, err := io.ReadFull(f, data)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, 0, false, ioError("get", key, err)
	}
	data = data[:n]
	now := time.Now()
	h, err := parseHeader(data)
	if err != nil {
		b.removeCorrupt(path, fi, key, err)
		return nil, 0, false, nil
	}
	if h.expired(now) {
		b.removeExpired(path, fi)
		return nil, 0, false, nil
	}
	if now.Sub(fi.ModTime()) > touchInterval {
		// The LRU clock: a read entry is young again for eviction.
		_ = os.Chtimes(path, time.Time{}, now)
	}
	var rem time.Duration
	if h.expiry != 0 {
		rem = max(h.remaining(now), time.Nanosecond)
	}
	return data[HeaderSize:], rem, true, nil
}

// Set stores value under key for ttl (0 = no expiry) with an atomic rename.
func (b *Backend) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return ctxError("set", key, err)
	}
	if ttl < 0 {
		return backend.NewError(backend.Permanent, backendName, "set", key, fmt.Errorf("negative TTL %v", ttl))
	}
	if len(value) > b.maxValueSize {
		return backend.NewError(backend.Permanent, backendName, "set", key,
			fmt.Errorf("%w: value is %d bytes, Options.MaxValueSize is %d", ErrValueTooLarge, len(value), b.maxValueSize))
	}
	path := b.Path(key)
	hdr := appendHeader(make([]byte, 0, HeaderSize), expiryFor(ttl, time.Now()))
	if err := b.writeAtomic(ctx, path, hdr, value); err != nil {
		if ce := ctxErrorOf(ctx, err); ce != nil {
			return ctxError("set", key, ce)
		}
		return ioError("set", key, err)
	}
	b.maybeEvict(ctx)
	return nil
}

// writeAtomic writes hdr+value to a temporary file and renames it to path,
// updating the usage estimate.
func (b *Backend) writeAtomic(ctx context.Context, path string, hdr, value []byte) (err error) {
	tmp, f, err := createTemp(path)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if _, err = f.Write(hdr); err != nil {
		return err
	}
	if _, err = f.Write(value); err != nil {
		return err
	}
	if b.sync {
		if err = f.Sync(); err != nil {
			return err
		}
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = ctx.Err(); err != nil {
		return err
	}
	old, statErr := os.Lstat(path)
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	size := int64(len(hdr) + len(value))
	if statErr == nil && old.Mode().IsRegular() {
		b.bytes.Add(size - old.Size())
	} else {
		b.bytes.Add(size)
		b.entries.Add(1)
	}
	return nil
}

// tempSeq makes temporary file names unique within this process.
var tempSeq atomic.Uint64

// createTemp creates "<path>.tmp.<pid>.<n>" exclusively, mode 0600.
func createTemp(path string) (string, *os.File, error) {
	for {
		n := uint64(time.Now().UnixNano()) + tempSeq.Add(1)
		tmp := path + tempInfix + strconv.Itoa(os.Getpid()) + "." + strconv.FormatUint(n, 10)
		f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL|noFollow, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return tmp, f, err
	}
}

// Delete removes key and reports whether it held a live entry.
func (b *Backend) Delete(ctx context.Context, key string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, ctxError("delete", key, err)
	}
	path := b.Path(key)
	h, fi, err := b.readHeader(path)
	if err != nil {
		if missing(err) {
			return false, nil
		}
		return false, ioError("delete", key, err)
	}
	if err := os.Remove(path); err != nil {
		if missing(err) {
			return false, nil
		}
		return false, ioError("delete", key, err)
	}
	b.forget(fi)
	live := h != nil && !h.expired(time.Now())
	return live, nil
}

// Exists reports whether key holds a live entry, reading only its header.
func (b *Backend) Exists(ctx context.Context, key string) (bool, error) {
	h, err := b.liveHeader(ctx, "exists", key)
	return h != nil, err
}

// TTL returns the remaining lifetime of key from its header.
func (b *Backend) TTL(ctx context.Context, key string) (time.Duration, bool, error) {
	h, err := b.liveHeader(ctx, "ttl", key)
	if h == nil || err != nil {
		return 0, false, err
	}
	if h.expiry == 0 {
		return 0, true, nil
	}
	return max(h.remaining(time.Now()), time.Nanosecond), true, nil
}

// RefreshTTL rewrites the expiry field of key's header in place (8 bytes at
// offset 6, like the reference SDKs); the value is not touched.
func (b *Backend) RefreshTTL(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, ctxError("refresh_ttl", key, err)
	}
	if ttl < 0 {
		return false, backend.NewError(backend.Permanent, backendName, "refresh_ttl", key, fmt.Errorf("negative TTL %v", ttl))
	}
	path := b.Path(key)
	f, fi, err := openRegular(path, os.O_RDWR)
	if err != nil {
		if missing(err) {
			return false, nil
		}
		if errors.Is(err, ErrRefusedFile) {
			b.removeCorrupt(path, fi, key, err)
			return false, nil
		}
		return false, ioError("refresh_ttl", key, err)
	}
	defer f.Close()
	var buf [HeaderSize]byte
	n, err := io.ReadFull(f, buf[:])
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return false, ioError("refresh_ttl", key, err)
	}
	now := time.Now()
	h, err := parseHeader(buf[:n])
	if err != nil {
		b.removeCorrupt(path, fi, key, err)
		return false, nil
	}
	if h.expired(now) {
		b.removeExpired(path, fi)
		return false, nil
	}
	var exp [8]byte
	binary.BigEndian.PutUint64(exp[:], expiryFor(ttl, now))
	if _, err := f.WriteAt(exp[:], expiryOffset); err != nil {
		return false, ioError("refresh_ttl", key, err)
	}
	if b.sync {
		if err := f.Sync(); err != nil {
			return false, ioError("refresh_ttl", key, err)
		}
	}
	return true, nil
}

// liveHeader returns key's header when it holds a live entry (nil for a
// miss), removing corrupt and expired files.
func (b *Backend) liveHeader(ctx context.Context, op, key string) (*header, error) {
	if err := ctx.Err(); err != nil {
		return nil, ctxError(op, key, err)
	}
	path := b.Path(key)
	h, fi, err := b.readHeader(path)
	if err != nil {
		if missing(err) {
			return nil, nil
		}
		return nil, ioError(op, key, err)
	}
	if h == nil {
		b.removeCorrupt(path, fi, key, ErrCorrupt)
		return nil, nil
	}
	if h.expired(time.Now()) {
		b.removeExpired(path, fi)
		return nil, nil
	}
	return h, nil
}

// readHeader reads the header of the file at path. h is nil (and err nil)
// for a file that is not a valid entry, including one openRegular refuses.
func (b *Backend) readHeader(path string) (h *header, fi fs.FileInfo, err error) {
	f, fi, err := openRegular(path, os.O_RDONLY)
	if errors.Is(err, ErrRefusedFile) {
		return nil, fi, nil
	}
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	var buf [HeaderSize]byte
	n, err := io.ReadFull(f, buf[:])
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, nil, err
	}
	parsed, perr := parseHeader(buf[:n])
	if perr != nil {
		return nil, fi, nil
	}
	return &parsed, fi, nil
}

// ErrRefusedFile reports a file in the cache directory that is not read
// because it is not a regular file (a FIFO, a device, a directory) or is
// owned by another user: either was planted, since this package writes
// neither. An entry path holding one is a miss and the file is removed.
var ErrRefusedFile = errors.New("file: not a regular file owned by this user")

// openRegular opens path without following a symbolic link and without
// blocking (a FIFO would otherwise hang the open until a writer appears),
// and returns it only if it is a regular file owned by the effective user.
// Otherwise the error wraps ErrRefusedFile and fi describes the refused
// file (for removeCorrupt).
func openRegular(path string, flag int) (*os.File, fs.FileInfo, error) {
	f, err := os.OpenFile(path, flag|noFollow|nonBlock, 0)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, nil, err
	}
	switch {
	case !fi.Mode().IsRegular():
		_ = f.Close()
		return nil, fi, fmt.Errorf("%w: %s is a %v", ErrRefusedFile, filepath.Base(path), fi.Mode().Type())
	case !ownedByMe(fi):
		_ = f.Close()
		return nil, fi, fmt.Errorf("%w: %s belongs to another user", ErrRefusedFile, filepath.Base(path))
	}
	return f, fi, nil
}

// removeCorrupt removes a file that is not a valid entry, counts and logs it.
func (b *Backend) removeCorrupt(path string, fi fs.FileInfo, key string, why error) {
	if removeSame(path, fi) {
		b.corruptRemoved.Add(1)
		b.forget(fi)
		b.log.LogAttrs(context.Background(), slog.LevelWarn, "file: removed corrupt cache file",
			slog.String("file", filepath.Base(path)), slog.String("key", key), slog.String("reason", why.Error()))
	}
}

// removeExpired removes an expired entry.
func (b *Backend) removeExpired(path string, fi fs.FileInfo) {
	if removeSame(path, fi) {
		b.expiredRemoved.Add(1)
		b.forget(fi)
	}
}

// forget takes a removed file out of the usage estimate.
func (b *Backend) forget(fi fs.FileInfo) {
	if fi != nil {
		b.bytes.Add(-fi.Size())
		b.entries.Add(-1)
	}
}

// removeSame removes path only if it still is the file described by fi, so
// an entry that another writer renamed into place after fi was read
// survives. It reports whether it removed the file.
func removeSame(path string, fi fs.FileInfo) bool {
	cur, err := os.Lstat(path)
	if err != nil || !os.SameFile(cur, fi) {
		return false
	}
	return os.Remove(path) == nil
}

// HealthCheck writes, reads and deletes a probe entry. details carries
// backend_type, latency_ms, dir, entries, bytes, max_entries, max_bytes and,
// when unhealthy, error.
func (b *Backend) HealthCheck(ctx context.Context) (bool, map[string]any) {
	start := time.Now()
	var r [8]byte
	_, _ = rand.Read(r[:])
	key := "__health_check__:" + hex.EncodeToString(r[:])
	probe := []byte("health_check_data")
	err := b.Set(ctx, key, probe, time.Minute)
	if err == nil {
		var got []byte
		var found bool
		got, found, err = b.Get(ctx, key)
		if err == nil && (!found || string(got) != string(probe)) {
			err = errors.New("file: health probe did not read back")
		}
		_, _ = b.Delete(context.WithoutCancel(ctx), key)
	}
	st := b.Stats()
	details := map[string]any{
		backend.DetailBackendType: backendName,
		backend.DetailLatencyMS:   float64(time.Since(start).Microseconds()) / 1000,
		"dir":                     b.dir,
		"entries":                 st.Entries,
		"bytes":                   st.Bytes,
		"max_entries":             b.maxEntries,
		"max_bytes":               b.maxBytes,
	}
	if err != nil {
		details[backend.DetailError] = err.Error()
		return false, details
	}
	return true, details
}

// missing reports an error that means "no entry": the file does not exist,
// or it is a symbolic link refused by O_NOFOLLOW.
func missing(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || isSymlink(err)
}

// ctxErrorOf returns the context's error when err was caused by it.
func ctxErrorOf(ctx context.Context, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

// ctxError reports an operation stopped by its context: Timeout for an
// expired deadline, Transient (not retried, see backend.IsTransient) for a
// cancellation.
func ctxError(op, key string, err error) *backend.Error {
	kind := backend.Timeout
	if errors.Is(err, context.Canceled) {
		kind = backend.Transient
	}
	return backend.NewError(kind, backendName, op, key, err)
}

// ioError classifies a file system failure: a full disk may clear up
// (Transient); missing permissions and a read-only file system will not
// (Permanent); anything else is Transient.
func ioError(op, key string, err error) *backend.Error {
	kind := backend.Transient
	switch {
	case errors.Is(err, fs.ErrPermission), errors.Is(err, syscall.EROFS), errors.Is(err, syscall.ENOTDIR), errors.Is(err, syscall.EISDIR):
		kind = backend.Permanent
	}
	return backend.NewError(kind, backendName, op, key, err)
}

// ReadBudget is the default read budget the cache gives this backend
// (backend.ReadBudgeter): backend.LocalReadBudget.
func (b *Backend) ReadBudget() time.Duration { return backend.LocalReadBudget }

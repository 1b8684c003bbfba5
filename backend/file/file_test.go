package file

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/backend"
	"github.com/cachekit-go/cachekit/backend/backendtest"
)

func newTestBackend(t *testing.T, opts Options) *Backend {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	b, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return b
}

func TestConformance(t *testing.T) {
	t.Parallel()
	b := newTestBackend(t, Options{})
	backendtest.Run(t, func(t *testing.T) backend.Backend { return b }, backendtest.WithTTLResolution(time.Second))
}

// entryBytes builds an entry file by hand from the specification.
func entryBytes(flags uint16, expiry uint64, value string) []byte {
	out := []byte{'C', 'K', 0x01, 0x00}
	out = binary.BigEndian.AppendUint16(out, flags)
	out = binary.BigEndian.AppendUint64(out, expiry)
	return append(out, value...)
}

func TestByteLayout(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := newTestBackend(t, Options{})
	// File names computed with Python's hashlib.blake2b(key, digest_size=16).
	names := map[string]string{
		"user:123":                              "2f67918399d2d3551998794c4b3601c7",
		"":                                      "cae66941d9efbd404e4d88758ea67670",
		"ns:app:func:main.get_user:args:abc:1s": "53ce81e6eb45efff637aa0f9ec3f0ea4",
		"käse":                                  "e2bb5c02baa3aac0990f4144108d8293",
	}
	for key, name := range names {
		if got := FileName(key); got != name {
			t.Errorf("FileName(%q) = %s, want %s", key, got, name)
		}
		if err := b.Set(ctx, key, []byte("hello"), 0); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(b.Dir(), name))
		if err != nil {
			t.Fatalf("entry for %q not at %s: %v", key, name, err)
		}
		if want := entryBytes(0, 0, "hello"); !bytes.Equal(got, want) {
			t.Errorf("file of %q = % x, want % x", key, got, want)
		}
	}
	before := time.Now().Unix()
	if err := b.Set(ctx, "user:123", []byte("v"), time.Hour); err != nil {
		t.Fatal(err)
	}
	after := time.Now().Unix()
	got, _ := os.ReadFile(filepath.Join(b.Dir(), names["user:123"]))
	if len(got) != HeaderSize+1 || !bytes.Equal(got[:6], []byte("CK\x01\x00\x00\x00")) || got[14] != 'v' {
		t.Fatalf("file = % x", got)
	}
	exp := int64(binary.BigEndian.Uint64(got[6:14]))
	if exp < before+3600 || exp > after+3600 {
		t.Fatalf("expiry %d, want within [%d, %d]", exp, before+3600, after+3600)
	}
}

func TestReadsFilesOfOtherWriters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := newTestBackend(t, Options{})
	now := uint64(time.Now().Unix())
	write := func(key string, content []byte) string {
		path := filepath.Join(b.Dir(), FileName(key))
		if err := os.WriteFile(path, content, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	// Flags are not interpreted: a writer that sets them is still read.
	write("flags", entryBytes(0xabcd, 0, "flagged"))
	if v, found, err := b.Get(ctx, "flags"); err != nil || !found || string(v) != "flagged" {
		t.Fatalf("Get(flags) = %q, %v, %v", v, found, err)
	}
	write("ttl", entryBytes(0, now+100, "v"))
	if rem, found, err := b.TTL(ctx, "ttl"); err != nil || !found || rem < 98*time.Second || rem > 100*time.Second {
		t.Fatalf("TTL = %v, %v, %v; want about 100s", rem, found, err)
	}
	write("forever", entryBytes(0, 0, "v"))
	if rem, found, err := b.TTL(ctx, "forever"); err != nil || !found || rem != 0 {
		t.Fatalf("TTL(no expiry) = %v, %v, %v", rem, found, err)
	}
	path := write("expired", entryBytes(0, now-10, "old"))
	if _, found, err := b.Get(ctx, "expired"); err != nil || found {
		t.Fatalf("Get(expired) found=%v err=%v", found, err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("expired entry not removed: %v", err)
	}
	if b.Stats().ExpiredRemoved != 1 {
		t.Fatalf("stats %+v, want one expired removal", b.Stats())
	}
	// An empty value is a value.
	write("empty", entryBytes(0, 0, ""))
	if v, found, err := b.Get(ctx, "empty"); err != nil || !found || len(v) != 0 {
		t.Fatalf("Get(empty) = %q, %v, %v", v, found, err)
	}
}

func TestPermissions(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "a", "cache")
	b := newTestBackend(t, Options{Dir: dir})
	ctx := context.Background()
	if err := b.Set(ctx, "k", []byte("secret"), 0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.AcquireLock(ctx, "k", time.Minute); err != nil {
		t.Fatal(err)
	}
	check := func(path string, want fs.FileMode) {
		t.Helper()
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s has mode %v, want %v", filepath.Base(path), got, want)
		}
	}
	check(dir, 0o700)
	check(b.Path("k"), 0o600)
	check(b.lockPath("k"), 0o600)
	check(filepath.Join(dir, evictLockName), 0o600)
}

func TestCorruptFilesAreMissesAndRemoved(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		content []byte
	}{
		{"empty", nil},
		{"short header", []byte("CK\x01\x00\x00")},
		{"magic only", []byte("CK")},
		{"bad magic", entryBytes(0, 0, "x")[2:]},
		{"foreign file", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")},
		{"unknown version", append([]byte("CK\x02\x00"), make([]byte, 12)...)},
		{"version zero", append([]byte("CK\x00\x00"), make([]byte, 12)...)},
	}
	ops := entryOps()
	delete(ops, "Delete") // it removes any file without judging it
	for _, tt := range tests {
		for opName, op := range ops {
			t.Run(tt.name+"/"+opName, func(t *testing.T) {
				t.Parallel()
				b := newTestBackend(t, Options{})
				path := b.Path("k")
				if err := os.WriteFile(path, tt.content, 0o600); err != nil {
					t.Fatal(err)
				}
				found, err := op(b, "k")
				if err != nil || found {
					t.Fatalf("%s on a corrupt file: found=%v err=%v, want a miss", opName, found, err)
				}
				if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
					t.Fatalf("corrupt file not removed: %v", err)
				}
				if b.Stats().CorruptRemoved != 1 {
					t.Fatalf("stats %+v, want one corrupt removal counted", b.Stats())
				}
			})
		}
	}
}

func TestSymlinkIsAMissAndNotFollowed(t *testing.T) {
	t.Parallel()
	b := newTestBackend(t, Options{})
	target := filepath.Join(t.TempDir(), "target")
	content := entryBytes(0, 0, "planted")
	if err := os.WriteFile(target, content, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, b.Path("k")); err != nil {
		t.Skipf("symlinks not supported: %v", err)
	}
	if _, found, err := b.Get(context.Background(), "k"); err != nil || found {
		t.Fatalf("Get through a symlink: found=%v err=%v", found, err)
	}
	if ok, err := b.RefreshTTL(context.Background(), "k", time.Hour); err != nil || ok {
		t.Fatalf("RefreshTTL through a symlink = %v, %v", ok, err)
	}
	if got, _ := os.ReadFile(target); !bytes.Equal(got, content) {
		t.Fatalf("symlink target changed")
	}
}

func TestValueSizeLimit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	small := newTestBackend(t, Options{MaxValueSize: 10})
	err := small.Set(ctx, "k", make([]byte, 11), 0)
	if backend.KindOf(err) != backend.Permanent || !errors.Is(err, ErrValueTooLarge) {
		t.Fatalf("Set over the limit: %v, want Permanent ErrValueTooLarge", err)
	}
	if _, err := os.Stat(small.Path("k")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("refused value was written")
	}
	// An entry written by a process with a larger limit is refused on read,
	// and left in place for that process.
	big := newTestBackend(t, Options{Dir: small.Dir()})
	if err := big.Set(ctx, "k", make([]byte, 11), 0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := small.Get(ctx, "k"); backend.KindOf(err) != backend.Permanent || !errors.Is(err, ErrValueTooLarge) {
		t.Fatalf("Get of an oversized entry: %v, want Permanent ErrValueTooLarge", err)
	}
	if _, found, _ := big.Get(ctx, "k"); !found {
		t.Fatalf("oversized entry was removed")
	}
}

func TestRefreshTTLKeepsValue(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := newTestBackend(t, Options{})
	if err := b.Set(ctx, "k", []byte("value"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.RefreshTTL(ctx, "k", 0); err != nil || !ok {
		t.Fatalf("RefreshTTL(0) = %v, %v", ok, err)
	}
	raw, _ := os.ReadFile(b.Path("k"))
	if !bytes.Equal(raw, entryBytes(0, 0, "value")) {
		t.Fatalf("file after RefreshTTL(0) = % x", raw)
	}
	if ok, err := b.RefreshTTL(ctx, "k", 2*time.Hour); err != nil || !ok {
		t.Fatalf("RefreshTTL(2h) = %v, %v", ok, err)
	}
	if rem, _, _ := b.TTL(ctx, "k"); rem < 2*time.Hour-time.Minute || rem > 2*time.Hour {
		t.Fatalf("TTL after RefreshTTL(2h) = %v", rem)
	}
	if _, err := b.RefreshTTL(ctx, "k", -1); backend.KindOf(err) != backend.Permanent {
		t.Fatalf("RefreshTTL(-1): %v, want Permanent", err)
	}
}

func TestDeleteReportsLiveEntriesOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := newTestBackend(t, Options{})
	_ = os.WriteFile(b.Path("expired"), entryBytes(0, 1, "x"), 0o600)
	if ok, err := b.Delete(ctx, "expired"); err != nil || ok {
		t.Fatalf("Delete(expired) = %v, %v; want false", ok, err)
	}
	if _, err := os.Stat(b.Path("expired")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("expired file not removed by Delete")
	}
}

func TestExpiryFor(t *testing.T) {
	t.Parallel()
	base := time.Unix(1_700_000_000, 0)
	tests := []struct {
		now  time.Time
		ttl  time.Duration
		want uint64
	}{
		{base, 0, 0},
		{base, time.Second, 1_700_000_001},
		{base, time.Nanosecond, 1_700_000_001},
		{base.Add(700 * time.Millisecond), 500 * time.Millisecond, 1_700_000_001},
		{base.Add(200 * time.Millisecond), 500 * time.Millisecond, 1_700_000_001},
		{base.Add(700 * time.Millisecond), time.Second, 1_700_000_001},
		{base, 90 * time.Minute, 1_700_005_400},
		{base, time.Duration(1<<63 - 1), 1_700_000_000 + 9_223_372_036},
	}
	for _, tt := range tests {
		got := expiryFor(tt.ttl, tt.now)
		if got != tt.want {
			t.Errorf("expiryFor(%v, %v) = %d, want %d", tt.ttl, tt.now, got, tt.want)
		}
		h := header{expiry: got}
		// Never served past its TTL, never dead on arrival.
		if tt.ttl > 0 && !h.expired(tt.now.Add(tt.ttl).Add(time.Second)) {
			t.Errorf("ttl %v at %v: still alive a second after its TTL", tt.ttl, tt.now)
		}
		if tt.ttl > 0 && h.expired(tt.now) {
			t.Errorf("ttl %v at %v: expired on arrival", tt.ttl, tt.now)
		}
	}
}

// countEntries counts the entry files in dir and their bytes.
func countEntries(t *testing.T, dir string) (n int, size int64) {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range des {
		if isEntryName(de.Name()) {
			fi, _ := de.Info()
			n++
			size += fi.Size()
		}
	}
	return n, size
}

func TestEvictionByEntries(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := newTestBackend(t, Options{MaxEntries: 100})
	key := func(i int) string { return "k" + strconv.Itoa(i) }
	// 89 entries with distinct, increasing modification times, and one that
	// is expired but was written last.
	old := time.Now().Add(-time.Hour)
	for i := range 89 {
		if err := b.Set(ctx, key(i), []byte("v"), 0); err != nil {
			t.Fatal(err)
		}
		mt := old.Add(time.Duration(i) * time.Second)
		_ = os.Chtimes(b.Path(key(i)), mt, mt)
	}
	if err := b.Set(ctx, "expired", []byte("v"), time.Hour); err != nil {
		t.Fatal(err)
	}
	_ = os.WriteFile(b.Path("expired"), entryBytes(0, 1, "v"), 0o600)
	if n, _ := countEntries(t, b.Dir()); n != 90 {
		t.Fatalf("%d entries at exactly 90 %%: eviction started too early", n)
	}
	// The 91st entry crosses 90 %: down to 70 %, expired first, then oldest.
	if err := b.Set(ctx, "new", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	if n, _ := countEntries(t, b.Dir()); n != 70 {
		t.Fatalf("%d entries after crossing 90 %%, want 70", n)
	}
	if ok, _ := b.Exists(ctx, "new"); !ok {
		t.Fatalf("the entry just written was evicted")
	}
	for i := range 89 {
		ok, _ := b.Exists(ctx, key(i))
		if want := i >= 20; ok != want {
			t.Fatalf("entry %d (mtime rank %d) present=%v, want %v: not the oldest evicted", i, i, ok, want)
		}
	}
	st := b.Stats()
	if st.Evictions != 20 || st.ExpiredRemoved != 1 || st.Entries != 70 {
		t.Fatalf("stats %+v, want 20 evictions, 1 expired removal, 70 entries", st)
	}
}

func TestEvictionByBytes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const limit = 10 * 1024
	b := newTestBackend(t, Options{MaxBytes: limit})
	value := make([]byte, 1024)
	for i := range 30 {
		if err := b.Set(ctx, "k"+strconv.Itoa(i), value, 0); err != nil {
			t.Fatal(err)
		}
		if _, size := countEntries(t, b.Dir()); size*100 > limit*EvictionTrigger {
			t.Fatalf("after Set %d: %d bytes, above 90 %% of %d", i, size, limit)
		}
	}
	if b.Stats().Evictions == 0 {
		t.Fatalf("no evictions while writing 3x the byte limit")
	}
}

func TestEvictionSeesOtherWritersAndLeavesForeignFilesAlone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	foreign := []string{"README.txt", "notes.tmp.1", ".hidden", "0123456789abcdef0123456789ABCDEF"}
	for _, name := range foreign {
		_ = os.WriteFile(filepath.Join(dir, name), []byte("keep me"), 0o600)
	}
	_ = os.Mkdir(filepath.Join(dir, "subdir"), 0o700)
	// Two backends (standing in for two processes) each see only their own
	// writes until they recount; ScanInterval 1ns recounts on every Set.
	a := newTestBackend(t, Options{Dir: dir, MaxEntries: 100, ScanInterval: time.Nanosecond})
	b := newTestBackend(t, Options{Dir: dir, MaxEntries: 100, ScanInterval: time.Nanosecond})
	for i := range 60 {
		if err := a.Set(ctx, "a"+strconv.Itoa(i), []byte("v"), 0); err != nil {
			t.Fatal(err)
		}
		if err := b.Set(ctx, "b"+strconv.Itoa(i), []byte("v"), 0); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := countEntries(t, dir); n > 90 {
		t.Fatalf("%d entries: the writers did not see each other's entries", n)
	}
	for _, name := range append(foreign, "subdir") {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("foreign file %s was removed: %v", name, err)
		}
	}
}

func TestLeftoverTempFilesRemoved(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	name := FileName("k")
	oldTmp := filepath.Join(dir, name+".tmp.123.456")
	youngTmp := filepath.Join(dir, name+".tmp.123.789")
	oldLockTmp := filepath.Join(dir, lockPrefix+name+".tmp.123.456")
	for _, p := range []string{oldTmp, youngTmp, oldLockTmp} {
		_ = os.WriteFile(p, []byte("partial"), 0o600)
	}
	past := time.Now().Add(-2 * tempMaxAge)
	_ = os.Chtimes(oldTmp, past, past)
	_ = os.Chtimes(oldLockTmp, past, past)
	newTestBackend(t, Options{Dir: dir})
	if _, err := os.Stat(oldTmp); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("old temp file survived New")
	}
	if _, err := os.Stat(oldLockTmp); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("old lock temp file survived New")
	}
	if _, err := os.Stat(youngTmp); err != nil {
		t.Errorf("a temp file that may still be written was removed: %v", err)
	}
}

func TestStaleLocks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := newTestBackend(t, Options{})
	write := func(key, content string, mtime time.Time) {
		p := b.lockPath(key)
		_ = os.WriteFile(p, []byte(content), 0o600)
		_ = os.Chtimes(p, mtime, mtime)
	}
	now := time.Now()
	expired := "deadbeef " + strconv.FormatInt(now.Add(-time.Second).UnixNano(), 10) + "\n"
	live := "cafe " + strconv.FormatInt(now.Add(time.Hour).UnixNano(), 10) + "\n"
	tests := []struct {
		name    string
		content string
		mtime   time.Time
		wantOK  bool
	}{
		{"expired lock is taken over", expired, now, true},
		{"live lock is respected", live, now, false},
		{"half-written lock is respected", "abc", now, false},
		{"old garbage lock is taken over", "abc", now.Add(-time.Minute), true},
	}
	for _, tt := range tests {
		key := "k-" + tt.name
		write(key, tt.content, tt.mtime)
		id, ok, err := b.AcquireLock(ctx, key, time.Minute)
		if err != nil || ok != tt.wantOK {
			t.Errorf("%s: AcquireLock = %q, %v, %v; want ok=%v", tt.name, id, ok, err, tt.wantOK)
		}
	}
	// The holder of an expired lock cannot release it (the lock is cleaned
	// up all the same), and a holder can release only its own lock.
	write("mine", expired, now)
	if ok, err := b.ReleaseLock(ctx, "mine", "deadbeef"); err != nil || ok {
		t.Errorf("ReleaseLock of an expired lock = %v, %v", ok, err)
	}
	if _, err := os.Stat(b.lockPath("mine")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("expired lock not cleaned up by its holder's release")
	}
	write("theirs", live, now)
	if ok, _ := b.ReleaseLock(ctx, "theirs", "deadbeef"); ok {
		t.Errorf("released someone else's lock")
	}
	if _, err := os.Stat(b.lockPath("theirs")); err != nil {
		t.Errorf("someone else's lock was removed")
	}
}

func TestHealthCheck(t *testing.T) {
	t.Parallel()
	b := newTestBackend(t, Options{})
	ok, d := b.HealthCheck(context.Background())
	if !ok || d[backend.DetailBackendType] != "file" || d["entries"] != int64(0) {
		t.Fatalf("HealthCheck = %v, %v", ok, d)
	}
	// A directory that became unwritable is unhealthy.
	if os.Getuid() == 0 {
		return // root writes anywhere
	}
	_ = os.Chmod(b.Dir(), 0o500)
	defer os.Chmod(b.Dir(), 0o700)
	if ok, d := b.HealthCheck(context.Background()); ok || d[backend.DetailError] == nil {
		t.Fatalf("HealthCheck on a read-only directory = %v, %v", ok, d)
	}
}

func TestNewRejectsAFile(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "f")
	_ = os.WriteFile(p, nil, 0o600)
	if _, err := New(Options{Dir: p}); err == nil || !strings.Contains(err.Error(), "directory") {
		t.Fatalf("New on a regular file: %v", err)
	}
}

// FuzzParseHeader: any bytes either parse into a header that re-encodes to
// the same expiry, or fail with ErrCorrupt; never a panic.
func FuzzParseHeader(f *testing.F) {
	f.Add(entryBytes(0, 0, "v"))
	f.Add(entryBytes(0xffff, 1<<63, ""))
	f.Add([]byte("CK\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"))
	f.Add([]byte("CK"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := parseHeader(data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		if len(data) < HeaderSize || data[0] != 'C' || data[1] != 'K' || data[2] != FormatVersion {
			t.Fatalf("accepted % x", data)
		}
		again, err := parseHeader(appendHeader(nil, h.expiry))
		if err != nil || again.expiry != h.expiry {
			t.Fatalf("re-encoding expiry %d gave %d, %v", h.expiry, again.expiry, err)
		}
		_ = h.expired(time.Now())
		_ = h.remaining(time.Now())
	})
}

// FuzzParseLock: lock files from other processes are parsed without panics,
// and what parses is a token and an expiry.
func FuzzParseLock(f *testing.F) {
	f.Add([]byte("abc 123\n"))
	f.Add([]byte("abc -1\n"))
	f.Add([]byte(" 1\n"))
	f.Add([]byte("abc"))
	f.Fuzz(func(t *testing.T, data []byte) {
		l := parseLock(data, time.Now())
		if l.ok && (l.token == "" || strings.ContainsAny(l.token, " ")) {
			t.Fatalf("parsed %q into token %q", data, l.token)
		}
		_ = l.stale(time.Now())
	})
}

func TestOptionsFromEnv(t *testing.T) {
	// Not parallel: it sets environment variables.
	t.Setenv(EnvDir, "/tmp/x")
	t.Setenv(EnvMaxSizeMB, "10")
	t.Setenv(EnvMaxEntries, "500")
	t.Setenv(EnvMaxValueMB, "2")
	opts, err := OptionsFromEnv()
	if err != nil || opts.Dir != "/tmp/x" || opts.MaxBytes != 10<<20 || opts.MaxEntries != 500 || opts.MaxValueSize != 2<<20 {
		t.Fatalf("OptionsFromEnv = %+v, %v", opts, err)
	}
	for _, bad := range []string{"0", "-1", "ten", "1.5", "99999999999999999999"} {
		t.Setenv(EnvMaxEntries, bad)
		if _, err := OptionsFromEnv(); err == nil || !strings.Contains(err.Error(), EnvMaxEntries) {
			t.Errorf("%s=%q: %v, want an error naming the variable", EnvMaxEntries, bad, err)
		}
	}
}

// entryOps are the operations that open an entry file; each reports whether
// it found a live entry.
func entryOps() map[string]func(b *Backend, key string) (bool, error) {
	return map[string]func(b *Backend, key string) (bool, error){
		"Get": func(b *Backend, key string) (bool, error) {
			_, found, err := b.Get(context.Background(), key)
			return found, err
		},
		"Exists": func(b *Backend, key string) (bool, error) { return b.Exists(context.Background(), key) },
		"TTL": func(b *Backend, key string) (bool, error) {
			_, found, err := b.TTL(context.Background(), key)
			return found, err
		},
		"RefreshTTL": func(b *Backend, key string) (bool, error) {
			return b.RefreshTTL(context.Background(), key, time.Hour)
		},
		"Delete": func(b *Backend, key string) (bool, error) { return b.Delete(context.Background(), key) },
	}
}

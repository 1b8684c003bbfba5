package file

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// maxLimit caps MaxBytes so that the percentage arithmetic cannot overflow.
const maxLimit = 1 << 56

// overTrigger reports usage above EvictionTrigger percent of either limit.
func (b *Backend) overTrigger(used, entries int64) bool {
	return used*100 > b.maxBytes*EvictionTrigger || entries*100 > b.maxEntries*EvictionTrigger
}

// aboveTarget reports usage above EvictionTarget percent of either limit.
func (b *Backend) aboveTarget(used, entries int64) bool {
	return used*100 > b.maxBytes*EvictionTarget || entries*100 > b.maxEntries*EvictionTarget
}

// maybeEvict recounts the directory, and evicts if needed, when the usage
// estimate is above the trigger or the last count is older than the scan
// interval.
func (b *Backend) maybeEvict(ctx context.Context) {
	last := time.Unix(0, b.lastScan.Load())
	if !b.overTrigger(b.bytes.Load(), b.entries.Load()) && time.Since(last) < b.scanInterval {
		return
	}
	if err := b.scan(ctx); err != nil {
		b.log.LogAttrs(ctx, slog.LevelWarn, "file: cache directory scan failed", slog.String("error", err.Error()))
	}
}

// scanFile is one entry file seen by a scan.
type scanFile struct {
	name string
	info fs.FileInfo
}

// scan counts the entries under an flock on ".evict.lock" (skipping the
// scan when another process or goroutine is at it), removes temporary files
// left by crashed writers, and evicts when the count is above the trigger.
// Files that vanish while it runs are skipped.
func (b *Backend) scan(ctx context.Context) error {
	if !b.scanMu.TryLock() {
		return nil
	}
	defer b.scanMu.Unlock()
	lf, err := openLockFile(filepath.Join(b.dir, evictLockName))
	if err != nil {
		return fmt.Errorf("file: eviction lock: %w", err)
	}
	defer lf.Close()
	got, err := tryFlock(lf)
	if err != nil {
		return fmt.Errorf("file: eviction lock: %w", err)
	}
	if !got {
		return nil
	}
	defer unflock(lf)

	now := time.Now()
	b.lastScan.Store(now.UnixNano())
	des, err := os.ReadDir(b.dir)
	if err != nil {
		return fmt.Errorf("file: read cache directory: %w", err)
	}
	var files []scanFile
	var used, entries int64
	for _, de := range des {
		name := de.Name()
		switch {
		case isEntryName(name):
			info, err := de.Info()
			if err != nil || !info.Mode().IsRegular() {
				continue
			}
			files = append(files, scanFile{name: name, info: info})
			used += info.Size()
			entries++
		case isTempName(name), strings.HasPrefix(name, lockPrefix) && strings.Contains(name, tempInfix):
			info, err := de.Info()
			if err == nil && info.Mode().IsRegular() && now.Sub(info.ModTime()) > tempMaxAge {
				_ = removeSame(filepath.Join(b.dir, name), info)
			}
		case strings.HasPrefix(name, lockPrefix):
			b.removeDeadLock(ctx, filepath.Join(b.dir, name), now)
		}
	}
	if b.overTrigger(used, entries) {
		used, entries = b.evict(ctx, files, used, entries, now)
	}
	b.bytes.Store(used)
	b.entries.Store(entries)
	return nil
}

// evict removes expired and corrupt entries, then the least recently used
// ones, until usage is at or below the target. It returns the new usage.
func (b *Backend) evict(ctx context.Context, files []scanFile, used, entries int64, now time.Time) (int64, int64) {
	var expired, corrupt, evicted int64
	kept := files[:0]
	for _, f := range files {
		path := filepath.Join(b.dir, f.name)
		h, _, err := b.readHeader(path)
		switch {
		case err != nil:
			if missing(err) { // removed by someone else meanwhile
				used, entries = used-f.info.Size(), entries-1
			} else {
				kept = append(kept, f)
			}
		case h == nil:
			if removeSame(path, f.info) {
				corrupt++
				used, entries = used-f.info.Size(), entries-1
			}
		case h.expired(now):
			if removeSame(path, f.info) {
				expired++
				used, entries = used-f.info.Size(), entries-1
			}
		default:
			kept = append(kept, f)
		}
	}
	slices.SortFunc(kept, func(x, y scanFile) int { return x.info.ModTime().Compare(y.info.ModTime()) })
	for _, f := range kept {
		if !b.aboveTarget(used, entries) {
			break
		}
		path := filepath.Join(b.dir, f.name)
		if removeSame(path, f.info) {
			evicted++
			used, entries = used-f.info.Size(), entries-1
		} else if _, err := os.Lstat(path); missing(err) {
			used, entries = used-f.info.Size(), entries-1
		}
	}
	b.evictions.Add(evicted)
	b.expiredRemoved.Add(expired)
	b.corruptRemoved.Add(corrupt)
	b.log.LogAttrs(ctx, slog.LevelInfo, "file: evicted cache entries",
		slog.Int64("evicted", evicted), slog.Int64("expired", expired), slog.Int64("corrupt", corrupt),
		slog.Int64("entries", entries), slog.Int64("bytes", used))
	return used, entries
}

// isTempName reports a temporary file of an entry ("<entry>.tmp.<...>"),
// written by this package or a reference SDK.
func isTempName(name string) bool {
	return len(name) > 32 && isEntryName(name[:32]) && strings.HasPrefix(name[32:], tempInfix)
}

// removeDeadLock removes a lock file that expired more than tempMaxAge ago
// (its holder is gone), under the locks flock so that it cannot remove a lock
// someone has just taken over.
func (b *Backend) removeDeadLock(ctx context.Context, path string, now time.Time) {
	l, err := readLock(path)
	if err != nil || !l.stale(now.Add(-tempMaxAge)) {
		return
	}
	_, _ = b.withLocksLock(ctx, func() (bool, error) {
		again, err := readLock(path)
		if err == nil && bytes.Equal(again.raw, l.raw) {
			_ = os.Remove(path)
		}
		return true, nil
	})
}

package redis

import (
	"context"
	"strings"

	"github.com/cachekit-go/cachekit/backend"
)

var _ backend.KeyLister = (*Backend)(nil)

// KeyCount returns the number of keys in the database (DBSIZE; the sum over
// the masters of a Cluster), those of other prefixes included.
func (b *Backend) KeyCount(ctx context.Context) (int64, error) {
	const op = "key_count"
	c, err := b.link.get(op, "")
	if err != nil {
		return 0, err
	}
	nodes, err := b.scanNodes(ctx, c)
	if err != nil {
		return 0, wrapErr(op, "", err)
	}
	var total int64
	for _, node := range nodes {
		rctx, cancel := b.round(ctx)
		n, err := node.Do(rctx, node.B().Dbsize().Build()).AsInt64()
		cancel()
		if err != nil {
			return total, wrapErr(op, "", err)
		}
		total += n
	}
	return total, nil
}

// ListKeys walks the keyspace of every master with SCAN (no MATCH, so that
// examined counts what KeyCount counts) and hands fn each round's keys that
// carry Options.KeyPrefix, without it, lock keys left out.
func (b *Backend) ListKeys(ctx context.Context, fn func(examined int, keys []string) error) error {
	const op = "list_keys"
	c, err := b.link.get(op, "")
	if err != nil {
		return err
	}
	nodes, err := b.scanNodes(ctx, c)
	if err != nil {
		return wrapErr(op, "", err)
	}
	for _, node := range nodes {
		var cursor uint64
		for {
			if err := ctx.Err(); err != nil {
				return wrapErr(op, "", err)
			}
			rctx, cancel := b.round(ctx)
			entry, err := node.Do(rctx, node.B().Scan().Cursor(cursor).Count(scanCount).Build()).AsScanEntry()
			cancel()
			if err != nil {
				return wrapErr(op, "", err)
			}
			keys := make([]string, 0, len(entry.Elements))
			for _, k := range entry.Elements {
				if strings.HasSuffix(k, lockSuffix) || !strings.HasPrefix(k, b.prefix) {
					continue
				}
				keys = append(keys, k[len(b.prefix):])
			}
			if err := fn(len(entry.Elements), keys); err != nil {
				return err
			}
			if entry.Cursor == 0 {
				break
			}
			cursor = entry.Cursor
		}
	}
	return nil
}

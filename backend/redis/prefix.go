package redis

import (
	"context"
	"slices"
	"strings"

	"github.com/redis/rueidis"

	"github.com/cachekit-go/cachekit/backend"
)

// scanCount is the COUNT hint of every SCAN round: how many slots of the
// keyspace one round looks at, and so about how many keys one UNLINK batch
// removes at most.
const scanCount = 1000

// lockSuffix ends every lock key name in both lock schemes.
const lockSuffix = ":lock"

var _ backend.PrefixDeleter = (*Backend)(nil)

// DeletePrefix removes every entry whose key (without Options.KeyPrefix)
// starts with prefix and returns how many it removed. It walks the keyspace
// with SCAN MATCH <KeyPrefix+prefix>* (glob characters in the prefix
// escaped) and removes each round's keys with UNLINK, which frees memory in
// the background instead of blocking the server. In Cluster mode it scans
// every master and routes each UNLINK to its key's slot.
//
// Keys ending in ":lock" are left alone: they are the locks of entries (in
// the ReferenceLockKeys scheme, or for hash-tagged keys, a lock's name starts
// with its key), deleting a held one would let a second loader in, and an
// unreleased one expires by itself. cachekit's own keys never end in ":lock".
//
// It is not atomic: entries written while it runs may survive, and under
// Cluster resharding a key moving between masters may be missed. prefix ""
// is refused with an error matching backend.ErrEmptyPrefix. Options.Timeout
// bounds each SCAN+UNLINK round, not the whole walk, which may take long on
// a big database; ctx bounds the whole walk and is checked between rounds
// (on cancellation the count removed so far is returned with the error).
func (b *Backend) DeletePrefix(ctx context.Context, prefix string) (int, error) {
	const op = "delete_prefix"
	if prefix == "" {
		return 0, backend.NewError(backend.Permanent, backendName, op, "", backend.ErrEmptyPrefix)
	}
	if err := ctx.Err(); err != nil {
		return 0, wrapErr(op, prefix, err)
	}
	c, err := b.link.get(op, prefix)
	if err != nil {
		return 0, err
	}
	pattern := globEscape(b.prefix+prefix) + "*"
	nodes, err := b.scanNodes(ctx, c)
	if err != nil {
		return 0, wrapErr(op, prefix, err)
	}
	removed := 0
	for _, node := range nodes {
		n, err := b.deleteMatching(ctx, c, node, pattern)
		removed += n
		if err != nil {
			return removed, wrapErr(op, prefix, err)
		}
	}
	return removed, nil
}

// scanNodes returns the clients to SCAN: every master of a Cluster (a
// replica holds copies of its master's keys, and SCAN on it finds nothing
// new), or the one client otherwise. Masters are told apart with ROLE.
func (b *Backend) scanNodes(ctx context.Context, c rueidis.Client) ([]rueidis.Client, error) {
	if c.Mode() != rueidis.ClientModeCluster {
		return []rueidis.Client{c}, nil
	}
	all := c.Nodes()
	addrs := make([]string, 0, len(all))
	for addr := range all {
		addrs = append(addrs, addr)
	}
	slices.Sort(addrs) // a stable order makes failures reproducible
	var masters []rueidis.Client
	for _, addr := range addrs {
		node := all[addr]
		rctx, cancel := b.round(ctx)
		role, err := node.Do(rctx, node.B().Role().Build()).ToArray()
		var kind string
		if err == nil && len(role) > 0 {
			kind, err = role[0].ToString()
		}
		cancel()
		if err != nil {
			return nil, err
		}
		if kind == "master" {
			masters = append(masters, node)
		}
	}
	return masters, nil
}

// round bounds one SCAN+UNLINK round by the backend's timeout.
func (b *Backend) round(ctx context.Context) (context.Context, context.CancelFunc) {
	if b.timeout > 0 {
		return context.WithTimeout(ctx, b.timeout)
	}
	return ctx, func() {}
}

// deleteMatching walks node's keyspace with SCAN and unlinks the keys
// matching pattern (full keys, KeyPrefix included), except lock keys.
func (b *Backend) deleteMatching(ctx context.Context, c, node rueidis.Client, pattern string) (int, error) {
	removed := 0
	var cursor uint64
	for {
		if err := ctx.Err(); err != nil {
			return removed, err
		}
		n, next, err := b.deleteRound(ctx, c, node, pattern, cursor)
		removed += n
		if err != nil {
			return removed, err
		}
		if next == 0 {
			return removed, nil
		}
		cursor = next
	}
}

// deleteRound runs one SCAN from cursor on node and unlinks what it found.
func (b *Backend) deleteRound(ctx context.Context, c, node rueidis.Client, pattern string, cursor uint64) (removed int, next uint64, err error) {
	ctx, cancel := b.round(ctx)
	defer cancel()
	entry, err := node.Do(ctx, node.B().Scan().Cursor(cursor).Match(pattern).Count(scanCount).Build()).AsScanEntry()
	if err != nil {
		return 0, 0, err
	}
	keys := slices.DeleteFunc(entry.Elements, func(k string) bool { return strings.HasSuffix(k, lockSuffix) })
	if len(keys) == 0 {
		return 0, entry.Cursor, nil
	}
	n, err := b.unlink(ctx, c, keys)
	return n, entry.Cursor, err
}

// unlink removes keys and returns how many existed. Outside a Cluster one
// UNLINK takes them all; in a Cluster keys of different slots cannot share a
// command, so each gets its own UNLINK, pipelined and routed by the client.
func (b *Backend) unlink(ctx context.Context, c rueidis.Client, keys []string) (int, error) {
	if c.Mode() != rueidis.ClientModeCluster {
		n, err := c.Do(ctx, c.B().Unlink().Key(keys...).Build()).AsInt64()
		return int(n), err
	}
	cmds := make(rueidis.Commands, len(keys))
	for i, k := range keys {
		cmds[i] = c.B().Unlink().Key(k).Build()
	}
	removed := 0
	for _, res := range c.DoMulti(ctx, cmds...) {
		n, err := res.AsInt64()
		if err != nil {
			return removed, err
		}
		removed += int(n)
	}
	return removed, nil
}

// globEscape escapes the characters Redis's glob matching treats specially
// (* ? [ ] and the escape character \ itself), so a prefix matches itself
// literally.
func globEscape(s string) string {
	if !strings.ContainsAny(s, `*?[]\`) {
		return s
	}
	var sb strings.Builder
	sb.Grow(len(s) + 8)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '*', '?', '[', ']', '\\':
			sb.WriteByte('\\')
			sb.WriteByte(c)
		default:
			sb.WriteByte(c)
		}
	}
	return sb.String()
}

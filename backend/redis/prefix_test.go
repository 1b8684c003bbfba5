package redis_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/cachekit-go/cachekit/backend"
)

// fill writes n keys prefix+"<i>" straight through the client (one pipeline)
// and removes whatever is left of them when the test ends.
func fill(t *testing.T, c rueidis.Client, prefix string, n int) []string {
	t.Helper()
	keys := make([]string, n)
	cmds := make(rueidis.Commands, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("%s%d", prefix, i)
		cmds[i] = c.B().Set().Key(keys[i]).Value("v").ExSeconds(600).Build()
	}
	for _, r := range c.DoMulti(testCtx(t), cmds...) {
		if err := r.Error(); err != nil {
			t.Fatalf("SET: %v", err)
		}
	}
	t.Cleanup(func() {
		for _, k := range keys {
			c.Do(context.Background(), c.B().Unlink().Key(k).Build())
		}
	})
	return keys
}

// existing counts how many of keys exist, asking the client (which routes
// each key to its Cluster slot).
func existing(t *testing.T, c rueidis.Client, keys []string) int {
	t.Helper()
	cmds := make(rueidis.Commands, len(keys))
	for i, k := range keys {
		cmds[i] = c.B().Exists().Key(k).Build()
	}
	n := 0
	for _, r := range c.DoMulti(testCtx(t), cmds...) {
		v, err := r.AsInt64()
		if err != nil {
			t.Fatalf("EXISTS: %v", err)
		}
		n += int(v)
	}
	return n
}

// perMaster counts the keys matching pattern on each Cluster master.
func perMaster(t *testing.T, c rueidis.Client, pattern string) map[string]int {
	t.Helper()
	counts := map[string]int{}
	for addr, node := range c.Nodes() {
		role, err := node.Do(testCtx(t), node.B().Role().Build()).ToArray()
		if err != nil || len(role) == 0 {
			t.Fatalf("ROLE on %s: %v", addr, err)
		}
		if r, _ := role[0].ToString(); r != "master" {
			continue
		}
		var cursor uint64
		for {
			e, err := node.Do(testCtx(t), node.B().Scan().Cursor(cursor).Match(pattern).Count(1000).Build()).AsScanEntry()
			if err != nil {
				t.Fatalf("SCAN on %s: %v", addr, err)
			}
			counts[addr] += len(e.Elements)
			if cursor = e.Cursor; cursor == 0 {
				break
			}
		}
	}
	return counts
}

// TestDeletePrefixCluster spreads keys over every master (or keeps them in
// one slot with a hash tag) and checks that DeletePrefix finds them all.
func TestDeletePrefixCluster(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, prefix string
		spread       bool // the keys land on more than one master
	}{
		{"spread", "ns:app:func:f:args:", true},
		{"hash-tagged", "{ns:app:func:f}:args:", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := clusterOptions(t)
			o.KeyPrefix = "clear:" + randText() + ":"
			b := open(t, o)
			c := b.Client()
			keys := fill(t, c, o.KeyPrefix+tc.prefix, 300)
			outside := fill(t, c, o.KeyPrefix+strings.TrimSuffix(tc.prefix, ":"), 20)
			before := perMaster(t, c, o.KeyPrefix+"*")
			if tc.spread && len(before) < 2 {
				t.Fatalf("keys on %d masters (%v), want several: the test would not show that every master is scanned", len(before), before)
			}
			n, err := b.DeletePrefix(testCtx(t), tc.prefix)
			if err != nil || n != len(keys) {
				t.Fatalf("DeletePrefix(%q) = (%d, %v), want (%d, nil)", tc.prefix, n, err, len(keys))
			}
			if left := existing(t, c, keys); left != 0 {
				t.Errorf("%d of %d keys under the prefix survived", left, len(keys))
			}
			if kept := existing(t, c, outside); kept != len(outside) {
				t.Errorf("%d of %d keys outside the prefix survived, want all", kept, len(outside))
			}
		})
	}
}

// TestDeletePrefixManyRounds removes more keys than one SCAN round sees.
func TestDeletePrefixManyRounds(t *testing.T) {
	t.Parallel()
	o := standaloneOptions(t)
	o.KeyPrefix = "rounds:" + randText() + ":"
	b := open(t, o)
	keys := fill(t, b.Client(), o.KeyPrefix+"p:", 3500)
	n, err := b.DeletePrefix(testCtx(t), "p:")
	if err != nil || n != len(keys) {
		t.Fatalf("DeletePrefix = (%d, %v), want (%d, nil)", n, err, len(keys))
	}
	if left := existing(t, b.Client(), keys); left != 0 {
		t.Fatalf("%d keys survived", left)
	}
}

// TestDeletePrefixKeyPrefix checks that Options.KeyPrefix confines
// DeletePrefix to the backend's own keys, also when the KeyPrefix holds glob
// characters that, unescaped, would match the neighbour's keys.
func TestDeletePrefixKeyPrefix(t *testing.T) {
	t.Parallel()
	r := randText()
	mine := standaloneOptions(t)
	mine.KeyPrefix = "kp*[a]?\\" + r + ":"
	theirs := standaloneOptions(t)
	theirs.KeyPrefix = "kpXa!\\" + r + ":"
	b, other := open(t, mine), open(t, theirs)
	c := b.Client()
	myKeys := fill(t, c, mine.KeyPrefix+"x:", 5)
	theirKeys := fill(t, c, theirs.KeyPrefix+"x:", 5)
	bare := fill(t, c, "x:"+r+":", 2) // no KeyPrefix at all
	n, err := b.DeletePrefix(testCtx(t), "x:")
	if err != nil || n != len(myKeys) {
		t.Fatalf("DeletePrefix = (%d, %v), want (%d, nil)", n, err, len(myKeys))
	}
	if left := existing(t, c, myKeys); left != 0 {
		t.Errorf("%d of the backend's keys survived", left)
	}
	if kept := existing(t, c, append(theirKeys, bare...)); kept != len(theirKeys)+len(bare) {
		t.Errorf("only %d of %d keys of other prefixes survived", kept, len(theirKeys)+len(bare))
	}
	// The other backend still reads its entries.
	if _, found, err := other.Get(testCtx(t), "x:0"); err != nil || !found {
		t.Errorf("other backend's x:0 = found %v, %v", found, err)
	}
}

// TestDeletePrefixKeepsLockKeys checks that lock keys under the prefix,
// named in either scheme, survive while the values go.
func TestDeletePrefixKeepsLockKeys(t *testing.T) {
	t.Parallel()
	for _, ref := range []bool{false, true} {
		t.Run(fmt.Sprintf("reference=%v", ref), func(t *testing.T) {
			t.Parallel()
			o := standaloneOptions(t)
			o.KeyPrefix = "{locks" + randText() + "}:" // tagged: both schemes name locks "<key>:lock"
			o.ReferenceLockKeys = ref
			b := open(t, o)
			ctx := testCtx(t)
			if err := b.Set(ctx, "f:1", []byte("v"), 0); err != nil {
				t.Fatal(err)
			}
			id, ok, err := b.AcquireLock(ctx, "f:1", time.Minute)
			if err != nil || !ok {
				t.Fatalf("AcquireLock = %v, %v", ok, err)
			}
			lock := o.KeyPrefix + "f:1:lock"
			if n, err := b.Client().Do(ctx, b.Client().B().Exists().Key(lock).Build()).AsInt64(); err != nil || n != 1 {
				t.Fatalf("lock key %q not where expected: %d, %v", lock, n, err)
			}
			if n, err := b.DeletePrefix(ctx, "f:"); err != nil || n != 1 {
				t.Fatalf("DeletePrefix = (%d, %v), want (1, nil)", n, err)
			}
			if ok, err := b.ReleaseLock(ctx, "f:1", id); err != nil || !ok {
				t.Fatalf("ReleaseLock after DeletePrefix = %v, %v; the lock was deleted", ok, err)
			}
		})
	}
}

// TestDeletePrefixErrors checks the refusals and a cancelled context.
func TestDeletePrefixErrors(t *testing.T) {
	t.Parallel()
	b := open(t, standaloneOptions(t))
	n, err := b.DeletePrefix(testCtx(t), "")
	if n != 0 || backend.KindOf(err) != backend.Permanent {
		t.Errorf(`DeletePrefix("") = (%d, %v), want a permanent error`, n, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := b.DeletePrefix(ctx, "p:"); backend.IsTransient(err) || err == nil {
		t.Errorf("DeletePrefix with a cancelled context = %v, want a non-transient error", err)
	}
}

package redis

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/internal/testenv"
)

// TestLockKeyNames pins the lock key scheme documented in the package doc.
func TestLockKeyNames(t *testing.T) {
	t.Parallel()
	tests := []struct {
		key, hashTagged, reference string
	}{
		{"user:42", "{user:42}:lock", "user:42:lock"},
		{"t:default:ns:f:abc", "{t:default:ns:f:abc}:lock", "t:default:ns:f:abc:lock"},
		{"{tag}rest", "{tag}rest:lock", "{tag}rest:lock"}, // already tagged: same tag
		{"a{b}c{d}", "a{b}c{d}:lock", "a{b}c{d}:lock"},    // first tag wins
		{"{{a}b", "{{a}b:lock", "{{a}b:lock"},             // tag "{a"
		{"x{", "{x{}:lock", "x{:lock"},                    // no tag, no "}"
		{"{}x", "{}x:lock", "{}x:lock"},                   // empty tag: not a tag, but has "}"
		{"a}b", "a}b:lock", "a}b:lock"},                   // "}" without tag
		{"", ":lock", ":lock"},
	}
	hashTagged := &Backend{}
	reference := &Backend{refLocks: true}
	for _, tc := range tests {
		if got := hashTagged.lockKey(tc.key); got != tc.hashTagged {
			t.Errorf("lockKey(%q) = %q, want %q", tc.key, got, tc.hashTagged)
		}
		if got := reference.lockKey(tc.key); got != tc.reference {
			t.Errorf("reference lockKey(%q) = %q, want %q", tc.key, got, tc.reference)
		}
	}
}

// TestLockKeySameSlot asks a real Redis Cluster (CLUSTER KEYSLOT) that a lock
// lives in the same slot as its value for every key without a stray "}", and
// that AcquireLock really writes the key lockKey names.
func TestLockKeySameSlot(t *testing.T) {
	t.Parallel()
	addrs := strings.Split(testenv.Require(t, "CACHEKIT_TEST_REDIS_CLUSTER_ADDRS"), ",")
	b, err := New(Options{Addrs: addrs, Mode: ModeCluster, KeyPrefix: "lockslot:" + t.Name() + ":"})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	slot := func(k string) int64 {
		t.Helper()
		n, err := b.Client().Do(ctx, b.Client().B().ClusterKeyslot().Key(k).Build()).AsInt64()
		if err != nil {
			t.Fatalf("CLUSTER KEYSLOT %q: %v", k, err)
		}
		return n
	}
	host, _ := os.Hostname()
	keys := []string{"user:42", "k", "ns:f:" + host, "{tag}rest", "a{b}c", "{{a}b", "x{", "ключ", "a b\r\n"}
	for _, k := range keys {
		full := b.prefix + k
		lk := b.lockKey(full)
		if vs, ls := slot(full), slot(lk); vs != ls {
			t.Errorf("key %q: value slot %d, lock %q slot %d", full, vs, lk, ls)
		}
		id, ok, err := b.AcquireLock(ctx, k, time.Minute)
		if err != nil || !ok {
			t.Fatalf("AcquireLock(%q) = %v, %v", k, ok, err)
		}
		got, err := b.Client().Do(ctx, b.Client().B().Get().Key(lk).Build()).ToString()
		if err != nil || got != id {
			t.Errorf("GET %q after AcquireLock(%q) = %q, %v; want the lock id %q", lk, k, got, err, id)
		}
		if ok, err := b.ReleaseLock(ctx, k, id); err != nil || !ok {
			t.Errorf("ReleaseLock(%q) = %v, %v", k, ok, err)
		}
	}
}

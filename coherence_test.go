package cachekit

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/backend"
	"github.com/cachekit-go/cachekit/backend/redis"
	"github.com/cachekit-go/cachekit/internal/testenv"
)

// redisPrefixed returns a Redis backend whose keys (and invalidation
// channel) are private to the test.
func redisPrefixed(t *testing.T, prefix string) *redis.Backend {
	t.Helper()
	addr := testenv.Require(t, "CACHEKIT_TEST_REDIS_ADDR")
	b, err := redis.New(redis.Options{Addrs: []string{addr}, KeyPrefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

// waitFor polls cond until it holds, failing after a generous bound (the
// channel delivers in milliseconds; the bound only stops a broken test).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still not %s after 10s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestCoherenceTwoCachesOverRedis(t *testing.T) {
	prefix := uniq(t) + ":"
	a := newTestCache(t, redisPrefixed(t, prefix))
	b := newTestCache(t, redisPrefixed(t, prefix))
	other := newTestCache(t, redisPrefixed(t, uniq(t)+"-other:"))
	for _, c := range []*Cache{a, b, other} {
		if s := c.Info().Coherence.State; s != "up" {
			t.Fatalf("coherence state %q after New, want up", s)
		}
	}
	ctx := context.Background()
	get := func(c *Cache) (string, bool) {
		v, found, err := Get[string](ctx, c, "k")
		if err != nil {
			t.Fatal(err)
		}
		return v, found
	}
	if err := a.Set(ctx, "k", "v1", 0); err != nil {
		t.Fatal(err)
	}
	// b reads v1 into L1 (a read racing with a's message for v1 skips L1:
	// poll until the copy stays).
	waitFor(t, "b holding v1 in L1", func() bool {
		v, _ := get(b)
		_, ok := b.l1.Get("k")
		return v == "v1" && ok
	})
	// a's new value reaches b through the channel.
	if err := a.Set(ctx, "k", "v2", 0); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "seeing v2 in b", func() bool { v, _ := get(b); return v == "v2" })
	if _, err := a.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "seeing the delete in b", func() bool { _, found := get(b); return !found })
	if i := b.Info().Coherence; i.Received < 2 || i.Evicted < 1 {
		t.Fatalf("b's counters %+v: want at least 2 messages received and an eviction", i)
	}
	if i := a.Info().Coherence; i.Sent < 3 || i.Received != 0 {
		t.Fatalf("a's counters %+v: want 3 sent and none of its own received", i)
	}
	// Another key prefix is another scope: nothing reached it.
	if i := other.Info().Coherence; i.Received != 0 {
		t.Fatalf("a cache with another key prefix received %d messages", i.Received)
	}
}

func TestCoherenceClearAndInvalidateAcrossCaches(t *testing.T) {
	prefix := uniq(t) + ":"
	ctx := context.Background()
	var src [2]string
	src[0], src[1] = "a", "a"
	mk := func(i int) *Func1[int, string] {
		c := newTestCache(t, redisPrefixed(t, prefix))
		f, err := Wrap1(c, func(_ context.Context, n int) (string, error) { return src[i], nil }, Name("f"))
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	f0, f1 := mk(0), mk(1)
	call := func(f *Func1[int, string]) string {
		v, err := f.Call(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if v := call(f0); v != "a" {
		t.Fatalf("first call %q", v)
	}
	flushBackend(t, f0.Cache().Backend())
	waitFor(t, "f1 reading f0's entry", func() bool { return call(f1) == "a" })
	src[0], src[1] = "b", "b"
	if v := call(f1); v != "a" {
		t.Fatalf("f1 recomputed (%q) while its entry is cached", v)
	}
	if err := f0.Clear(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "f1 seeing f0's Clear", func() bool { return call(f1) == "b" })
	flushBackend(t, f1.Cache().Backend())
	src[0], src[1] = "c", "c"
	waitFor(t, "f0 reading b", func() bool { return call(f0) == "b" })
	if err := f0.Invalidate(ctx, 1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "f1 seeing f0's Invalidate", func() bool { return call(f1) == "c" })
}

func TestCoherenceOffAndUnsupportedBackends(t *testing.T) {
	c := newTestCache(t, redisPrefixed(t, uniq(t)+":"), WithCoherence(false))
	if s := c.Info().Coherence.State; s != "off" {
		t.Fatalf("WithCoherence(false): state %q", s)
	}
	m := newTestCache(t, memoryKind().make(t))
	if _, ok := m.Backend().(backend.Invalidator); ok {
		t.Skip("the memory backend carries invalidations now")
	}
	if s := m.Info().Coherence.State; s != "off" {
		t.Fatalf("backend without a channel: state %q", s)
	}
}

// A cache whose channel is down keeps L1 entries for the fallback TTL at
// most, and flushes L1 when the channel comes back.
func TestCoherenceLinkStates(t *testing.T) {
	clk := fakeClock()
	c := newTestCache(t, redisPrefixed(t, uniq(t)+":"), withClock(clk), WithCoherenceFallbackTTL(time.Second))
	ctx := context.Background()
	if err := c.Set(ctx, "k", "v", time.Hour); err != nil {
		t.Fatal(err)
	}
	c.onLinkState(backend.LinkDown)
	if s := c.Info().Coherence.State; s != "down" {
		t.Fatalf("state %q after LinkDown", s)
	}
	if _, ok := c.l1.Get("k"); !ok {
		t.Fatal("LinkDown dropped the entry at once; it should live for the fallback TTL")
	}
	if err := c.Set(ctx, "k2", "v", time.Hour); err != nil {
		t.Fatal(err)
	}
	clk.Advance(1100 * time.Millisecond)
	for _, k := range []string{"k", "k2"} {
		if _, ok := c.l1.Get(k); ok {
			t.Fatalf("L1 entry %q outlived the fallback TTL while the channel was down", k)
		}
	}
	if err := c.Set(ctx, "k3", "v", time.Hour); err != nil {
		t.Fatal(err)
	}
	c.onLinkState(backend.LinkReconnected)
	if _, ok := c.l1.Get("k3"); ok {
		t.Fatal("L1 kept an entry over a reconnection")
	}
	if i := c.Info().Coherence; i.State != "up" || i.Flushes != 1 || i.Disconnects < 1 {
		t.Fatalf("counters after reconnect %+v", i)
	}
}

func TestCoherenceIgnoresOldAndOwnMessages(t *testing.T) {
	c := newTestCache(t, redisPrefixed(t, uniq(t)+":"))
	ctx := context.Background()
	set := func() {
		if err := c.Set(ctx, "k", "v", 0); err != nil {
			t.Fatal(err)
		}
	}
	has := func() bool { _, ok := c.l1.Get("k"); return ok }
	set()
	c.onInvalidation(backend.Invalidation{Sender: c.coh.id, Seq: 99, Keys: []string{"k"}})
	if !has() {
		t.Fatal("the cache's own message dropped its entry")
	}
	c.onInvalidation(backend.Invalidation{Sender: "x", Seq: 5, Keys: []string{"k"}})
	if has() {
		t.Fatal("a message from another cache left the entry")
	}
	set()
	c.onInvalidation(backend.Invalidation{Sender: "x", Seq: 4, Keys: []string{"k"}})
	c.onInvalidation(backend.Invalidation{Sender: "x", Seq: 5, Keys: []string{"k"}})
	if !has() {
		t.Fatal("an older or repeated message dropped a newer entry")
	}
	if d := c.Info().Coherence.Dropped; d != 2 {
		t.Fatalf("Dropped = %d, want 2", d)
	}
	// A store whose generation was taken before a message arrived is not
	// kept: it may hold what the message invalidated.
	gen := c.generation("k2")
	c.onInvalidation(backend.Invalidation{Sender: "x", Seq: 6, Keys: []string{"k2"}})
	s, _ := c.slot(ctx, "k2")
	_ = c.store(ctx, c.def, s, "old", gen, true, "")
	if _, ok := c.l1.Get("k2"); ok {
		t.Fatal("a store racing with a received invalidation left its value in L1")
	}
}

func TestWithL1TTLCapsEveryEntry(t *testing.T) {
	clk := fakeClock()
	c := newTestCache(t, memoryKind().make(t), withClock(clk), WithL1TTL(time.Second))
	if err := c.Set(context.Background(), "k", "v", time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.l1.Get("k"); !ok {
		t.Fatal("no L1 entry after Set")
	}
	clk.Advance(1100 * time.Millisecond)
	if _, ok := c.l1.Get("k"); ok {
		t.Fatal("an L1 entry outlived WithL1TTL")
	}
	if _, err := New(WithL1TTL(0)); err == nil {
		t.Fatal("WithL1TTL(0) accepted")
	}
}

// Over a Redis that is down at start, the cache starts with its channel
// down, so L1 entries get the fallback TTL until the channel is up.
func TestCoherenceStartsDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := ln.Addr().String()
	ln.Close()
	b, err := redis.New(redis.Options{Addrs: []string{down}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	clk := fakeClock()
	c := newTestCache(t, b, withClock(clk), WithCoherenceFallbackTTL(time.Second))
	if s := c.Info().Coherence.State; s != "down" {
		t.Fatalf("state %q over an unreachable Redis", s)
	}
	f, err := Wrap1(c, func(context.Context, int) (string, error) { return "v", nil }, Name(uniq(t)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Call(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	k, _ := f.Key(1)
	if _, ok := c.l1.Get(k); !ok {
		t.Fatal("no L1 entry while the backend is down")
	}
	clk.Advance(1100 * time.Millisecond)
	if _, ok := c.l1.Get(k); ok {
		t.Fatal("an L1 entry outlived the fallback TTL while the channel was down")
	}
}

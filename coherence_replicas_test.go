package cachekit

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/internal/testenv"
	"github.com/cachekit-go/cachekit/internal/testenv/cachekitdtest"
)

// TestCoherenceAcrossCachekitdReplicas runs two real cachekitd processes
// over one Redis, as replicas behind a load balancer would be, and a cache
// on each replica through the HTTP backend: a write or an Invalidate made
// through one replica reaches the other cache's stream through the
// replicas' relay, and its next call sees the new state rather than its L1
// copy, also after b's replica restarted (its event numbering then starts
// over).
func TestCoherenceAcrossCachekitdReplicas(t *testing.T) {
	addr := testenv.Require(t, "CACHEKIT_TEST_REDIS_ADDR")
	prefix := fmt.Sprintf("ckdrep%d%d", os.Getpid(), time.Now().UnixNano())
	pki := cachekitdtest.NewPKI(t, cachekitdtest.Host, "localhost", "127.0.0.1")
	cfg := cachekitdtest.Config{PKI: pki, Flags: []string{"--store", "redis", "--redis-addrs", addr, "--redis-prefix", prefix}}
	a := newTestCache(t, cachekitdClient(t, cachekitdtest.Start(t, cfg)))
	dB := cachekitdtest.Start(t, cfg)
	b := newTestCache(t, cachekitdClient(t, dB))
	for _, c := range []*Cache{a, b} {
		if s := c.Info().Coherence.State; s != "up" {
			t.Fatalf("coherence state %q after New, want up", s)
		}
	}
	ctx := context.Background()

	// Set on a, read through b's L1, then a new value through a.
	if err := a.Set(ctx, "k", "v1", time.Hour); err != nil {
		t.Fatal(err)
	}
	flushBackend(t, a.Backend())
	waitFor(t, "b holding v1 in L1", func() bool {
		v, _, err := Get[string](ctx, b, "k")
		_, ok := b.l1.Get("k")
		return err == nil && v == "v1" && ok
	})
	if err := a.Set(ctx, "k", "v2", time.Hour); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b seeing v2", func() bool { v, _, _ := Get[string](ctx, b, "k"); return v == "v2" })

	// A wrapped function: b's copy is dropped by a's Invalidate.
	src := "old"
	mk := func(c *Cache) *Func1[int, string] {
		f, err := Wrap1(c, func(context.Context, int) (string, error) { return src, nil }, Name("f"), TTL(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	fa, fb := mk(a), mk(b)
	call := func(f *Func1[int, string]) string {
		v, err := f.Call(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if v := call(fa); v != "old" {
		t.Fatalf("first call %q", v)
	}
	flushBackend(t, a.Backend())
	waitFor(t, "fb holding a's entry", func() bool { return call(fb) == "old" })
	src = "new"
	if v := call(fb); v != "old" {
		t.Fatalf("fb recomputed (%q) while its entry is cached", v)
	}
	if err := fa.Invalidate(ctx, 1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "fb seeing a's Invalidate", func() bool { return call(fb) == "new" })
	if i := b.Info().Coherence; i.Received < 2 || i.Evicted < 2 {
		t.Fatalf("b's coherence counters %+v: want the relayed messages received and its copies evicted", i)
	}

	// b's replica restarts: b's stream reopens on a new process whose event
	// numbering starts over, and a's next write must still reach b.
	flushes := b.Info().Coherence.Flushes
	dB.Restart()
	waitFor(t, "b's stream back", func() bool {
		i := b.Info().Coherence
		return i.Flushes > flushes && i.State == "up"
	})
	waitFor(t, "b holding v2 in L1", func() bool {
		v, _, err := Get[string](ctx, b, "k")
		_, ok := b.l1.Get("k")
		return err == nil && v == "v2" && ok
	})
	if err := a.Set(ctx, "k", "v3", time.Hour); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b seeing v3 after its replica restarted", func() bool { v, _, _ := Get[string](ctx, b, "k"); return v == "v3" })
}

package memory_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/backend"
	"github.com/cachekit-go/cachekit/backend/backendtest"
	"github.com/cachekit-go/cachekit/backend/memory"
	"github.com/cachekit-go/cachekit/internal/clock"
)

func TestConformance(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backend.Backend { return memory.New(memory.Options{}) })
}

func newFake() (*memory.Backend, *clock.Fake) {
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	return memory.New(memory.Options{Now: clk.Now}), clk
}

func TestCopies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := memory.New(memory.Options{})
	in := []byte("hello")
	if err := b.Set(ctx, "k", in, 0); err != nil {
		t.Fatal(err)
	}
	in[0] = 'X'
	out, ok, err := b.Get(ctx, "k")
	if err != nil || !ok || string(out) != "hello" {
		t.Fatalf("Get = %q %v %v (Set did not copy?)", out, ok, err)
	}
	out[0] = 'Y'
	again, _, _ := b.Get(ctx, "k")
	if string(again) != "hello" {
		t.Fatalf("Get returned shared bytes: %q", again)
	}
}

func TestTTL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b, clk := newFake()
	if err := b.Set(ctx, "k", []byte("v"), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := b.Set(ctx, "forever", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	clk.Advance(4 * time.Second)
	rem, ok, err := b.TTL(ctx, "k")
	if err != nil || !ok || rem != 6*time.Second {
		t.Fatalf("TTL = %v %v %v, want 6s", rem, ok, err)
	}
	if rem, ok, _ := b.TTL(ctx, "forever"); !ok || rem != 0 {
		t.Fatalf("TTL(no expiry) = %v %v", rem, ok)
	}
	if ok, _ := b.RefreshTTL(ctx, "k", 20*time.Second); !ok {
		t.Fatal("RefreshTTL on live key failed")
	}
	clk.Advance(15 * time.Second)
	if ok, _ := b.Exists(ctx, "k"); !ok {
		t.Fatal("refreshed key expired early")
	}
	clk.Advance(5 * time.Second)
	if _, ok, _ := b.Get(ctx, "k"); ok {
		t.Fatal("key outlived its TTL")
	}
	if _, ok, _ := b.TTL(ctx, "k"); ok {
		t.Fatal("TTL found an expired key")
	}
	if ok, _ := b.RefreshTTL(ctx, "k", time.Second); ok {
		t.Fatal("RefreshTTL revived an expired key")
	}
	var be *backend.Error
	if err := b.Set(ctx, "n", []byte("v"), -time.Second); !errors.As(err, &be) || be.Kind != backend.Permanent {
		t.Fatalf("negative ttl: %v", err)
	}
}

func TestDeleteAndPrefix(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := memory.New(memory.Options{})
	for i := range 5 {
		_ = b.Set(ctx, "a:"+strconv.Itoa(i), []byte("v"), 0)
		_ = b.Set(ctx, "b:"+strconv.Itoa(i), []byte("v"), 0)
	}
	if ok, _ := b.Delete(ctx, "a:0"); !ok {
		t.Fatal("Delete of present key reported false")
	}
	if ok, _ := b.Delete(ctx, "a:0"); ok {
		t.Fatal("Delete of absent key reported true")
	}
	n, err := b.DeletePrefix(ctx, "a:")
	if err != nil || n != 4 {
		t.Fatalf("DeletePrefix = %d, %v", n, err)
	}
	if ok, _ := b.Exists(ctx, "b:3"); !ok {
		t.Fatal("DeletePrefix removed a key outside the prefix")
	}
}

func TestBudget(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := memory.New(memory.Options{MaxBytes: 64 << 10})
	val := bytes.Repeat([]byte("x"), 1000)
	for i := range 500 {
		if err := b.Set(ctx, "k"+strconv.Itoa(i), val, 0); err != nil {
			t.Fatalf("Set %d: %v", i, err)
		}
	}
	_, details := b.HealthCheck(ctx)
	if used := details["bytes"].(int64); used > 64<<10 {
		t.Fatalf("holds %d bytes over a 64 KiB budget", used)
	}
	err := b.Set(ctx, "huge", make([]byte, 128<<10), 0)
	if !errors.Is(err, memory.ErrValueTooLarge) || !errors.Is(err, backend.ErrPermanent) {
		t.Fatalf("oversized Set: %v", err)
	}
}

func TestLocks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b, clk := newFake()
	id, ok, err := b.AcquireLock(ctx, "k", time.Second)
	if err != nil || !ok || id == "" {
		t.Fatalf("AcquireLock = %q %v %v", id, ok, err)
	}
	if _, ok, _ := b.AcquireLock(ctx, "k", time.Second); ok {
		t.Fatal("lock acquired twice")
	}
	if ok, _ := b.ReleaseLock(ctx, "k", "wrong"); ok {
		t.Fatal("released with the wrong id")
	}
	if ok, _ := b.ReleaseLock(ctx, "k", id); !ok {
		t.Fatal("release with the right id failed")
	}
	id2, ok, _ := b.AcquireLock(ctx, "k", time.Second)
	if !ok {
		t.Fatal("re-acquire after release failed")
	}
	clk.Advance(2 * time.Second)
	if _, ok, _ := b.AcquireLock(ctx, "k", time.Second); !ok {
		t.Fatal("expired lock not taken over")
	}
	if ok, _ := b.ReleaseLock(ctx, "k", id2); ok {
		t.Fatal("expired holder released the new holder's lock")
	}
}

func TestContextAndTimeout(t *testing.T) {
	t.Parallel()
	b := memory.New(memory.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := b.Get(ctx, "k"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Get on cancelled ctx: %v", err)
	}
	if ok, _ := b.HealthCheck(ctx); ok {
		t.Fatal("healthy on cancelled ctx")
	}
	dead, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()
	if err := b.WithTimeout(time.Second).Set(dead, "k", nil, 0); !errors.Is(err, backend.ErrTimeout) {
		t.Fatalf("Set past deadline: %v", err)
	}
	tb := b.WithTimeout(time.Second)
	if err := tb.Set(context.Background(), "shared", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	if ok, _ := b.Exists(context.Background(), "shared"); !ok {
		t.Fatal("WithTimeout copy does not share data")
	}
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := memory.New(memory.Options{MaxBytes: 1 << 20})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				k := strconv.Itoa((i + g) % 50)
				_ = b.Set(ctx, k, []byte(k), time.Minute)
				if v, ok, _ := b.Get(ctx, k); ok && string(v) != k {
					t.Errorf("key %s holds %q", k, v)
				}
				_, _ = b.Delete(ctx, k)
			}
		}()
	}
	wg.Wait()
}

func Example() {
	ctx := context.Background()
	b := memory.New(memory.Options{MaxBytes: 10 << 20})
	_ = b.Set(ctx, "greeting", []byte("hello"), time.Minute)
	v, found, _ := b.Get(ctx, "greeting")
	fmt.Println(string(v), found)
	// Output: hello true
}

// TTLs at the edges: a lifetime past what Unix nanoseconds can hold is no
// expiry (it once overflowed into the past and failed as "too large"), and a
// lifetime that is over before the write lands is a write that expired, not
// an error.
func TestTTLEdges(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b, _ := newFake()
	for _, ttl := range []time.Duration{math.MaxInt64, 250 * 365 * 24 * time.Hour} {
		if err := b.Set(ctx, "long", []byte("v"), ttl); err != nil {
			t.Fatalf("Set with TTL %v: %v", ttl, err)
		}
		if rem, ok, err := b.TTL(ctx, "long"); err != nil || !ok || rem != 0 {
			t.Fatalf("TTL after a %v write = %v %v %v, want no expiry", ttl, rem, ok, err)
		}
	}
	real := memory.New(memory.Options{})
	if err := real.Set(ctx, "blink", []byte("v"), time.Nanosecond); err != nil {
		t.Fatalf("Set with a 1ns TTL: %v", err)
	}
}

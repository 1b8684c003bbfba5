package cachekit

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

var errNoSuchUser = errors.New("users: no such user")

// TestCacheError: a chosen error result is cached for its own TTL in both
// tiers: later calls and other replicas get the sentinel itself without
// running the function; other errors are never cached.
func TestCacheError(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, k := range dmKinds() {
		t.Run(k.name, func(t *testing.T) {
			b := k.make(t)
			var runs atomic.Int32
			fn := func(_ context.Context, id int) (string, error) {
				runs.Add(1)
				switch {
				case id == 0:
					return "", fmt.Errorf("lookup %d: %w", id, errNoSuchUser)
				case id < 0:
					return "", errors.New("database down")
				}
				return fmt.Sprint("user", id), nil
			}
			name := Name(uniq(t))
			opts := []FuncOption{name, TTL(time.Hour), CacheError(errNoSuchUser, time.Minute)}
			f := MustWrap1(newTestCache(t, b), fn, opts...)
			for range 3 {
				if _, err := f.Call(ctx, 0); !errors.Is(err, errNoSuchUser) {
					t.Fatalf("Call(0): %v", err)
				}
			}
			if runs.Load() != 1 {
				t.Fatalf("a cached error ran the function %d times", runs.Load())
			}
			if i := f.Info(); i.Hits != 2 || i.Misses != 1 {
				t.Fatalf("info %+v", i)
			}
			if b != nil {
				replica := MustWrap1(newTestCache(t, b, WithL1(false)), fn, opts...)
				if _, err := replica.Call(ctx, 0); !errors.Is(err, errNoSuchUser) || runs.Load() != 1 {
					t.Fatalf("replica: %v (runs %d)", err, runs.Load())
				}
				// The marker has the rule's TTL, not the function's.
				key, _ := f.Key(0)
				if ttlr, ok := b.(interface {
					TTL(context.Context, string) (time.Duration, bool, error)
				}); ok {
					if d, found, err := ttlr.TTL(ctx, key); err != nil || !found || d > time.Minute {
						t.Fatalf("marker TTL %v %v %v", d, found, err)
					}
				}
			}
			// Other errors are not cached.
			for range 2 {
				if _, err := f.Call(ctx, -1); err == nil || errors.Is(err, errNoSuchUser) {
					t.Fatalf("Call(-1): %v", err)
				}
			}
			if runs.Load() != 3 {
				t.Fatalf("runs %d after two uncached errors", runs.Load())
			}
			// Invalidate removes the cached error like any entry.
			if err := f.Invalidate(ctx, 0); err != nil {
				t.Fatal(err)
			}
			if _, err := f.Call(ctx, 0); !errors.Is(err, errNoSuchUser) || runs.Load() != 4 {
				t.Fatalf("after Invalidate: %v (runs %d)", err, runs.Load())
			}
			// A wrapper without the rule does not take the marker for a value.
			other := MustWrap1(newTestCache(t, b, WithL1(false)), fn, name)
			if b != nil {
				if v, err := other.Call(ctx, 0); !errors.Is(err, errNoSuchUser) || v != "" {
					t.Fatalf("wrapper without CacheError: %q %v", v, err)
				}
			}
		})
	}
}

func TestCacheErrorOptions(t *testing.T) {
	t.Parallel()
	c := newTestCache(t, nil)
	fn := func(context.Context, int) (int, error) { return 0, nil }
	for _, opts := range [][]FuncOption{
		{CacheError(nil, time.Second)},
		{CacheError(errNoSuchUser, 0)},
		{CacheError(errNoSuchUser, time.Second), CacheError(errors.New(errNoSuchUser.Error()), time.Second)},
		{CacheError(errNoSuchUser, time.Second), Interop("ns", "op")},
	} {
		if _, err := Wrap1(c, fn, append(opts, Name("x"))...); !errors.Is(err, ErrInvalidOption) {
			t.Errorf("accepted: %v", err)
		}
	}
}

// TestWrapperReplacesEntryOfAnotherType: a wrapper whose key holds a value
// of another type (its result type changed between versions) runs the
// function and replaces the entry; it never returns a zero value as a hit.
func TestWrapperReplacesEntryOfAnotherType(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newTestCache(t, memoryKind().make(t))
	name := Name(uniq(t))
	old := MustWrap1(c, func(_ context.Context, n int) (string, error) { return "old", nil }, name)
	if _, err := old.Call(ctx, 1); err != nil {
		t.Fatal(err)
	}
	runs := 0
	cur := MustWrap1(c, func(_ context.Context, n int) (dmAudit, error) { runs++; return dmAudit{CreatedBy: "new"}, nil }, name)
	for range 2 {
		if v, err := cur.Call(ctx, 1); err != nil || v.CreatedBy != "new" {
			t.Fatalf("Call: %+v %v", v, err)
		}
	}
	if runs != 1 {
		t.Fatalf("function ran %d times", runs)
	}
}

package cachekit

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/cachekit-go/cachekit/backend"
	"github.com/cachekit-go/cachekit/backend/backendtest"
	"github.com/cachekit-go/cachekit/backend/memory"
	"github.com/cachekit-go/cachekit/backend/redis"
	"github.com/cachekit-go/cachekit/internal/testenv"
)

// batchBackend is an in-memory backend with an in-process invalidation
// channel whose first Set waits for a gate (so that the writes queued
// behind it pile up into one batch), optionally a backend.MultiSetter that
// records its calls, and a key whose writes fail.
type batchBackend struct {
	*backendtest.LocalBus
	gate     chan struct{}
	gated    atomic.Bool
	entered  chan struct{}
	failKey  atomic.Value // string
	mu       sync.Mutex
	batches  []int // SetMulti calls: items in each
	messages []backend.Invalidation
}

func newBatchBackend() *batchBackend {
	b := &batchBackend{LocalBus: backendtest.NewLocalBus(memory.New(memory.Options{})),
		gate: make(chan struct{}), entered: make(chan struct{})}
	b.failKey.Store("")
	return b
}

var errRefused = backend.NewError(backend.Permanent, "test", "set", "", errors.New("injected"))

func (b *batchBackend) Set(ctx context.Context, key string, v []byte, ttl time.Duration) error {
	if b.gated.CompareAndSwap(false, true) {
		close(b.entered)
		<-b.gate
	}
	if key == b.failKey.Load().(string) {
		return errRefused
	}
	return b.LocalBus.Set(ctx, key, v, ttl)
}

// record subscribes to the channel and keeps every message, checking that
// each announced key is already in the backend when it is announced.
func (b *batchBackend) record(t *testing.T) {
	stop, _ := b.SubscribeInvalidations(func(m backend.Invalidation) {
		for _, k := range m.Keys {
			if ok, _ := b.Exists(context.Background(), k); !ok {
				t.Errorf("key %s announced before it was stored", k)
			}
		}
		b.mu.Lock()
		b.messages = append(b.messages, m)
		b.mu.Unlock()
	}, func(backend.LinkState) {})
	t.Cleanup(stop)
}

// multiBatchBackend adds SetMulti, made of the Sets it records.
type multiBatchBackend struct{ *batchBackend }

func (b multiBatchBackend) SetMulti(ctx context.Context, items []backend.SetItem) []error {
	b.mu.Lock()
	b.batches = append(b.batches, len(items))
	b.mu.Unlock()
	errs := make([]error, len(items))
	for i, it := range items {
		errs[i] = b.Set(ctx, it.Key, it.Value, it.TTL)
	}
	return errs
}

// Writes that pile up behind a slow one are written as one batch (one
// SetMulti call when the backend has it, Sets one by one otherwise), in
// order (a key's later value wins), and announced in one message after
// they are stored; a write that fails is neither announced nor held
// against the others.
func TestQueuedWritesBatch(t *testing.T) {
	for _, multi := range []bool{true, false} {
		name := "one-by-one"
		if multi {
			name = "multi-setter"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			bb := newBatchBackend()
			var be backend.Backend = bb
			if multi {
				be = multiBatchBackend{bb}
			}
			bb.record(t)
			c := newTestCache(t, be, WithL1(false), WithStampedeLock(false, 0, 0), WithWriteQueue(1024, 1))
			var cnt counter
			f := wrapCounter(t, c, &cnt, Name(uniq(t)))
			ctx := context.Background()
			if _, err := f.Call(ctx, 0); err != nil {
				t.Fatal(err)
			}
			<-bb.entered // the worker is in the first write
			failing, _ := f.Key(5)
			bb.failKey.Store(failing)
			for n := 1; n <= 10; n++ {
				if _, err := f.Call(ctx, n); err != nil {
					t.Fatal(err)
				}
			}
			cnt.version.Store(1)
			if _, err := f.Call(ctx, 3); err != nil { // a second write of key 3, queued after the first
				t.Fatal(err)
			}
			close(bb.gate)
			if err := c.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			for n := 0; n <= 10; n++ {
				k, _ := f.Key(n)
				v, ok, _ := be.Get(ctx, k)
				if ok != (n != 5) {
					t.Fatalf("key %d stored: %v", n, ok)
				}
				if n == 3 {
					got, err := f.Call(ctx, 3)
					if err != nil || got != "v1:3" || len(v) == 0 {
						t.Fatalf("key 3 = %q, %v; want the later write's v1:3", got, err)
					}
				}
			}
			bb.mu.Lock()
			defer bb.mu.Unlock()
			if multi && !slices.Equal(bb.batches, []int{11}) {
				t.Fatalf("SetMulti calls %v, want one of 11 writes", bb.batches)
			}
			if !multi && len(bb.batches) != 0 {
				t.Fatal("SetMulti on a backend without it")
			}
			// One message for the first write, one for the batch (without
			// the failed key; key 3 twice, in write order).
			if len(bb.messages) != 2 || len(bb.messages[0].Keys) != 1 || len(bb.messages[1].Keys) != 10 {
				t.Fatalf("messages %+v", bb.messages)
			}
			want := []string{}
			for _, n := range []int{1, 2, 3, 4, 6, 7, 8, 9, 10, 3} {
				k, _ := f.Key(n)
				want = append(want, k)
			}
			if !slices.Equal(bb.messages[1].Keys, want) {
				t.Fatalf("batch message keys %v, want %v", bb.messages[1].Keys, want)
			}
			r := c.Info().Resilience
			if r.Breaker != "closed" || r.WritesDropped != 0 || r.WritesQueued != 12 {
				t.Fatalf("%+v", r)
			}
			if e := c.Info().BackendErrors; e != 1 {
				t.Fatalf("backend errors %d, want 1 (the failed write)", e)
			}
		})
	}
}

// blob1K is the function of TestSustainedMissesDropNoWrites: a 1 KiB
// result per argument.
func blob1K(_ context.Context, n int) ([]byte, error) {
	b := make([]byte, 1024)
	for i := range b {
		b[i] = byte(n + i)
	}
	return b, nil
}

// Under a sustained miss load against a healthy Redis, the write-behind
// queue keeps up with the default settings: no write is dropped and every
// result is in Redis afterwards. This asserts a behaviour, not a speed: it
// holds on a loaded machine because every call makes its own GET round
// trip over the same connections the writes use, so callers cannot outrun
// a writer that sends everything that piled up in one pipelined round trip;
// to drop a write, one such round trip would have to take as long as 64
// consecutive misses of every caller (a lane holds 1024 writes), and the
// write timeout is a second. The read budget is raised to a second: a
// stall of the loaded machine must not let read timeouts open the breaker
// (which drops writes on purpose); the queue keeps its defaults, which are
// what is tested. Before batching, 4 workers making one SET and
// one PUBLISH round trip per write dropped about three writes in four here.
func TestSustainedMissesDropNoWrites(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts func(t *testing.T) redis.Options
	}{
		{"standalone", func(t *testing.T) redis.Options {
			return redis.Options{Addrs: []string{testenv.Require(t, "CACHEKIT_TEST_REDIS_ADDR")}}
		}},
		// A Cluster's batches go to three nodes at once (rueidis DoMulti
		// splits them by slot).
		{"cluster", func(t *testing.T) redis.Options {
			addrs := strings.Split(testenv.Require(t, "CACHEKIT_TEST_REDIS_CLUSTER_ADDRS"), ",")
			return redis.Options{Addrs: addrs, Mode: redis.ModeCluster}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { sustainedMissesRedis(t, tc.opts(t)) })
	}
}

func sustainedMissesRedis(t *testing.T, opts redis.Options) {
	b, err := redis.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	exists := func(ctx context.Context, keys []string) []bool {
		rc := b.Client()
		var cmds rueidis.Commands
		for _, k := range keys {
			cmds = append(cmds, rc.B().Exists().Key(k).Build())
		}
		out := make([]bool, len(keys))
		for i, res := range rc.DoMulti(ctx, cmds...) {
			v, err := res.AsInt64()
			out[i] = err == nil && v == 1
		}
		return out
	}
	sustainedMisses(t, b, exists)
}

// sustainedMisses runs the load of TestSustainedMissesDropNoWrites against
// b; exists reports which keys b holds.
func sustainedMisses(t *testing.T, b backend.Backend, exists func(context.Context, []string) []bool) {
	t.Helper()
	c, err := New(WithBackend(b), WithL1(false), WithStampedeLock(false, 0, 0), WithReadBudget(time.Second), quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	f := MustWrap1(c, blob1K, Name(uniq(t)))
	ctx := context.Background()
	var next atomic.Int64
	var wg sync.WaitGroup
	stop := time.Now().Add(time.Second)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				n := int(next.Add(1))
				if v, err := f.Call(ctx, n); err != nil || len(v) != 1024 {
					t.Errorf("Call(%d) = %d bytes, %v", n, len(v), err)
					return
				}
			}
		}()
	}
	wg.Wait()
	fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := c.Flush(fctx); err != nil {
		t.Fatal(err)
	}
	calls := next.Load()
	r := c.Info().Resilience
	t.Logf("%d misses in 1s from 16 goroutines: %d writes queued, %d dropped, %d coherence messages",
		calls, r.WritesQueued, r.WritesDropped, c.Info().Coherence.Sent)
	if r.WritesDropped != 0 || r.WritesQueued != uint64(calls) || r.Breaker != "closed" {
		t.Fatalf("%d calls: %+v", calls, r)
	}
	for lo := int64(1); lo <= calls; lo += 1000 {
		var keys []string
		for n := lo; n < lo+1000 && n <= calls; n++ {
			k, _ := f.Key(int(n))
			keys = append(keys, k)
		}
		for i, ok := range exists(ctx, keys) {
			if !ok {
				t.Fatalf("result %d not in the backend after Flush", lo+int64(i))
			}
		}
	}
}

package flight

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestDoDeduplicates(t *testing.T) {
	t.Parallel()
	var g Group[int]
	var calls atomic.Int32
	release := make(chan struct{})
	const n = 20
	var wg sync.WaitGroup
	results := make([]int, n)
	errs := make([]error, n)
	started := make(chan struct{})
	fn := func(context.Context) (int, error) {
		calls.Add(1)
		close(started)
		<-release
		return 7, nil
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		results[0], _, errs[0] = g.Do(context.Background(), "k", 0, fn)
	}()
	<-started
	for i := 1; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var shared bool
			results[i], shared, errs[i] = g.Do(context.Background(), "k", 0, fn)
			if !shared {
				t.Error("joiner not marked shared")
			}
		}()
	}
	for !waiting(&g, "k", n-1) {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	if calls.Load() != 1 {
		t.Fatalf("fn ran %d times", calls.Load())
	}
	for i := range n {
		if results[i] != 7 || errs[i] != nil {
			t.Fatalf("caller %d got %d, %v", i, results[i], errs[i])
		}
	}
	if g.InFlight("k") {
		t.Fatal("call still registered after completion")
	}
}

func waiting[V any](g *Group[V], key string, dups int) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	c := g.calls[key]
	return c != nil && c.dups >= dups
}

func TestCallerCancellationDoesNotCancelSharedCall(t *testing.T) {
	t.Parallel()
	var g Group[string]
	release := make(chan struct{})
	var sawCancel atomic.Bool
	fn := func(ctx context.Context) (string, error) {
		<-release
		if ctx.Err() != nil {
			sawCancel.Store(true)
		}
		return "ok", nil
	}
	ctx1, cancel1 := context.WithCancel(context.Background())
	err1 := make(chan error, 1)
	go func() {
		_, _, err := g.Do(ctx1, "k", 0, fn)
		err1 <- err
	}()
	for !g.InFlight("k") {
		time.Sleep(time.Millisecond)
	}
	res2 := make(chan string, 1)
	go func() {
		v, _, _ := g.Do(context.Background(), "k", 0, fn)
		res2 <- v
	}()
	for !waiting(&g, "k", 1) {
		time.Sleep(time.Millisecond)
	}
	cancel1()
	if err := <-err1; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller got %v", err)
	}
	close(release)
	if v := <-res2; v != "ok" {
		t.Fatalf("second caller got %q", v)
	}
	if sawCancel.Load() {
		t.Fatal("shared call saw the first caller's cancellation")
	}
}

func TestOwnTimeoutAndContextValues(t *testing.T) {
	t.Parallel()
	var g Group[int]
	type ctxKey struct{}
	ctx := context.WithValue(context.Background(), ctxKey{}, "trace")
	_, _, err := g.Do(ctx, "k", time.Millisecond, func(ctx context.Context) (int, error) {
		if ctx.Value(ctxKey{}) != "trace" {
			t.Error("context value lost")
		}
		<-ctx.Done()
		return 0, ctx.Err()
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want deadline exceeded", err)
	}
}

func TestErrorReachesEveryWaiterAndIsNotRemembered(t *testing.T) {
	t.Parallel()
	var g Group[int]
	boom := errors.New("boom")
	release := make(chan struct{})
	fn := func(context.Context) (int, error) { <-release; return 0, boom }
	var wg sync.WaitGroup
	errs := make(chan error, 5)
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, err := g.Do(context.Background(), "k", 0, fn)
			errs <- err
		}()
	}
	for !waiting(&g, "k", 4) {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, boom) {
			t.Fatalf("waiter got %v", err)
		}
	}
	v, _, err := g.Do(context.Background(), "k", 0, func(context.Context) (int, error) { return 3, nil })
	if err != nil || v != 3 {
		t.Fatalf("error was remembered: %d, %v", v, err)
	}
}

func TestPanicBecomesError(t *testing.T) {
	t.Parallel()
	var stack atomic.Value
	g := Group[int]{OnPanic: func(key string, v any, s []byte) { stack.Store(s) }}
	_, _, err := g.Do(context.Background(), "k", 0, func(context.Context) (int, error) { panic("kaput") })
	var pe *PanicError
	if !errors.As(err, &pe) || pe.Value != "kaput" {
		t.Fatalf("got %v", err)
	}
	if s, _ := stack.Load().([]byte); len(s) == 0 {
		t.Fatal("OnPanic not called with a stack")
	}
}

func TestStart(t *testing.T) {
	t.Parallel()
	var g Group[int]
	release := make(chan struct{})
	done := make(chan struct{})
	if !g.Start(context.Background(), "k", 0, func(context.Context) (int, error) {
		<-release
		close(done)
		return 1, nil
	}) {
		t.Fatal("first Start refused")
	}
	if g.Start(context.Background(), "k", 0, func(context.Context) (int, error) { return 2, nil }) {
		t.Fatal("second Start while in flight accepted")
	}
	joined := make(chan int, 1)
	go func() {
		v, _, _ := g.Do(context.Background(), "k", 0, func(context.Context) (int, error) { return 3, nil })
		joined <- v
	}()
	for !waiting(&g, "k", 1) {
		time.Sleep(time.Millisecond)
	}
	close(release)
	<-done
	if v := <-joined; v != 1 {
		t.Fatalf("Do joined the background call and got %d, want 1", v)
	}
}

// A caller that gives up does not end the shared call, and a caller arriving
// after that joins the same call instead of starting another.
func TestLateCallerJoinsAfterCancelledWaiter(t *testing.T) {
	t.Parallel()
	var g Group[int]
	release := make(chan struct{})
	var runs atomic.Int32
	fn := func(context.Context) (int, error) { runs.Add(1); <-release; return 7, nil }
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// The first caller's context is already done: it returns at once, the
	// shared call keeps running.
	if _, _, err := g.Do(ctx, "k", 0, fn); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller got %v", err)
	}
	if !g.InFlight("k") {
		t.Fatal("the shared call ended with its only caller")
	}
	res := make(chan int, 1)
	go func() {
		v, shared, _ := g.Do(context.Background(), "k", 0, fn)
		if !shared {
			v = -1
		}
		res <- v
	}()
	for !waiting(&g, "k", 1) {
		time.Sleep(time.Millisecond)
	}
	close(release)
	if v := <-res; v != 7 {
		t.Fatalf("late caller got %d, want the shared result 7", v)
	}
	if runs.Load() != 1 {
		t.Fatalf("function ran %d times", runs.Load())
	}
}

// runtime.Goexit in the shared function is an error for every caller, not a
// zero value with a nil error.
func TestGoexitBecomesError(t *testing.T) {
	t.Parallel()
	var g Group[int]
	ctx, cancel := context.WithCancel(context.Background()) // a caller that could give up: detached run
	defer cancel()
	v, _, err := g.Do(ctx, "k", 0, func(context.Context) (int, error) {
		runtime.Goexit()
		return 1, nil
	})
	if !errors.Is(err, ErrGoexit) || v != 0 {
		t.Fatalf("got %d, %v", v, err)
	}
	if g.InFlight("k") {
		t.Fatal("call not removed after Goexit")
	}
}

// A first caller that cannot give up runs the call in its own goroutine: a
// Goexit there ends that goroutine (as a direct call would), and a caller
// that joined gets ErrGoexit.
func TestInlineGoexit(t *testing.T) {
	t.Parallel()
	var g Group[int]
	release := make(chan struct{})
	leaderExited := make(chan bool, 1)
	go func() {
		returned := false
		defer func() { leaderExited <- !returned }()
		_, _, _ = g.Do(context.Background(), "k", 0, func(context.Context) (int, error) {
			<-release
			runtime.Goexit()
			return 1, nil
		})
		returned = true
	}()
	for !g.InFlight("k") {
		time.Sleep(time.Millisecond)
	}
	joined := make(chan error, 1)
	go func() {
		_, _, err := g.Do(context.Background(), "k", 0, func(context.Context) (int, error) { return 2, nil })
		joined <- err
	}()
	for !waiting(&g, "k", 1) {
		time.Sleep(time.Millisecond)
	}
	close(release)
	if !<-leaderExited {
		t.Fatal("the inline caller returned from Do after a Goexit")
	}
	if err := <-joined; !errors.Is(err, ErrGoexit) {
		t.Fatalf("joiner got %v", err)
	}
	if g.InFlight("k") {
		t.Fatal("call not removed after Goexit")
	}
}

// The context of a call behaves as context.WithDeadline's: Err before and
// after the deadline without anyone asking for Done, contexts derived from
// it end with it, and the end of the call cancels it.
func TestCallContext(t *testing.T) {
	t.Parallel()
	type ctxKey struct{}
	var g Group[int]
	parent := context.WithValue(context.Background(), ctxKey{}, "v")
	var (
		derived       context.Context
		cancelDerived context.CancelFunc = func() {}
	)
	defer func() { cancelDerived() }()
	_, _, err := g.Do(parent, "k", 20*time.Millisecond, func(ctx context.Context) (int, error) {
		if dl, ok := ctx.Deadline(); !ok || time.Until(dl) > 20*time.Millisecond {
			t.Errorf("deadline %v %v", dl, ok)
		}
		if ctx.Err() != nil || ctx.Value(ctxKey{}) != "v" {
			t.Errorf("fresh call context: %v, %v", ctx.Err(), ctx.Value(ctxKey{}))
		}
		time.Sleep(30 * time.Millisecond)
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			t.Errorf("after the deadline, Err = %v", ctx.Err())
		}
		select {
		case <-ctx.Done():
		default:
			t.Error("Done not closed after the deadline")
		}
		return 0, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	_, _, _ = g.Do(parent, "k", time.Hour, func(ctx context.Context) (int, error) {
		if _, _, ok := Detached(ctx); !ok {
			t.Error("Detached does not see the call's context")
		}
		derived, cancelDerived = context.WithCancel(ctx)
		if derived.Value(ctxKey{}) != "v" {
			t.Error("value lost in a derived context")
		}
		return 0, nil
	})
	select {
	case <-derived.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("a context derived from the call's was not cancelled when the call ended")
	}
	if !errors.Is(derived.Err(), context.Canceled) {
		t.Fatalf("derived context: %v", derived.Err())
	}
	// A context never asked for Done, after the call: cancelled too.
	var kept context.Context
	_, _, _ = g.Do(parent, "k", time.Hour, func(ctx context.Context) (int, error) { kept = ctx; return 0, nil })
	if !errors.Is(kept.Err(), context.Canceled) {
		t.Fatalf("call context after the call: %v", kept.Err())
	}
	if _, _, ok := Detached(kept); ok {
		t.Fatal("Detached on an ended call")
	}
}

// After Forget, a new caller starts a new call; the forgotten call still
// answers its own callers, and its end does not remove the new call.
func TestForget(t *testing.T) {
	t.Parallel()
	var g Group[int]
	releaseOld, releaseNew := make(chan struct{}), make(chan struct{})
	oldRes := make(chan int, 1)
	go func() {
		v, _, _ := g.Do(context.Background(), "k", 0, func(context.Context) (int, error) { <-releaseOld; return 1, nil })
		oldRes <- v
	}()
	for !g.InFlight("k") {
		time.Sleep(time.Millisecond)
	}
	g.Forget("k")
	if g.InFlight("k") {
		t.Fatal("forgotten call still joinable")
	}
	newRes := make(chan int, 1)
	go func() {
		v, shared, _ := g.Do(context.Background(), "k", 0, func(context.Context) (int, error) { <-releaseNew; return 2, nil })
		if shared {
			v = -1
		}
		newRes <- v
	}()
	for !g.InFlight("k") {
		time.Sleep(time.Millisecond)
	}
	close(releaseOld)
	if v := <-oldRes; v != 1 {
		t.Fatalf("forgotten call's caller got %d", v)
	}
	if !g.InFlight("k") {
		t.Fatal("the end of the forgotten call removed the new one")
	}
	joined := make(chan int, 1)
	go func() {
		v, _, _ := g.Do(context.Background(), "k", 0, func(context.Context) (int, error) { return 3, nil })
		joined <- v
	}()
	for !waiting(&g, "k", 1) {
		time.Sleep(time.Millisecond)
	}
	close(releaseNew)
	if a, b := <-newRes, <-joined; a != 2 || b != 2 {
		t.Fatalf("new call gave %d and %d, want 2 to both", a, b)
	}
	g.ForgetAll()
	if g.InFlight("k") {
		t.Fatal("ForgetAll left a call")
	}
}

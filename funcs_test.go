package cachekit

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/backend/memory"
)

// recorder is the body of the functions the per-arity tests wrap
// (funcs_gen_test.go): it counts runs and returns its arguments, in order,
// under a version the test can bump.
type recorder struct {
	calls   atomic.Int32
	version atomic.Int32
}

func (r *recorder) run(_ context.Context, args ...any) (string, error) {
	r.calls.Add(1)
	return fmt.Sprintf("v%d%v", r.version.Load(), args), nil
}

// funcMethods are the methods exerciseFunc calls on every FuncN; a method
// added to the generated types must be added here (and exercised) too.
var funcMethods = []string{"Cache", "Call", "Clear", "Fn", "Info", "Invalidate", "Key", "Name"}

// exerciseFunc runs every constructor and method of one arity against the
// memory backend on a fake clock. wrap and mustWrap are WrapN and MustWrapN
// instantiated for the types of fn (made by mkFn around a recorder); args
// and other are two different argument lists (both empty for arity 0). The
// methods are called through reflection so that one body serves every arity.
func exerciseFunc(t *testing.T, wrap, mustWrap any, mkFn func(*recorder) any, args, other []any) {
	t.Helper()
	ctx := context.Background()
	var r recorder
	fn := reflect.ValueOf(mkFn(&r))

	// Wrap and MustWrap refuse a nil cache.
	res := reflect.ValueOf(wrap).Call([]reflect.Value{reflect.Zero(reflect.TypeFor[*Cache]()), fn})
	if err, _ := res[1].Interface().(error); !errors.Is(err, ErrInvalidOption) {
		t.Fatalf("Wrap(nil cache) = %v, want ErrInvalidOption", err)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("MustWrap(nil cache) did not panic")
			}
		}()
		reflect.ValueOf(mustWrap).Call([]reflect.Value{reflect.Zero(reflect.TypeFor[*Cache]()), fn})
	}()

	clk := fakeClock()
	b := memory.New(memory.Options{Now: clk.Now})
	c := newTimed(t, clk, b)
	name := uniq(t)
	opts := []reflect.Value{reflect.ValueOf(Name(name)), reflect.ValueOf(TTL(100 * time.Second)), reflect.ValueOf(StaleWhileRevalidate(0.5))}
	res = reflect.ValueOf(wrap).Call(append([]reflect.Value{reflect.ValueOf(c), fn}, opts...))
	if !res[1].IsNil() {
		t.Fatalf("Wrap: %v", res[1].Interface())
	}
	f := res[0]
	if got := reflect.ValueOf(mustWrap).Call(append([]reflect.Value{reflect.ValueOf(c), fn}, opts...))[0]; got.IsNil() || got.Pointer() == f.Pointer() {
		t.Fatal("MustWrap did not return a new wrapper")
	}

	var names []string
	for i := range f.NumMethod() {
		names = append(names, f.Type().Method(i).Name)
	}
	if !reflect.DeepEqual(names, funcMethods) {
		t.Fatalf("%s has methods %v; exerciseFunc knows %v", f.Type(), names, funcMethods)
	}

	values := func(lead []reflect.Value, xs []any) []reflect.Value {
		for _, x := range xs {
			lead = append(lead, reflect.ValueOf(x))
		}
		return lead
	}
	method := func(m string, in ...reflect.Value) []reflect.Value { return f.MethodByName(m).Call(in) }
	call := func(ctx context.Context, xs []any) string {
		t.Helper()
		out := method("Call", values([]reflect.Value{reflect.ValueOf(ctx)}, xs)...)
		if !out[1].IsNil() {
			t.Fatalf("Call: %v", out[1].Interface())
		}
		return out[0].String()
	}
	key := func(xs []any) string {
		t.Helper()
		out := method("Key", values(nil, xs)...)
		if !out[1].IsNil() {
			t.Fatalf("Key: %v", out[1].Interface())
		}
		return out[0].String()
	}
	info := func() Info { return method("Info")[0].Interface().(Info) }
	want := func(version int, xs []any) string { return fmt.Sprintf("v%d%v", version, xs) }
	runs := func(n int32, after string) {
		t.Helper()
		if got := r.calls.Load(); got != n {
			t.Fatalf("after %s the function ran %d times, want %d", after, got, n)
		}
	}

	if got := method("Name")[0].String(); got != name {
		t.Errorf("Name() = %q, want %q", got, name)
	}
	if got := method("Cache")[0].Interface().(*Cache); got != c {
		t.Error("Cache() is not the cache wrapped with")
	}

	// Call: a miss runs the function with the arguments in order; Fn is the
	// same cached call as a plain function value.
	if got := call(ctx, args); got != want(0, args) {
		t.Fatalf("Call = %q, want %q", got, want(0, args))
	}
	plain := method("Fn")[0]
	if plain.Type() != fn.Type() {
		t.Fatalf("Fn() is a %s, want the wrapped signature %s", plain.Type(), fn.Type())
	}
	out := plain.Call(values([]reflect.Value{reflect.ValueOf(ctx)}, args))
	if !out[1].IsNil() || out[0].String() != want(0, args) {
		t.Fatalf("Fn()(...) = %v %v", out[0], out[1])
	}
	runs(1, "a miss and a hit")
	if i := info(); i.Misses != 1 || i.Hits != 1 || i.L1Hits != 1 {
		t.Fatalf("Info after a miss and a hit: %+v", i)
	}

	// Key is the key Call stored under.
	k := key(args)
	if !strings.HasPrefix(k, "func:"+name+":args:") {
		t.Fatalf("Key = %q", k)
	}
	flushBackend(t, b) // the backend write is made in the background
	if _, ok, err := b.Get(ctx, k); err != nil || !ok {
		t.Fatalf("the backend has no entry under Key (%v, %v)", ok, err)
	}
	if len(args) > 0 {
		if key(other) == k {
			t.Fatal("two argument lists share a key")
		}
		if got := call(ctx, other); got != want(0, other) {
			t.Fatalf("Call(other) = %q", got)
		}
		runs(2, "a call with other arguments")
	}
	n := r.calls.Load()

	// A stale hit returns the old value and refreshes in the background.
	r.version.Store(1)
	clk.Advance(60 * time.Second)
	if got := call(ctx, args); got != want(0, args) {
		t.Fatalf("stale Call = %q, want the old value", got)
	}
	eventually(t, "refresh", func() bool { return info().Refreshes == 1 })
	if got := call(ctx, args); got != want(1, args) {
		t.Fatalf("after the refresh Call = %q", got)
	}
	n++
	runs(n, "a refresh")

	// Invalidate removes the entry of one argument list.
	if errV := method("Invalidate", values([]reflect.Value{reflect.ValueOf(ctx)}, args)...)[0]; !errV.IsNil() {
		t.Fatalf("Invalidate: %v", errV.Interface())
	}
	if _, ok, _ := b.Get(ctx, k); ok {
		t.Fatal("Invalidate left the backend entry")
	}
	call(ctx, args)
	n++
	runs(n, "Invalidate")

	// A bypassed call runs the function and leaves the cache alone.
	if got := call(Bypass(ctx), args); got != want(1, args) {
		t.Fatalf("bypassed Call = %q", got)
	}
	n++
	runs(n, "a bypassed call")
	if info().Bypassed != 1 {
		t.Fatalf("Info after a bypassed call: %+v", info())
	}

	// Clear removes every entry of the function from both tiers.
	if errV := method("Clear", reflect.ValueOf(ctx))[0]; !errV.IsNil() {
		t.Fatalf("Clear: %v", errV.Interface())
	}
	if _, ok, _ := b.Get(ctx, k); ok {
		t.Fatal("Clear left the backend entry")
	}
	call(ctx, args)
	n++
	runs(n, "Clear")
}

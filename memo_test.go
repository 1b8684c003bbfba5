package cachekit

import (
	"context"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"unsafe"
)

type memoID int

type withMethod int

func (withMethod) String() string { return "m" }

func memoTwice(_ context.Context, id memoID, tag string) (string, error) {
	return tag + ":" + strconv.Itoa(int(id)*2), nil
}

func memoFloat(_ context.Context, f float64) (float64, error) { return f, nil }

// Many more distinct arguments than memo slots: every call is answered with
// its own arguments' value (a memo collision never lends another call's
// key), and each entry is stored under the key Key derives.
func TestKeyMemoNeverConfusesArguments(t *testing.T) {
	c, _ := New(quiet())
	defer c.Close()
	f := MustWrap2(c, memoTwice)
	if f.memo == nil {
		t.Fatal("no memo for (named int, string) arguments")
	}
	ctx := context.Background()
	const n = 5000
	for round := range 2 {
		for i := range n {
			tag := "t" + strconv.Itoa(i%7)
			got, err := f.Call(ctx, memoID(i), tag)
			if want := tag + ":" + strconv.Itoa(i*2); err != nil || got != want {
				t.Fatalf("round %d: Call(%d, %s) = %q, %v; want %q", round, i, tag, got, err, want)
			}
		}
	}
	for i := range n {
		k, err := f.Key(memoID(i), "t"+strconv.Itoa(i%7))
		if err != nil {
			t.Fatal(err)
		}
		if ok, _ := c.Exists(ctx, k); !ok {
			t.Fatalf("entry %d is not stored under its derived key", i)
		}
	}
}

// Only plain bool, integer and string arguments are memoized, and never with
// a KeyFunc (which may depend on more than the arguments).
func TestKeyMemoEligibility(t *testing.T) {
	c, _ := New(quiet())
	defer c.Close()
	if MustWrap1(c, memoFloat).memo != nil {
		t.Error("float arguments memoized (-0.0 == 0.0 but their keys differ)")
	}
	if MustWrap1(c, benchUserMemo).memo == nil {
		t.Error("int arguments not memoized")
	}
	kf := KeyFunc(func(args []any) (string, error) { return "fixed", nil })
	if MustWrap1(c, benchUserMemo, kf).memo != nil {
		t.Error("a KeyFunc wrapper has a memo")
	}
	for i, tc := range []struct{ got, want argShape }{
		{shapeOf[bool](), shape1}, {shapeOf[int8](), shape1}, {shapeOf[uint16](), shape2}, {shapeOf[int32](), shape4},
		{shapeOf[int](), shape8}, {shapeOf[memoID](), shape8}, {shapeOf[string](), shapeString}, {shapeOf[[]byte](), shapeNone},
		{shapeOf[struct{ A int }](), shapeNone}, {shapeOf[any](), shapeNone}, {shapeOf[*int](), shapeNone},
		{shapeOf[float64](), shapeNone}, {shapeOf[withMethod](), shapeNone}, // its encoding may depend on a method
	} {
		if tc.got != tc.want {
			t.Errorf("case %d: shape %d, want %d", i, tc.got, tc.want)
		}
	}
}

func benchUserMemo(_ context.Context, id int) (int, error) { return id, nil }

// An L1 hit through a wrapper allocates nothing.
func TestWrapperL1HitAllocs(t *testing.T) {
	c, _ := New(quiet())
	defer c.Close()
	f := MustWrap1(c, benchUserMemo)
	ctx := context.Background()
	if _, err := f.Call(ctx, 12345); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(200, func() { _, _ = f.Call(ctx, 12345) }); n != 0 {
		t.Errorf("an L1 hit allocates %v times", n)
	}
}

// The memo may grow to about as many slots as L1 can hold entries (a power
// of two within [minMemoLimit, maxMemoLimit]), grows 4x at a time without
// overshooting that limit, and stops there however many arguments it sees.
func TestKeyMemoSizedWithL1(t *testing.T) {
	for _, tc := range []struct {
		opts []Option
		want int
	}{
		{[]Option{WithL1(false)}, minMemoLimit},
		{[]Option{WithL1Size(1 << 20)}, minMemoLimit},
		{[]Option{WithL1Size(64 << 20)}, 1 << 18}, // ~190k entries of ~350 B
		{[]Option{WithL1Size(1 << 40)}, maxMemoLimit},
	} {
		c, err := New(append([]Option{quiet()}, tc.opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		got := memoSlotsFor(c)
		if got != tc.want {
			t.Errorf("memo limit %d, want %d", got, tc.want)
		}
		if c.l1 != nil {
			entries := c.l1.MaxBytes() / (c.l1.EntryOverhead() + memoKeyGuess + 8)
			if int64(got) < min(entries, maxMemoLimit) || (got > minMemoLimit && int64(got/2) >= entries) {
				t.Errorf("memo limit %d for an L1 of about %d entries", got, entries)
			}
		}
		_ = c.Close()
	}
	var budget atomic.Int64
	budget.Store(1 << 20)
	m := newKeyMemo(1<<12, &budget, nil, shape8)
	for i := range 10_000 {
		a := memoArgs{n: 1}
		a.words[0] = uint64(i)
		h, e := m.get(&a)
		if e != nil {
			t.Fatalf("argument %d found before it was put", i)
		}
		m.put(h, &a, strconv.Itoa(i))
	}
	if n := len(m.table.Load().slots); n != 1<<12 || budget.Load() != 1<<20-(1<<12-minMemoSlots) {
		t.Fatalf("memo grew to %d slots, limit %d; budget left %d", n, 1<<12, budget.Load())
	}
	// Recent arguments are still remembered, with their own keys.
	found := 0
	for i := 9_000; i < 10_000; i++ {
		a := memoArgs{n: 1}
		a.words[0] = uint64(i)
		if _, e := m.get(&a); e != nil {
			if e.key != strconv.Itoa(i) {
				t.Fatalf("argument %d has key %q", i, e.key)
			}
			found++
		}
	}
	if found < 500 {
		t.Fatalf("only %d of the last 1000 arguments remembered", found)
	}
	// The cache's budget is shared: a second memo grows only by what the
	// first left.
	budget.Store(1024 - minMemoSlots)
	m2 := newKeyMemo(1<<12, &budget, nil, shape8)
	for i := range 10_000 {
		a := memoArgs{n: 1}
		a.words[0] = uint64(i)
		h, _ := m2.get(&a)
		m2.put(h, &a, "k")
	}
	if n := len(m2.table.Load().slots); n != 1024 || budget.Load() != 0 {
		t.Fatalf("memo over a budget of %d slots grew to %d (budget left %d)", 1024-minMemoSlots, n, budget.Load())
	}
}

// With L1 keyed by the logical key, a memo entry carries the key's L1 hash
// and the slot of a call carries it on; with a Python prefix (another L1
// key) it does not.
func TestKeyMemoCarriesL1Hash(t *testing.T) {
	c, _ := New(quiet())
	defer c.Close()
	f := MustWrap1(c, benchUserMemo)
	ctx := context.Background()
	if _, err := f.Call(ctx, 7); err != nil {
		t.Fatal(err)
	}
	var s slot
	ok, err := callKey1(f.Wrapper, ctx, 7, &s)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if !s.hashed || s.l1hash != c.l1.Hash(s.key) {
		t.Fatalf("slot hashed %v, hash %x, want %x", s.hashed, s.l1hash, c.l1.Hash(s.key))
	}
	if _, h := lookupSlot[int](c, &f.p, s); h != fresh {
		t.Fatalf("lookup through the kept hash: %v", h)
	}
	py, _ := New(quiet(), WithPythonLayout(true))
	defer py.Close()
	g := MustWrap1(py, benchUserMemo)
	if g.memo == nil || g.memo.l1 != nil {
		t.Fatal("a wrapper whose L1 key is not its logical key keeps L1 hashes")
	}
	if _, err := g.Call(ctx, 7); err != nil {
		t.Fatal(err)
	}
	if r, err := g.Call(ctx, 7); err != nil || r != 7 {
		t.Fatalf("hit under the Python layout: %v, %v", r, err)
	}
}

// A key derived again after the memo lost its entry is L1's own string
// (L1 then compares keys by pointer).
func TestKeyMemoSharesL1KeyString(t *testing.T) {
	c, _ := New(quiet())
	defer c.Close()
	f := MustWrap1(c, benchUserMemo)
	ctx := context.Background()
	if _, err := f.Call(ctx, 9); err != nil {
		t.Fatal(err)
	}
	f.memo.table.Store(newMemoTable(minMemoSlots)) // forget every key
	if _, err := f.Call(ctx, 9); err != nil {
		t.Fatal(err)
	}
	a := memoArgs{n: 1}
	a.words[0] = 9
	_, e := f.memo.get(&a)
	if e == nil {
		t.Fatal("key not remembered again")
	}
	copied := strings.Clone(e.key)
	stored := c.l1.Key(c.l1.Hash(copied), copied)
	if unsafe.StringData(stored) == unsafe.StringData(copied) {
		t.Fatal("L1 does not hold the key")
	}
	if unsafe.StringData(e.key) != unsafe.StringData(stored) {
		t.Fatal("the memo keeps another copy of L1's key string")
	}
}

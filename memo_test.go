package cachekit

import (
	"context"
	"strconv"
	"testing"
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

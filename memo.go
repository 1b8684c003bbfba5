package cachekit

import (
	"context"
	"hash/maphash"
	"reflect"
	"sync/atomic"
	"unsafe"
)

// The key memo spares an L1 hit the cost of deriving its key. A key is
// MessagePack of the arguments hashed with blake2b-256 and hex-encoded: about
// half of an L1 hit's time before the memo. It is a pure function of the
// wrapper (identity, namespace, integrity or interop names, all fixed at
// Wrap time) and the arguments, so a wrapper can remember the keys of
// recent arguments. The memo does this for arguments of plain types (bool,
// integers, strings, including named types without methods: their
// encoding cannot depend on anything but their value), keyed by the
// arguments' bits with a cheap hash; the full key is derived only when the
// memo does not hold the arguments. It is a direct-mapped table of
// immutable entries read without locks: a collision replaces the older
// entry, which only costs a later derivation. It starts small and grows
// (4x, up to maxMemoSlots) once it has taken half as many keys as it has slots. Entries hold the
// logical key (before any tenant prefix), so one entry serves every tenant.
// A KeyFunc may not be pure, so wrappers with one have no memo.

const (
	minMemoSlots = 256
	maxMemoSlots = 1 << 15
)

// argShape says how a memoized argument's bits are read.
type argShape uint8

const (
	shapeNone argShape = iota // not memoizable
	shape1
	shape2
	shape4
	shape8
	shapeString
)

// shapeOf returns how to read an argument of type A, or shapeNone when A is
// not a plain bool, integer or string type.
func shapeOf[A any]() argShape {
	t := reflect.TypeFor[A]()
	if t.NumMethod() != 0 {
		return shapeNone
	}
	switch t.Kind() {
	case reflect.String:
		return shapeString
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		switch t.Size() {
		case 1:
			return shape1
		case 2:
			return shape2
		case 4:
			return shape4
		case 8:
			return shape8
		}
	}
	return shapeNone
}

// memoArgs are the bits of up to four arguments.
type memoArgs struct {
	n     int
	words [4]uint64
	strs  [4]string
}

// set records argument i of the given shape, read from p.
func (a *memoArgs) set(i int, shape argShape, p unsafe.Pointer) {
	switch shape {
	case shape1:
		a.words[i] = uint64(*(*uint8)(p))
	case shape2:
		a.words[i] = uint64(*(*uint16)(p))
	case shape4:
		a.words[i] = uint64(*(*uint32)(p))
	case shape8:
		a.words[i] = *(*uint64)(p)
	case shapeString:
		a.strs[i] = *(*string)(p)
	}
}

// equal compares only the strings in use (comparing all four cost more than
// the rest of a memo lookup).
func (a *memoArgs) equal(b *memoArgs) bool {
	if a.n != b.n || a.words != b.words {
		return false
	}
	for i := range a.n {
		if a.strs[i] != b.strs[i] {
			return false
		}
	}
	return true
}

type memoEntry struct {
	args memoArgs
	key  string
}

type memoTable struct {
	slots   []atomic.Pointer[memoEntry]
	mask    uint64
	inserts atomic.Int64
}

// keyMemo maps argument bits to logical keys for one wrapper.
type keyMemo struct {
	shapes [4]argShape
	seed   maphash.Seed
	table  atomic.Pointer[memoTable]
}

// newKeyMemo returns a memo for arguments of the given shapes, or nil when
// one of them cannot be memoized.
func newKeyMemo(shapes ...argShape) *keyMemo {
	m := &keyMemo{seed: maphash.MakeSeed()}
	for i, s := range shapes {
		if s == shapeNone {
			return nil
		}
		m.shapes[i] = s
	}
	m.table.Store(newMemoTable(minMemoSlots))
	return m
}

func newMemoTable(n int) *memoTable {
	return &memoTable{slots: make([]atomic.Pointer[memoEntry], n), mask: uint64(n - 1)}
}

func (m *keyMemo) hash(a *memoArgs) uint64 {
	h := uint64(a.n)
	for i := range a.n {
		h ^= a.words[i] + 0x9e3779b97f4a7c15 + h<<6 + h>>2
		if a.strs[i] != "" {
			h ^= maphash.String(m.seed, a.strs[i])
		}
	}
	// fmix64 (MurmurHash3's finalizer): spread sequential integers over
	// the table.
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// get returns the logical key remembered for the arguments. Arguments live
// in one of two neighbouring slots (two-way associative: two arguments whose
// hashes collide do not keep evicting each other).
func (m *keyMemo) get(a *memoArgs) (uint64, string, bool) {
	h := m.hash(a)
	t := m.table.Load()
	i := h & t.mask
	if e := t.slots[i].Load(); e != nil && e.args.equal(a) {
		return h, e.key, true
	}
	if e := t.slots[i^1].Load(); e != nil && e.args.equal(a) {
		return h, e.key, true
	}
	return h, "", false
}

// put remembers key for the arguments (h is their hash from get) and grows
// the table once it has taken half as many keys as it has slots.
func (m *keyMemo) put(h uint64, a *memoArgs, key string) {
	t := m.table.Load()
	t.place(h, &memoEntry{args: *a, key: key})
	if n := t.inserts.Add(1); n > int64(len(t.slots))/2 && len(t.slots) < maxMemoSlots {
		m.table.CompareAndSwap(t, m.grown(t))
	}
}

// place stores e in the free one of its two slots, else in either.
func (t *memoTable) place(h uint64, e *memoEntry) {
	i := h & t.mask
	switch {
	case t.slots[i].Load() == nil:
	case t.slots[i^1].Load() == nil:
		i ^= 1
	default:
		i ^= (h >> 40) & 1 // either neighbour goes
	}
	t.slots[i].Store(e)
}

// grown returns a table four times larger holding t's entries: keeping
// them keeps their key strings, which L1 holds too, so that L1 compares
// keys by pointer instead of byte by byte.
func (m *keyMemo) grown(t *memoTable) *memoTable {
	nt := newMemoTable(len(t.slots) * 4)
	for i := range t.slots {
		if e := t.slots[i].Load(); e != nil {
			nt.place(m.hash(&e.args), e)
		}
	}
	return nt
}

// memoKey returns the slot of a call whose arguments are a (their bits
// recorded by the caller), deriving the key through args only when the memo
// does not hold it. ok == false: run uncached (see callKey).
func (w *Wrapper) memoKey(ctx context.Context, a *memoArgs, args func() []any) (s slot, ok bool, err error) {
	if w.c.skip(ctx, &w.p) {
		return slot{}, false, nil
	}
	h, k, hit := w.memo.get(a)
	if !hit {
		var err error
		if k, err = w.keyFor(args()); err != nil {
			w.uncacheable(err)
			return slot{}, false, nil
		}
		w.memo.put(h, a, k)
	}
	if s, err = w.slot(ctx, k); err != nil {
		return slot{}, false, err
	}
	return s, true, nil
}

// callKey0..callKey4 are callKey for each arity: through the memo when the
// wrapper has one, without boxing the arguments unless a key is derived.

func callKey0(w *Wrapper, ctx context.Context) (slot, bool, error) {
	if w.memo == nil {
		return w.callKey(ctx)
	}
	var m memoArgs
	return w.memoKey(ctx, &m, func() []any { return []any{} })
}

func callKey1[A any](w *Wrapper, ctx context.Context, a A) (slot, bool, error) {
	if w.memo == nil {
		return w.callKey(ctx, a)
	}
	m := memoArgs{n: 1}
	m.set(0, w.memo.shapes[0], unsafe.Pointer(&a))
	return w.memoKey(ctx, &m, func() []any { return []any{a} })
}

func callKey2[A, B any](w *Wrapper, ctx context.Context, a A, b B) (slot, bool, error) {
	if w.memo == nil {
		return w.callKey(ctx, a, b)
	}
	m := memoArgs{n: 2}
	m.set(0, w.memo.shapes[0], unsafe.Pointer(&a))
	m.set(1, w.memo.shapes[1], unsafe.Pointer(&b))
	return w.memoKey(ctx, &m, func() []any { return []any{a, b} })
}

func callKey3[A, B, C any](w *Wrapper, ctx context.Context, a A, b B, c C) (slot, bool, error) {
	if w.memo == nil {
		return w.callKey(ctx, a, b, c)
	}
	m := memoArgs{n: 3}
	m.set(0, w.memo.shapes[0], unsafe.Pointer(&a))
	m.set(1, w.memo.shapes[1], unsafe.Pointer(&b))
	m.set(2, w.memo.shapes[2], unsafe.Pointer(&c))
	return w.memoKey(ctx, &m, func() []any { return []any{a, b, c} })
}

func callKey4[A, B, C, D any](w *Wrapper, ctx context.Context, a A, b B, c C, d D) (slot, bool, error) {
	if w.memo == nil {
		return w.callKey(ctx, a, b, c, d)
	}
	m := memoArgs{n: 4}
	m.set(0, w.memo.shapes[0], unsafe.Pointer(&a))
	m.set(1, w.memo.shapes[1], unsafe.Pointer(&b))
	m.set(2, w.memo.shapes[2], unsafe.Pointer(&c))
	m.set(3, w.memo.shapes[3], unsafe.Pointer(&d))
	return w.memoKey(ctx, &m, func() []any { return []any{a, b, c, d} })
}

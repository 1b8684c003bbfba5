package cachekit

import (
	"context"
	"hash/maphash"
	"reflect"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/cachekit-go/cachekit/internal/l1"
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
// (4x, up to a limit sized with L1: memoSlotsFor) once it has taken half as
// many keys as it has slots. Entries hold the logical key (before any tenant
// prefix), so one entry serves every tenant. A KeyFunc may not be pure, so
// wrappers with one have no memo.
//
// When the L1 key is the logical key itself (no encryption, no Python
// prefix), an entry also holds the key's L1 hash, so that an L1 hit through
// the memo hashes nothing but the arguments; and the key string it holds is
// the one L1 stored on the miss, so L1 compares keys by pointer.

const (
	minMemoSlots = 256
	// minMemoLimit and maxMemoLimit bound memoSlotsFor. The floor is what
	// the memo grew to before it was sized with L1 (a 32k cap that its 4x
	// growth overshot): a small L1 still spares its misses the derivation
	// of keys it has seen, for at most 6.5 MiB.
	minMemoLimit = 1 << 16
	maxMemoLimit = 1 << 20
	// memoKeyGuess is the key length memoSlotsFor assumes (a namespace,
	// the function's identity and 64 hex digits).
	memoKeyGuess = 100
)

// memoSlotsFor returns how many slots the memos of c's wrappers may grow
// to, together and each: the power of two at or above the number of entries
// c's L1 can hold (its byte budget over the charge of an entry with a
// memoKeyGuess-byte key and a small value), within [minMemoLimit,
// maxMemoLimit]. A memo smaller than L1's capacity re-derives keys
// (blake2b, about 1 us) for hits that L1 answers: over the Zipf(1.01)
// trace of the suite (100k L1 entries), 32k slots remember 65 % of the
// calls, 128k slots 78 %.
//
// Memory: a slot is 8 bytes, and a filled one points to a 96-byte entry
// (its key string is L1's, shared), so all memos of a cache hold at most
// memoSlotsFor * 104 bytes (plus 2 KiB for each wrapper's first table):
// 13 MiB for the suite's 34 MiB L1, 52 MiB for the default 100 MiB, and
// only if the wrappers see that many distinct arguments. The budget is
// taken as tables grow and never returned (wrappers live as long as their
// cache in practice).
func memoSlotsFor(c *Cache) int {
	n := minMemoLimit
	if c.l1 == nil {
		return n
	}
	entries := c.l1.MaxBytes() / (c.l1.EntryOverhead() + memoKeyGuess + 8)
	for int64(n) < entries && n < maxMemoLimit {
		n *= 2
	}
	return n
}

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

// memoEntry is one remembered key. It is immutable once published.
type memoEntry struct {
	n     int
	words [4]uint64
	strs  []string // the string arguments' values by position; nil when the wrapper has none
	key   string
	// l1hash is L1's hash of key (when memo.l1 is set): the L1 lookup of
	// a hit does not hash the key again.
	l1hash uint64
}

// newMemoEntry copies the arguments a (keeping strings only when there are
// some: entries of integer arguments stay at 96 bytes).
func newMemoEntry(a *memoArgs, strs bool, key string, l1hash uint64) *memoEntry {
	e := &memoEntry{n: a.n, words: a.words, key: key, l1hash: l1hash}
	if strs {
		e.strs = append([]string(nil), a.strs[:a.n]...)
	}
	return e
}

// matches compares only the strings in use (comparing all four cost more
// than the rest of a memo lookup).
func (e *memoEntry) matches(a *memoArgs) bool {
	// Word by word: comparing the arrays calls memequal.
	if e.n != a.n || e.words[0] != a.words[0] || e.words[1] != a.words[1] ||
		e.words[2] != a.words[2] || e.words[3] != a.words[3] {
		return false
	}
	for i, s := range e.strs {
		if a.strs[i] != s {
			return false
		}
	}
	return true
}

// args returns the arguments e was made for (to rehash it on growth).
func (e *memoEntry) args() memoArgs {
	a := memoArgs{n: e.n, words: e.words}
	copy(a.strs[:], e.strs)
	return a
}

type memoTable struct {
	slots   []atomic.Pointer[memoEntry]
	mask    uint64
	inserts atomic.Int64
}

// keyMemo maps argument bits to logical keys for one wrapper.
type keyMemo struct {
	shapes   [4]argShape
	strs     bool // some argument is a string
	maxSlots int
	budget   *atomic.Int64 // slots the cache's memos may still grow by (memoSlotsFor)
	// l1 is set when the wrapper's L1 key is its logical key (no
	// encryption, no Python prefix): entries then carry the L1 hash.
	l1    *l1.Cache[l1Entry]
	seed  maphash.Seed
	table atomic.Pointer[memoTable]
}

// newKeyMemo returns a memo for arguments of the given shapes that grows up
// to maxSlots while budget (shared by a cache's memos) lasts, or nil when
// one of them cannot be memoized. l1 (may be nil) is the L1 whose hashes
// entries carry.
func newKeyMemo(maxSlots int, budget *atomic.Int64, l1c *l1.Cache[l1Entry], shapes ...argShape) *keyMemo {
	m := &keyMemo{seed: maphash.MakeSeed(), maxSlots: max(maxSlots, minMemoSlots), budget: budget, l1: l1c}
	for i, s := range shapes {
		if s == shapeNone {
			return nil
		}
		m.shapes[i] = s
		m.strs = m.strs || s == shapeString
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

// get returns the entry remembered for the arguments (nil: none) and their
// hash. Arguments live in one of two neighbouring slots (two-way
// associative: two arguments whose hashes collide do not keep evicting each
// other).
func (m *keyMemo) get(a *memoArgs) (uint64, *memoEntry) {
	h := m.hash(a)
	t := m.table.Load()
	i := h & t.mask
	if e := t.slots[i].Load(); e != nil && e.matches(a) {
		return h, e
	}
	if e := t.slots[i^1].Load(); e != nil && e.matches(a) {
		return h, e
	}
	return h, nil
}

// put remembers key for the arguments (h is their hash from get) and grows
// the table (4x, up to maxSlots, a power of two) once it has taken half as
// many keys as it has slots.
func (m *keyMemo) put(h uint64, a *memoArgs, key string) *memoEntry {
	var l1hash uint64
	if m.l1 != nil {
		l1hash = m.l1.Hash(key)
		// An entry re-derived after the memo lost it: keep L1's string.
		key = m.l1.Key(l1hash, key)
	}
	e := newMemoEntry(a, m.strs, key, l1hash)
	t := m.table.Load()
	t.place(h, e)
	if n := t.inserts.Add(1); n == int64(len(t.slots))/2+1 && len(t.slots) < m.maxSlots {
		m.grow(t) // once per table: the call that crosses half
	}
	return e
}

// grow replaces t with a table four times larger (at most maxSlots) if the
// budget has the slots.
func (m *keyMemo) grow(t *memoTable) {
	n := min(len(t.slots)*4, m.maxSlots)
	need := int64(n - len(t.slots))
	if m.budget.Add(-need) < 0 {
		m.budget.Add(need) // over the cache's budget: stay at this size
		return
	}
	if !m.table.CompareAndSwap(t, m.grown(t, n)) {
		m.budget.Add(need)
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
func (m *keyMemo) grown(t *memoTable, n int) *memoTable {
	nt := newMemoTable(n)
	for i := range t.slots {
		if e := t.slots[i].Load(); e != nil {
			a := e.args()
			nt.place(m.hash(&a), e)
		}
	}
	return nt
}

// memoKey sets *s to the slot of a call whose arguments are a (their bits
// recorded by the caller), deriving the key through args only when the memo
// does not hold it. ok == false: run uncached (see callKey). The slot is
// written through s rather than returned: with ok and err it would not fit
// the result registers, and its copy through memory was a tenth of a hit.
func (w *Wrapper) memoKey(ctx context.Context, a *memoArgs, args func() []any, s *slot) (ok bool, err error) {
	if w.c.skip(ctx, &w.p) {
		return false, nil
	}
	h, e := w.memo.get(a)
	if e == nil {
		k, err := w.keyFor(args())
		if err != nil {
			w.uncacheable(err)
			w.c.observeCall(ctx, &w.p, CallBypass, time.Time{})
			return false, nil
		}
		e = w.memo.put(h, a, k)
	}
	if w.memo.l1 != nil { // the L1 key is the logical key (see keyMemo.l1)
		*s = slot{key: e.key, logical: e.key, l1hash: e.l1hash, hashed: true}
		return true, nil
	}
	if *s, err = w.slot(ctx, e.key); err != nil {
		return false, err
	}
	return true, nil
}

// callKey0..callKey4 are callKey for each arity, setting *s: through the
// memo when the wrapper has one, without boxing the arguments unless a key
// is derived.

func callKey0(w *Wrapper, ctx context.Context, s *slot) (ok bool, err error) {
	if w.memo == nil {
		*s, ok, err = w.callKey(ctx)
		return ok, err
	}
	var m memoArgs
	return w.memoKey(ctx, &m, func() []any { return []any{} }, s)
}

func callKey1[A any](w *Wrapper, ctx context.Context, a A, s *slot) (ok bool, err error) {
	if w.memo == nil {
		*s, ok, err = w.callKey(ctx, a)
		return ok, err
	}
	m := memoArgs{n: 1}
	m.set(0, w.memo.shapes[0], unsafe.Pointer(&a))
	return w.memoKey(ctx, &m, func() []any { return []any{a} }, s)
}

func callKey2[A, B any](w *Wrapper, ctx context.Context, a A, b B, s *slot) (ok bool, err error) {
	if w.memo == nil {
		*s, ok, err = w.callKey(ctx, a, b)
		return ok, err
	}
	m := memoArgs{n: 2}
	m.set(0, w.memo.shapes[0], unsafe.Pointer(&a))
	m.set(1, w.memo.shapes[1], unsafe.Pointer(&b))
	return w.memoKey(ctx, &m, func() []any { return []any{a, b} }, s)
}

func callKey3[A, B, C any](w *Wrapper, ctx context.Context, a A, b B, c C, s *slot) (ok bool, err error) {
	if w.memo == nil {
		*s, ok, err = w.callKey(ctx, a, b, c)
		return ok, err
	}
	m := memoArgs{n: 3}
	m.set(0, w.memo.shapes[0], unsafe.Pointer(&a))
	m.set(1, w.memo.shapes[1], unsafe.Pointer(&b))
	m.set(2, w.memo.shapes[2], unsafe.Pointer(&c))
	return w.memoKey(ctx, &m, func() []any { return []any{a, b, c} }, s)
}

func callKey4[A, B, C, D any](w *Wrapper, ctx context.Context, a A, b B, c C, d D, s *slot) (ok bool, err error) {
	if w.memo == nil {
		*s, ok, err = w.callKey(ctx, a, b, c, d)
		return ok, err
	}
	m := memoArgs{n: 4}
	m.set(0, w.memo.shapes[0], unsafe.Pointer(&a))
	m.set(1, w.memo.shapes[1], unsafe.Pointer(&b))
	m.set(2, w.memo.shapes[2], unsafe.Pointer(&c))
	m.set(3, w.memo.shapes[3], unsafe.Pointer(&d))
	return w.memoKey(ctx, &m, func() []any { return []any{a, b, c, d} }, s)
}

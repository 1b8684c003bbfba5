package cachekit

import (
	"reflect"
	"sync"
)

// L1 accounting. The in-process tier is bounded by bytes, so what an entry
// is charged must be what it holds: for a decoded value that is the Go
// memory behind it, not its MessagePack size (a []int64 of small numbers
// takes one byte per element encoded and eight decoded; a map of three
// entries takes a few dozen bytes encoded and a few hundred decoded). The
// estimate follows the value once, when it is stored: slice and string
// backing arrays, map slots, pointed-to values and values boxed in
// interfaces, each rounded to the allocator's size classes. The fixed cost of
// an entry (its node, map slot, ghost and interface box) is charged by
// internal/l1 on top.

// admitL1 reports whether an entry of cost fits in one L1 shard; a value too
// large is counted (and logged once per function), which used to be dropped
// silently, and an older copy of key is dropped. setL1 (coherence.go) calls it.
func (c *Cache) admitL1(p *policy, key string, cost int64) bool {
	if c.l1.Fits(key, cost) {
		return true
	}
	c.l1.Delete(key) // an older, smaller value must not keep answering
	p.stats.add(l1TooLarge)
	p.warn.l1Size.Do(func() {
		c.log.Warn("cachekit: value larger than one L1 shard; it is not kept in process (logged once per function; raise WithL1Size)",
			"func", p.name, "key", key, "bytes", cost)
	})
	return false
}

// l1Cost returns what an L1 entry holding v (serialized as doc) is charged.
func (c *Cache) l1Cost(v any, doc []byte) int64 {
	n := int64(len(doc))
	if c.cfg.l1Bytes || v == nil {
		return n
	}
	return max(n, heapSize(v))
}

// heapSize estimates the heap memory v holds: its own copy when boxed in an
// interface (values wider than a pointer), plus everything it references.
func heapSize(v any) int64 {
	rv := reflect.ValueOf(v)
	var n int64
	if t := rv.Type(); !pointerShaped(t) {
		n = allocSize(int64(t.Size()))
	}
	return n + indirectSize(rv, 0)
}

// pointerShaped reports whether an interface stores t without a copy.
func pointerShaped(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Chan, reflect.Func, reflect.UnsafePointer:
		return true
	}
	return false
}

// maxSizeDepth bounds the walk (values come from the codec, which bounds
// nesting the same way; cycles are impossible in decoded values but not in
// what a function returns).
const maxSizeDepth = 64

// indirectSize is the memory rv references, not counting rv's own inline
// bytes.
func indirectSize(rv reflect.Value, depth int) int64 {
	if depth > maxSizeDepth {
		return 0
	}
	switch rv.Kind() {
	case reflect.String:
		return allocSize(int64(rv.Len()))
	case reflect.Slice:
		if rv.IsNil() {
			return 0
		}
		et := rv.Type().Elem()
		n := allocSize(int64(rv.Cap()) * int64(et.Size()))
		if holdsMemory(et) {
			for i := range rv.Len() {
				n += indirectSize(rv.Index(i), depth+1)
			}
		}
		return n
	case reflect.Array:
		var n int64
		if holdsMemory(rv.Type().Elem()) {
			for i := range rv.Len() {
				n += indirectSize(rv.Index(i), depth+1)
			}
		}
		return n
	case reflect.Pointer:
		if rv.IsNil() {
			return 0
		}
		return allocSize(int64(rv.Type().Elem().Size())) + indirectSize(rv.Elem(), depth+1)
	case reflect.Interface:
		if rv.IsNil() {
			return 0
		}
		e := rv.Elem()
		var n int64
		if !pointerShaped(e.Type()) {
			n = allocSize(int64(e.Type().Size()))
		}
		return n + indirectSize(e, depth+1)
	case reflect.Map:
		if rv.IsNil() {
			return 0
		}
		t := rv.Type()
		// Go's maps keep slots of key, value and a control byte in groups
		// of 8 at a load of 7/8 at most, usually about 2/3 after growth,
		// plus the map header and directory.
		slot := int64(t.Key().Size()+t.Elem().Size()) + 1
		n := int64(48) + allocSize(int64(rv.Len())*slot*3/2+8*slot)
		if holdsMemory(t.Key()) || holdsMemory(t.Elem()) {
			it := rv.MapRange()
			for it.Next() {
				n += indirectSize(it.Key(), depth+1) + indirectSize(it.Value(), depth+1)
			}
		}
		return n
	case reflect.Struct:
		if rv.Type() == timeType || !holdsMemory(rv.Type()) {
			return 0 // a time.Time's Location is shared (time.UTC, cached fixed zones)
		}
		var n int64
		for i := range rv.NumField() {
			n += indirectSize(rv.Field(i), depth+1)
		}
		return n
	}
	return 0
}

var memoryTypes sync.Map // reflect.Type -> bool

// holdsMemory reports whether values of t can reference heap memory
// (strings, slices, maps, pointers, interfaces, or structs and arrays of
// them); the walk skips the elements of types that cannot.
func holdsMemory(t reflect.Type) bool {
	if v, ok := memoryTypes.Load(t); ok {
		return v.(bool)
	}
	r := holdsMemoryUncached(t, 0)
	memoryTypes.Store(t, r)
	return r
}

func holdsMemoryUncached(t reflect.Type, depth int) bool {
	if depth > maxSizeDepth {
		return true
	}
	switch t.Kind() {
	case reflect.String, reflect.Slice, reflect.Map, reflect.Pointer, reflect.Interface, reflect.Chan, reflect.Func, reflect.UnsafePointer:
		return true
	case reflect.Array:
		return t.Len() > 0 && holdsMemoryUncached(t.Elem(), depth+1)
	case reflect.Struct:
		if t == timeType {
			return false
		}
		for i := range t.NumField() {
			if holdsMemoryUncached(t.Field(i).Type, depth+1) {
				return true
			}
		}
	}
	return false
}

// allocSize rounds an allocation of n bytes up to the runtime's size class
// (the small-object classes up to 32 KiB, approximated by steps of an
// eighth; larger objects are page-rounded).
func allocSize(n int64) int64 {
	switch {
	case n <= 0:
		return 0
	case n <= 16:
		return (n + 7) &^ 7
	case n <= 128:
		return (n + 15) &^ 15
	case n <= 32<<10:
		step := int64(1)
		for step*8 < n {
			step *= 2
		}
		return (n + step - 1) / step * step
	}
	return (n + 8191) &^ 8191
}

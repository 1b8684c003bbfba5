package cachekit

import (
	"encoding"
	"errors"
	"fmt"
	"math/big"
	"reflect"
	"sync"
	"time"

	"github.com/cachekit-go/cachekit/internal/entry"
	"github.com/cachekit-go/cachekit/protocol/codec"
)

// This file is the one rule set for which Go types cachekit stores (the
// table in docs/getting-started.md). Wrap, Load, Get and Set apply it where
// the type is known, before any call, so that a type whose values would not
// come back as the function returned them is refused up front instead of
// being silently recomputed, changed on other replicas, or returned as
// another type.

// ErrUnsupportedType: a Go type cachekit cannot store so that it comes back
// as it was (a channel, a function, an interface result, a struct with
// unexported fields, ...). Wrap, Load, Get and Set return a *TypeError that
// matches it; a value that fails to encode at run time (a *big.Int beyond
// 64 bits, invalid UTF-8) matches it too.
var ErrUnsupportedType = codec.ErrUnsupportedType

// Date is a calendar date without a time or zone: Python's datetime.date,
// stored as the "__date__" sentinel. See codec.Date.
type Date = codec.Date

// TimeOfDay is a clock time without a date: Python's datetime.time, stored
// as the "__time__" sentinel. See codec.TimeOfDay.
type TimeOfDay = codec.TimeOfDay

// DateOf returns the calendar date of t in t's own location.
func DateOf(t time.Time) Date { return codec.DateOf(t) }

// TypeError reports a Go type that cannot be cached, where in the type the
// problem is, and why. It matches ErrUnsupportedType.
type TypeError struct {
	Type   reflect.Type // the type that was checked (a result or a value)
	Path   string       // where inside Type the problem is ("" for Type itself), e.g. ".Items[].Owner"
	Reason string
}

// Error names the type, the place and the reason.
func (e *TypeError) Error() string {
	where := ""
	if e.Path != "" {
		where = " at " + e.Path
	}
	return fmt.Sprintf("cachekit: type %s cannot be cached%s: %s", e.Type, where, e.Reason)
}

// Unwrap returns ErrUnsupportedType.
func (e *TypeError) Unwrap() error { return ErrUnsupportedType }

var (
	timeType      = reflect.TypeFor[time.Time]()
	bigIntType    = reflect.TypeFor[big.Int]()
	dateType      = reflect.TypeFor[Date]()
	timeOfDayType = reflect.TypeFor[TimeOfDay]()
	textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()
	textUnmarsh   = reflect.TypeFor[encoding.TextUnmarshaler]()
	setLikeType   = reflect.TypeFor[interface{ SetElements() []any }]()
)

// typeRule is the verdict on one type: err refuses it; exact says its
// values come back identical from the codec, so the in-process tier may keep
// the value as returned. When exact is false the codec normalizes (time.Time
// to microseconds and a fixed zone, fields tagged "-" dropped, values inside
// an `any` to their generic form) and the in-process tier keeps the
// normalized value, so every replica sees the same thing.
type typeRule struct {
	err   error
	exact bool
}

type typeKey struct {
	t       reflect.Type
	interop bool
}

var typeRules sync.Map // typeKey -> typeRule

// checkType applies the rules to t, a result type (Wrap, Load, Get) or the
// dynamic type of a value (Set). interop selects the interop data model
// (string keys only, no sets, dates or times of day).
func checkType(t reflect.Type, isInterop bool) typeRule {
	k := typeKey{t, isInterop}
	if r, ok := typeRules.Load(k); ok {
		return r.(typeRule)
	}
	w := typeWalker{root: t, interop: isInterop, seen: map[reflect.Type]bool{}}
	exact, err := w.walk(t, "", true)
	r := typeRule{err: err, exact: exact && err == nil}
	typeRules.Store(k, r)
	return r
}

type typeWalker struct {
	root    reflect.Type
	interop bool
	seen    map[reflect.Type]bool // struct types on the current path (recursive types)
}

func (w *typeWalker) refuse(path, reason string) (bool, error) {
	return false, &TypeError{Type: w.root, Path: path, Reason: reason}
}

func (w *typeWalker) walk(t reflect.Type, path string, top bool) (exact bool, err error) {
	switch {
	case t == timeType:
		return false, nil // microseconds and a fixed zone, on every replica
	case t == bigIntType:
		return true, nil
	case t == dateType || t == timeOfDayType:
		if w.interop {
			return w.refuse(path, "the interop data model has no dates or times of day")
		}
		return true, nil
	case t.Kind() == reflect.Array && t.Len() == 16 && t.Elem().Kind() == reflect.Uint8:
		return true, nil // UUIDs and [16]byte alike round-trip
	case t.Kind() == reflect.Struct && (t.Implements(textMarshaler) || reflect.PointerTo(t).Implements(textMarshaler)):
		if !reflect.PointerTo(t).Implements(textUnmarsh) {
			return w.refuse(path, "it implements encoding.TextMarshaler but not encoding.TextUnmarshaler, so it cannot be read back")
		}
		return true, nil
	case w.interop && t.Kind() != reflect.Pointer && t.Kind() != reflect.Interface && t.Implements(setLikeType):
		return w.refuse(path, "the interop data model has no sets in values")
	}
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64, reflect.String:
		return true, nil
	case reflect.Complex64, reflect.Complex128, reflect.Chan, reflect.Func, reflect.UnsafePointer, reflect.Uintptr:
		return w.refuse(path, t.Kind().String()+" values have no serialized form")
	case reflect.Interface:
		switch {
		case top:
			return w.refuse(path, "an interface result cannot come back as the concrete type the function returned "+
				"(other replicas would decode map[string]any, []any, int64, ...); return a concrete type")
		case t.NumMethod() != 0:
			return w.refuse(path, "a non-empty interface cannot be decoded; use a concrete type")
		}
		// any inside a value holds the generic decoded form (int64,
		// float64, string, []byte, []any, map[string]any, time.Time, Date,
		// TimeOfDay, nil) on every replica.
		return false, nil
	case reflect.Pointer:
		return w.walk(t.Elem(), path, false)
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return true, nil
		}
		return w.walk(t.Elem(), path+"[]", false)
	case reflect.Map:
		switch k := t.Key().Kind(); {
		case k == reflect.String:
		case isIntKind(k) && w.interop:
			return w.refuse(path, "the interop data model has string map keys only")
		case isIntKind(k):
		default:
			return w.refuse(path, "map keys must be strings or integers, not "+t.Key().String())
		}
		return w.walk(t.Elem(), path+"[]", false)
	case reflect.Struct:
		return w.structType(t, path)
	}
	return w.refuse(path, "unsupported kind "+t.Kind().String())
}

func isIntKind(k reflect.Kind) bool {
	return k >= reflect.Int && k <= reflect.Uint64 && k != reflect.Uintptr
}

func (w *typeWalker) structType(t reflect.Type, path string) (bool, error) {
	if w.seen[t] {
		return false, nil // recursive type: decided where it started; normalize to be safe
	}
	w.seen[t] = true
	defer delete(w.seen, t)
	exact := true
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _ := fieldTag(f.Tag)
		if tag == "-" {
			exact = false // kept by the caller's value, absent on every other replica: normalize
			continue
		}
		if !f.IsExported() && !(f.Anonymous && f.Type.Kind() == reflect.Struct && tag == "") {
			if f.Name == "_" {
				continue
			}
			return w.refuse(path+"."+f.Name, "unexported fields are not stored, so other replicas would see the zero value; "+
				"export the field or tag it `cachekit:\"-\"`")
		}
		if f.Anonymous && f.Type.Kind() == reflect.Pointer {
			exact = false // a nil embedded pointer and an empty one read back alike
		}
		e, err := w.walk(f.Type, path+"."+f.Name, false)
		if err != nil {
			return false, err
		}
		exact = exact && e
	}
	return exact, nil
}

// fieldTag is the codec's tag precedence: cachekit, then msgpack, then json.
func fieldTag(tag reflect.StructTag) (string, bool) {
	for _, k := range [...]string{"cachekit", "msgpack", "json"} {
		if v, ok := tag.Lookup(k); ok {
			return v, true
		}
	}
	return "", false
}

// checkResult refuses a result type R before any call.
func (p *policy) checkResult(t reflect.Type) error {
	return checkType(t, p.pipe.Mode == entry.Interop).err
}

// checkValue refuses the dynamic type of v (Set); a nil is storable.
func (p *policy) checkValue(v any) error {
	if v == nil {
		return nil
	}
	return checkType(reflect.TypeOf(v), p.pipe.Mode == entry.Interop).err
}

// l1Normal returns what the in-process tier keeps for v, whose serialized
// form is doc: v itself when its type round-trips exactly, else v as every
// other replica decodes it from doc, so all replicas (and this one after an
// L1 eviction) see the same value.
func (c *Cache) l1Normal(p *policy, v any, doc []byte) any {
	if c.cfg.l1Bytes || v == nil {
		return v
	}
	t := reflect.TypeOf(v)
	if checkType(t, p.pipe.Mode == entry.Interop).exact {
		return v
	}
	nv := reflect.New(t)
	if err := p.pipe.Unmarshal(doc, nv.Interface()); err != nil {
		return v // cannot happen for a type that passed checkType; keep the value rather than drop it
	}
	return nv.Elem().Interface()
}

// convertL1 reads an in-process entry holding another Go type than R the
// way a backend read would: through the codec (Set(5) then Get[int64] gives
// 5 in process as over Redis). ok is false when the value does not decode
// into R.
func convertL1[R any](p *policy, x any) (R, bool) {
	var r R
	doc, err := p.pipe.Marshal(x)
	if err != nil {
		return r, false
	}
	if err := p.pipe.Unmarshal(doc, &r); err != nil {
		var zero R
		return zero, false
	}
	return r, true
}

// isTypeMismatch reports a decode error caused by the entry holding another
// type than the one asked for.
func isTypeMismatch(err error) bool {
	return errors.Is(err, codec.ErrTypeMismatch) || errors.Is(err, codec.ErrOverflow)
}

func typeMismatch[R any](key string, cause error) error {
	if cause == nil {
		return fmt.Errorf("%w: key %q holds another type than %s", ErrTypeMismatch, key, reflect.TypeFor[R]())
	}
	return fmt.Errorf("%w: key %q, want %s: %w", ErrTypeMismatch, key, reflect.TypeFor[R](), cause)
}

// strictTypes reports whether a type mismatch must be an error rather than
// a miss: for the direct API (Load, Get) the key is the caller's and its
// entry may belong to another program, so it is never overwritten; a
// wrapper's keys are its own, and an entry of another type is a leftover of
// an older version of the function, replaced by the new result.
func (p *policy) strictTypes() bool { return p.owner == 0 }

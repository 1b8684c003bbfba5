package encode

import (
	"reflect"
	"slices"
	"strings"
	"sync"
)

// Field is one encoded struct field.
type Field struct {
	Name      string // the map key: the msgpack tag name, else the Go field name
	Index     []int  // path for reflect, through embedded structs
	OmitEmpty bool
}

// Struct describes how a struct type is encoded.
type Struct struct {
	Fields     []Field          // in declaration order (embedded fields inline)
	Sorted     []Field          // sorted by Name
	ByName     map[string]Field // for decoding
	Unexported bool             // has unexported fields not tagged "-"
}

var structCache sync.Map // reflect.Type -> *Struct

// StructInfo returns the (cached) field layout of struct type t.
//
// Rules: exported fields only; the field's tag is the first of its
// `cachekit`, `msgpack` and `json` tags that is present (see FieldTag):
// "name" renames, "-" skips, ",omitempty" (or ",omitzero") omits false, 0, "", nil, empty slices/maps and zero
// structs. Untagged embedded structs (or pointers to structs) of exported types
// are inlined like encoding/json does; among fields of the same name the
// shallowest wins and ties at the same depth drop the name.
func StructInfo(t reflect.Type) *Struct {
	if s, ok := structCache.Load(t); ok {
		return s.(*Struct)
	}
	s := buildStruct(t)
	actual, _ := structCache.LoadOrStore(t, s)
	return actual.(*Struct)
}

type candidate struct {
	Field
	depth int
}

func buildStruct(t reflect.Type) *Struct {
	s := &Struct{ByName: map[string]Field{}}
	var cands []candidate
	collect(t, nil, 0, &cands, s, map[reflect.Type]bool{})
	byName := map[string][]int{}
	for i, c := range cands {
		byName[c.Name] = append(byName[c.Name], i)
	}
	for i, c := range cands {
		idxs := byName[c.Name]
		best, ties := -1, 0
		for _, j := range idxs {
			switch {
			case best < 0 || cands[j].depth < cands[best].depth:
				best, ties = j, 1
			case cands[j].depth == cands[best].depth:
				ties++
			}
		}
		if best == i && ties == 1 {
			s.Fields = append(s.Fields, c.Field)
			s.ByName[c.Name] = c.Field
		}
	}
	s.Sorted = slices.Clone(s.Fields)
	slices.SortFunc(s.Sorted, func(a, b Field) int { return strings.Compare(a.Name, b.Name) })
	return s
}

func collect(t reflect.Type, prefix []int, depth int, out *[]candidate, s *Struct, seen map[reflect.Type]bool) {
	if seen[t] {
		return
	}
	seen[t] = true
	defer delete(seen, t)
	for i := range t.NumField() {
		f := t.Field(i)
		tag, hasTag := FieldTag(f.Tag)
		name, opts, _ := strings.Cut(tag, ",")
		if tag == "-" {
			continue
		}
		if !f.IsExported() && !(f.Anonymous && f.Type.Kind() == reflect.Struct && (!hasTag || name == "")) {
			// An embedded struct of an unexported type still contributes its
			// exported fields, as with encoding/json; any other unexported
			// field is invisible to the codec.
			if f.Name != "_" {
				s.Unexported = true
			}
			continue
		}
		index := append(slices.Clip(prefix), i)
		if f.Anonymous && (!hasTag || name == "") {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct && ft != timeType && ft != bigIntType &&
				!ft.Implements(textMarshalerType) && !reflect.PointerTo(ft).Implements(textMarshalerType) {
				collect(ft, index, depth+1, out, s, seen)
				continue
			}
		}
		if name == "" {
			name = f.Name
		}
		omit := false
		for o := range strings.SplitSeq(opts, ",") {
			if o == "omitempty" || o == "omitzero" {
				omit = true
			}
		}
		*out = append(*out, candidate{Field{Name: name, Index: index, OmitEmpty: omit}, depth})
	}
}

// FieldByIndex follows index from struct value v; ok is false when the path
// crosses a nil embedded pointer.
func FieldByIndex(v reflect.Value, index []int) (reflect.Value, bool) {
	for i, x := range index {
		if i > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return reflect.Value{}, false
			}
			v = v.Elem()
		}
		v = v.Field(x)
	}
	return v, true
}

// TagKeys are the struct tag keys that name and exclude fields, in the order
// they are consulted: a `cachekit` tag wins over `msgpack`, which wins over
// `json`. Go services tag their types with json; a field a team excluded from
// its JSON (`json:"-"`, a password hash) must never reach a cache either.
var TagKeys = [...]string{"cachekit", "msgpack", "json"}

// FieldTag returns the tag that governs a field: the value of the first key
// of TagKeys present in tag, and whether one was present.
func FieldTag(tag reflect.StructTag) (string, bool) {
	for _, k := range TagKeys {
		if v, ok := tag.Lookup(k); ok {
			return v, true
		}
	}
	return "", false
}

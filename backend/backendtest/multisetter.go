package backendtest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/backend"
)

func (s *suite) multiSetter(t *testing.T) {
	s.capability(t, "MultiSetter", "backend.MultiSetter", func(b backend.Backend) bool {
		_, ok := b.(backend.MultiSetter)
		return ok
	}, []check{
		{"StoresEach", s.testSetMultiStoresEach},
		{"KeyOrder", s.testSetMultiKeyOrder},
		{"PerItemErrors", s.testSetMultiPerItemErrors},
		{"Owned", s.testSetMultiOwned},
		{"Cancelled", s.testSetMultiCancelled},
	})
}

// asMultiSetter returns b's MultiSetter; the caller has checked that it is
// one.
func asMultiSetter(t *testing.T, b backend.Backend) backend.MultiSetter {
	t.Helper()
	m, ok := b.(backend.MultiSetter)
	if !ok {
		t.Fatalf("newBackend returned a %T that is not a backend.MultiSetter, although an earlier one was", b)
	}
	return m
}

// deleteLater deletes keys when the test ends.
func (s *suite) deleteLater(t *testing.T, b backend.Backend, keys ...string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.opTimeout)
		defer cancel()
		for _, k := range keys {
			_, _ = b.Delete(ctx, k)
		}
	})
}

// Many keys (on a Cluster: many slots), with and without expiry, empty and
// large values: each is stored as Set stores it.
func (s *suite) testSetMultiStoresEach(t *testing.T, b backend.Backend) {
	m := asMultiSetter(t, b)
	var items []backend.SetItem
	for i := range 40 {
		v := []byte(fmt.Sprintf("value-%d", i))
		switch i {
		case 7:
			v = []byte{}
		case 8:
			n := 64 << 10
			if m := s.cfg.maxValueSize; m > 0 {
				n = min(n, m)
			}
			v = pseudoRandom(n, 2)
		}
		ttl := DefaultValueTTL
		if i%3 == 0 {
			ttl = 0
		}
		items = append(items, backend.SetItem{Key: s.key(t, fmt.Sprint("k", i)), Value: v, TTL: ttl})
	}
	for _, it := range items {
		s.deleteLater(t, b, it.Key)
	}
	errs := m.SetMulti(s.ctx(t), items)
	if len(errs) != len(items) {
		t.Fatalf("SetMulti returned %d errors for %d items", len(errs), len(items))
	}
	for i, it := range items {
		if errs[i] != nil {
			t.Fatalf("SetMulti item %d (%q): %v", i, it.Key, errs[i])
		}
		s.mustGet(t, b, it.Key, it.Value)
	}
	if in, ok := b.(backend.TTLInspector); ok {
		for i, it := range items[:6] {
			rem, found, err := in.TTL(s.ctx(t), it.Key)
			if err != nil || !found || (it.TTL == 0) != (rem == 0) {
				t.Fatalf("TTL of item %d (set %v) = %v, %v, %v", i, it.TTL, rem, found, err)
			}
		}
	}
}

// Writes of one key are applied in the order of items: the last one stays.
func (s *suite) testSetMultiKeyOrder(t *testing.T, b backend.Backend) {
	m := asMultiSetter(t, b)
	k, other := s.key(t, "k"), s.key(t, "other")
	s.deleteLater(t, b, k, other)
	var items []backend.SetItem
	for i := range 20 {
		items = append(items, backend.SetItem{Key: k, Value: []byte(fmt.Sprint("v", i)), TTL: DefaultValueTTL},
			backend.SetItem{Key: other, Value: []byte(fmt.Sprint("o", i)), TTL: DefaultValueTTL})
	}
	for i, err := range m.SetMulti(s.ctx(t), items) {
		if err != nil {
			t.Fatalf("item %d: %v", i, err)
		}
	}
	s.mustGet(t, b, k, []byte("v19"))
	s.mustGet(t, b, other, []byte("o19"))
}

// A negative TTL fails its item only.
func (s *suite) testSetMultiPerItemErrors(t *testing.T, b backend.Backend) {
	m := asMultiSetter(t, b)
	good1, bad, good2 := s.key(t, "good1"), s.key(t, "bad"), s.key(t, "good2")
	s.deleteLater(t, b, good1, bad, good2)
	errs := m.SetMulti(s.ctx(t), []backend.SetItem{
		{Key: good1, Value: []byte("a"), TTL: DefaultValueTTL},
		{Key: bad, Value: []byte("b"), TTL: -time.Second},
		{Key: good2, Value: []byte("c"), TTL: DefaultValueTTL},
	})
	if len(errs) != 3 || errs[0] != nil || errs[1] == nil || errs[2] != nil {
		t.Fatalf("errors %v, want only the negative TTL's", errs)
	}
	s.mustGet(t, b, good1, []byte("a"))
	s.mustMiss(t, b, bad)
	s.mustGet(t, b, good2, []byte("c"))
	if errs := m.SetMulti(s.ctx(t), nil); len(errs) != 0 {
		t.Fatalf("SetMulti of nothing: %v", errs)
	}
}

// The backend does not keep the caller's slices.
func (s *suite) testSetMultiOwned(t *testing.T, b backend.Backend) {
	m := asMultiSetter(t, b)
	k := s.key(t, "k")
	s.deleteLater(t, b, k)
	v := []byte("original")
	if errs := m.SetMulti(s.ctx(t), []backend.SetItem{{Key: k, Value: v, TTL: DefaultValueTTL}}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	copy(v, "CHANGED!")
	s.mustGet(t, b, k, []byte("original"))
}

// A done context fails every item.
func (s *suite) testSetMultiCancelled(t *testing.T, b backend.Backend) {
	m := asMultiSetter(t, b)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	k := s.key(t, "k")
	errs := m.SetMulti(ctx, []backend.SetItem{{Key: k, Value: []byte("v"), TTL: DefaultValueTTL}})
	if len(errs) != 1 || errs[0] == nil {
		t.Fatalf("SetMulti with a cancelled context: %v", errs)
	}
}

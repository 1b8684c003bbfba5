package backendtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/backend"
)

// core runs the checks every backend must pass.
func (s *suite) core(t *testing.T) {
	s.runChecks(t, []check{
		{"SetGet", s.testSetGet},
		{"GetMissing", s.testGetMissing},
		{"Overwrite", s.testOverwrite},
		{"Delete", s.testDelete},
		{"DeleteMissing", s.testDeleteMissing},
		{"Exists", s.testExists},
		{"TTLExpiry", s.testTTLExpiry},
		{"NegativeTTL", s.testNegativeTTL},
		{"BinaryValues", s.testBinaryValues},
		{"EmptyValue", s.testEmptyValue},
		{"LargeValue", s.testLargeValue},
		{"OversizedValue", s.testOversizedValue},
		{"KeyVariety", s.testKeyVariety},
		{"LongKeys", s.testLongKeys},
		{"SetDoesNotRetainSlice", s.testSetDoesNotRetain},
		{"GetReturnsOwnedSlice", s.testGetOwned},
		{"Concurrent", s.testConcurrent},
		{"CancelledContext", s.testCancelled},
		{"ExpiredDeadline", s.testExpiredDeadline},
		{"HealthCheck", s.testHealth},
	})
}

func (s *suite) testSetGet(t *testing.T, b backend.Backend) {
	k := s.key(t, "k")
	s.mustSet(t, b, k, []byte("hello"))
	s.mustGet(t, b, k, []byte("hello"))
	// A second key must not see the first one's value.
	s.mustMiss(t, b, s.key(t, "other"))
}

func (s *suite) testGetMissing(t *testing.T, b backend.Backend) {
	s.mustMiss(t, b, s.key(t, "never-set"))
}

func (s *suite) testOverwrite(t *testing.T, b backend.Backend) {
	k := s.key(t, "k")
	s.mustSet(t, b, k, []byte("first value, rather long"))
	s.mustSet(t, b, k, []byte("2nd"))
	s.mustGet(t, b, k, []byte("2nd"))
	s.mustSet(t, b, k, []byte("third, longer than the second"))
	s.mustGet(t, b, k, []byte("third, longer than the second"))
}

func (s *suite) testDelete(t *testing.T, b backend.Backend) {
	k := s.key(t, "k")
	s.mustSet(t, b, k, []byte("v"))
	deleted, err := b.Delete(s.ctx(t), k)
	if err != nil || !deleted {
		t.Fatalf("Delete(existing %q) = (%v, %v), want (true, nil)", k, deleted, err)
	}
	s.mustMiss(t, b, k)
	deleted, err = b.Delete(s.ctx(t), k)
	if err != nil || deleted {
		t.Fatalf("second Delete(%q) = (%v, %v), want (false, nil)", k, deleted, err)
	}
	// The key is usable again after a delete.
	s.mustSet(t, b, k, []byte("again"))
	s.mustGet(t, b, k, []byte("again"))
}

func (s *suite) testDeleteMissing(t *testing.T, b backend.Backend) {
	k := s.key(t, "never-set")
	deleted, err := b.Delete(s.ctx(t), k)
	if err != nil || deleted {
		t.Fatalf("Delete(missing %q) = (%v, %v), want (false, nil): a missing key is not an error", k, deleted, err)
	}
}

func (s *suite) testExists(t *testing.T, b backend.Backend) {
	k := s.key(t, "k")
	mustExist(t, s, b, k, false)
	s.mustSet(t, b, k, []byte("v"))
	mustExist(t, s, b, k, true)
	if _, err := b.Delete(s.ctx(t), k); err != nil {
		t.Fatalf("Delete(%q): %v", k, err)
	}
	mustExist(t, s, b, k, false)
}

// mustExist asserts Exists(key) == want.
func mustExist(t *testing.T, s *suite, b backend.Backend, key string, want bool) {
	t.Helper()
	got, err := b.Exists(s.ctx(t), key)
	if err != nil {
		t.Fatalf("Exists(%q): %v", key, err)
	}
	if got != want {
		t.Fatalf("Exists(%q) = %v, want %v", key, got, want)
	}
}

func (s *suite) testTTLExpiry(t *testing.T, b backend.Backend) {
	ttl := s.shortTTL()
	short, forever := s.key(t, "short"), s.key(t, "forever")
	s.setForever(t, b, forever, []byte("stays"))
	if err := b.Set(s.ctx(t), short, []byte("goes"), ttl); err != nil {
		t.Fatalf("Set(%q, ttl %v): %v", short, ttl, err)
	}
	// Alive right after the write: ttl is at least twice the resolution.
	s.mustGet(t, b, short, []byte("goes"))
	gone := eventually(t, s.expiryDeadline(ttl), func() (bool, error) {
		_, found, err := b.Get(s.ctx(t), short)
		return !found, err
	})
	if !gone {
		t.Fatalf("entry with ttl %v still readable after %v", ttl, s.expiryDeadline(ttl))
	}
	mustExist(t, s, b, short, false)
	// ttl 0 means no expiry: the entry written together with the short one
	// is still there.
	s.mustGet(t, b, forever, []byte("stays"))
}

func (s *suite) testNegativeTTL(t *testing.T, b backend.Backend) {
	k := s.key(t, "k")
	err := b.Set(s.ctx(t), k, []byte("v"), -time.Second)
	if err == nil {
		t.Fatalf("Set(%q, ttl -1s) succeeded, want an error", k)
	}
	var be *backend.Error
	if errors.As(err, &be) && be.Kind != backend.Permanent {
		t.Errorf("Set with a negative ttl: kind %v, want permanent (retrying cannot help): %v", be.Kind, err)
	}
	s.mustMiss(t, b, k)
}

// binaryValues are values that break naive text protocols or string handling.
func binaryValues() map[string][]byte {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	reversed := make([]byte, 256)
	for i := range reversed {
		reversed[i] = byte(255 - i)
	}
	return map[string][]byte{
		"all-bytes":      all,
		"all-reversed":   reversed,
		"nul":            {0},
		"nuls":           {0, 0, 0, 0},
		"ff":             {0xff},
		"crlf":           []byte("\r\n"),
		"end-marker":     []byte("value\r\nEND\r\n"),
		"value-line":     []byte("VALUE key 0 5\r\nhello\r\n"),
		"invalid-utf8":   {0xc3, 0x28, 0xa0, 0xa1, 0xf0, 0x28, 0x8c, 0xbc},
		"trailing-space": []byte("v  "),
		"msgpack-nil":    {0xc0},
		"lf-only":        []byte("\n"),
	}
}

func (s *suite) testBinaryValues(t *testing.T, b backend.Backend) {
	vals := binaryValues()
	for name, v := range vals {
		s.mustSet(t, b, s.key(t, name), v)
	}
	for name, v := range vals {
		s.mustGet(t, b, s.key(t, name), v)
	}
}

func (s *suite) testEmptyValue(t *testing.T, b backend.Backend) {
	for name, v := range map[string][]byte{"empty": {}, "nil": nil} {
		k := s.key(t, name)
		s.mustSet(t, b, k, v)
		got, found, err := b.Get(s.ctx(t), k)
		if err != nil || !found || len(got) != 0 {
			t.Fatalf("Get(%q) after storing the %s value = (%s, %v, %v), want (empty, true, nil)", k, name, describe(got), found, err)
		}
		mustExist(t, s, b, k, true)
	}
}

// pseudoRandom returns n deterministic pseudo-random bytes.
func pseudoRandom(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	out := make([]byte, n)
	for i := 0; i < n; i += 8 {
		v := r.Uint64()
		for j := 0; j < 8 && i+j < n; j++ {
			out[i+j] = byte(v >> (8 * j))
		}
	}
	return out
}

func (s *suite) testLargeValue(t *testing.T, b backend.Backend) {
	n := s.cfg.maxValueSize
	if n == 0 {
		n = DefaultLargeValueSize
	}
	k := s.key(t, "large")
	v := pseudoRandom(n, 1)
	s.mustSet(t, b, k, v)
	got, found, err := b.Get(s.ctx(t), k)
	if err != nil || !found {
		t.Fatalf("Get(%q) of a %d-byte value = (found %v, %v)", k, n, found, err)
	}
	if !bytes.Equal(got, v) {
		t.Fatalf("Get(%q): %d-byte value came back as %d different bytes", k, n, len(got))
	}
	// Exists must not depend on the value's size (an HTTP HEAD answer
	// carries it as Content-Length, for instance).
	if ok, err := b.Exists(s.ctx(t), k); err != nil || !ok {
		t.Fatalf("Exists(%q) of a %d-byte value = (%v, %v), want (true, nil)", k, n, ok, err)
	}
}

func (s *suite) testOversizedValue(t *testing.T, b backend.Backend) {
	if s.cfg.maxValueSize == 0 {
		t.Log("not applicable: no WithMaxValueSize, the backend declares no value size limit")
		return
	}
	n := 2*s.cfg.maxValueSize + 1
	k := s.key(t, "oversized")
	v := pseudoRandom(n, 2)
	err := b.Set(s.ctx(t), k, v, DefaultValueTTL)
	if err != nil {
		var be *backend.Error
		if errors.As(err, &be) && be.Kind != backend.Permanent {
			t.Errorf("Set of %d bytes: kind %v, want permanent (a value too large stays too large): %v", n, be.Kind, err)
		}
	}
	// Rejected or stored, but never truncated or corrupted.
	got, found, gerr := b.Get(s.ctx(t), k)
	if gerr != nil {
		t.Fatalf("Get(%q) after an oversized Set: %v", k, gerr)
	}
	if found && !bytes.Equal(got, v) {
		t.Fatalf("oversized value (%d bytes, Set error %v) came back as %d different bytes", n, err, len(got))
	}
	if err == nil && !found {
		t.Fatalf("Set of %d bytes reported success but Get finds nothing", n)
	}
}

// variedKeySuffixes returns key suffixes that must all name different
// entries. Pairs like "a b"/"a_b" catch backends that "sanitize" keys into
// collisions.
func (s *suite) variedKeySuffixes() []string {
	if s.cfg.plainKeys {
		return []string{"a_b", "a-b", "a.b", "a:b", "A_B", "ab", "a.b.c", "a::b", "-", "_", ".", "0"}
	}
	return []string{
		"ключ", "日本語", "🔑", "e\u0301", "\u00e9", // decomposed and composed é are different keys
		"a b", "a_b", "a\tb", "a\nb", "a\r\nb", "a%20b", "a+b",
		"{tag}x", "}{", "{}", "a/b", "a\\b", "../x", "a?b#c", "a\"b'c",
		"\x00nul", "\x7fdel", "A_B", "ab",
	}
}

func (s *suite) testKeyVariety(t *testing.T, b backend.Backend) {
	suffixes := s.variedKeySuffixes()
	for i, suf := range suffixes {
		s.mustSet(t, b, s.key(t, suf), fmt.Appendf(nil, "value %d", i))
	}
	for i, suf := range suffixes {
		s.mustGet(t, b, s.key(t, suf), fmt.Appendf(nil, "value %d", i))
	}
	for _, suf := range suffixes {
		k := s.key(t, suf)
		deleted, err := b.Delete(s.ctx(t), k)
		if err != nil || !deleted {
			t.Fatalf("Delete(%q) = (%v, %v), want (true, nil)", k, deleted, err)
		}
	}
}

func (s *suite) testLongKeys(t *testing.T, b backend.Backend) {
	n := s.cfg.maxKeyLength
	if n == 0 {
		n = DefaultLongKeyLength
	}
	base := s.key(t, "")
	if len(base)+1 > n {
		t.Fatalf("WithMaxKeyLength(%d) leaves no room after the suite's key prefix %q (%d bytes)", n, base, len(base))
	}
	// Two keys of exactly n bytes that differ only in their last byte, and
	// one that differs only in its first byte after the prefix: a backend
	// that truncates or hashes badly makes them collide.
	pad := strings.Repeat("x", n-len(base)-1)
	keys := []string{base + pad + "1", base + pad + "2", base + "y" + pad[1:] + "1"}
	for i, k := range keys {
		if len(k) != n {
			t.Fatalf("internal: long key has %d bytes, want %d", len(k), n)
		}
		s.mustSet(t, b, k, fmt.Appendf(nil, "long %d", i))
	}
	for i, k := range keys {
		s.mustGet(t, b, k, fmt.Appendf(nil, "long %d", i))
	}
}

func (s *suite) testSetDoesNotRetain(t *testing.T, b backend.Backend) {
	k := s.key(t, "k")
	buf := []byte("original")
	s.mustSet(t, b, k, buf)
	copy(buf, "MUTATED!")
	s.mustGet(t, b, k, []byte("original"))
}

func (s *suite) testGetOwned(t *testing.T, b backend.Backend) {
	k := s.key(t, "k")
	s.mustSet(t, b, k, []byte("original"))
	got, found, err := b.Get(s.ctx(t), k)
	if err != nil || !found {
		t.Fatalf("Get(%q) = (found %v, %v)", k, found, err)
	}
	for i := range got {
		got[i] = '!'
	}
	s.mustGet(t, b, k, []byte("original"))
}

// concurrentValue is the value writer w stores in round i: long enough that a
// torn write shows, and recognisable.
func concurrentValue(w, i int) []byte {
	head := fmt.Sprintf("w%02d-i%03d|", w, i)
	return append([]byte(head), bytes.Repeat([]byte{byte(w*31 + i)}, 2048)...)
}

func (s *suite) testConcurrent(t *testing.T, b backend.Backend) {
	const writers, rounds = 8, 20
	valid := make(map[string]bool, writers*rounds)
	for w := range writers {
		for i := range rounds {
			valid[string(concurrentValue(w, i))] = true
		}
	}
	shared := s.key(t, "shared")
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			own := s.key(t, fmt.Sprintf("own-%d", w))
			for i := range rounds {
				ctx, cancel := context.WithTimeout(t.Context(), s.cfg.opTimeout)
				v := concurrentValue(w, i)
				if err := b.Set(ctx, own, v, DefaultValueTTL); err != nil {
					t.Errorf("writer %d: Set(%q): %v", w, own, err)
				} else if got, found, err := b.Get(ctx, own); err != nil || !found || !bytes.Equal(got, v) {
					t.Errorf("writer %d: Get(%q) of its own key = (%s, %v, %v), want its last write", w, own, describe(got), found, err)
				}
				if err := b.Set(ctx, shared, v, DefaultValueTTL); err != nil {
					t.Errorf("writer %d: Set(shared): %v", w, err)
				}
				if got, found, err := b.Get(ctx, shared); err != nil || !found || !valid[string(got)] {
					t.Errorf("writer %d: Get(shared) = (%s, %v, %v), want one of the written values whole", w, describe(got), found, err)
				}
				if _, err := b.Exists(ctx, shared); err != nil {
					t.Errorf("writer %d: Exists(shared): %v", w, err)
				}
				cancel()
				if t.Failed() {
					return
				}
			}
		})
	}
	wg.Wait()
	got, found, err := b.Get(s.ctx(t), shared)
	if err != nil || !found || !valid[string(got)] {
		t.Fatalf("Get(shared) after all writers = (%s, %v, %v), want one of the written values whole", describe(got), found, err)
	}
}

// promptly bounds an operation on a cancelled context: far above any sane
// latency; it only catches backends that ignore ctx and hang or retry.
const promptly = 5 * time.Second

func (s *suite) testCancelled(t *testing.T, b backend.Backend) {
	k := s.key(t, "k")
	existing := s.key(t, "existing")
	s.mustSet(t, b, existing, []byte("kept"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	type op struct {
		name string
		fn   func() error
	}
	ops := []op{
		{"Set", func() error { return b.Set(ctx, k, []byte("must not be stored"), DefaultValueTTL) }},
		{"Get", func() error { _, _, err := b.Get(ctx, existing); return err }},
		{"Exists", func() error { _, err := b.Exists(ctx, existing); return err }},
		{"Delete", func() error { _, err := b.Delete(ctx, existing); return err }},
	}
	for _, o := range ops {
		var err error
		within(t, promptly, o.name+" with a cancelled context", func() { err = o.fn() })
		if err == nil {
			t.Errorf("%s with a cancelled context succeeded, want an error", o.name)
		} else if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context: error %v does not match context.Canceled (wrap ctx.Err() with %%w)", o.name, err)
		}
	}
	s.mustMiss(t, b, k)
	s.mustGet(t, b, existing, []byte("kept"))
	within(t, promptly, "HealthCheck with a cancelled context", func() {
		_, details := b.HealthCheck(ctx)
		if _, ok := details[backend.DetailBackendType].(string); !ok {
			t.Errorf("HealthCheck with a cancelled context: details %v lack a %q string", details, backend.DetailBackendType)
		}
	})
}

func (s *suite) testExpiredDeadline(t *testing.T, b backend.Backend) {
	k := s.key(t, "k")
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	var err error
	within(t, promptly, "Set with an expired deadline", func() {
		err = b.Set(ctx, k, []byte("must not be stored"), DefaultValueTTL)
	})
	if err == nil {
		t.Fatalf("Set with an expired deadline succeeded, want an error")
	}
	if kind := backend.KindOf(err); kind != backend.Timeout {
		t.Errorf("Set with an expired deadline: kind %v, want timeout: %v", kind, err)
	}
	if !backend.IsTransient(err) {
		t.Errorf("IsTransient(%v) = false for a deadline, want true", err)
	}
	within(t, promptly, "Get with an expired deadline", func() { _, _, err = b.Get(ctx, k) })
	if kind := backend.KindOf(err); err == nil || kind != backend.Timeout {
		t.Errorf("Get with an expired deadline = %v (kind %v), want a timeout error", err, kind)
	}
	s.mustMiss(t, b, k)
}

func (s *suite) testHealth(t *testing.T, b backend.Backend) {
	healthy, details := b.HealthCheck(s.ctx(t))
	if !healthy {
		t.Errorf("HealthCheck reports unhealthy: %v", details)
	}
	checkDetails(t, details)
}

// checkDetails asserts the health details every backend reports.
func checkDetails(t *testing.T, details map[string]any) {
	t.Helper()
	typ, ok := details[backend.DetailBackendType].(string)
	if !ok || typ == "" {
		t.Errorf("health details %v: %q must be a non-empty string", details, backend.DetailBackendType)
	}
	lat, ok := details[backend.DetailLatencyMS].(float64)
	if !ok || lat < 0 {
		t.Errorf("health details %v: %q must be a float64 >= 0, got %T %v", details, backend.DetailLatencyMS, details[backend.DetailLatencyMS], details[backend.DetailLatencyMS])
	}
}

package cachekit

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/cachekit-go/cachekit/backend"
	"github.com/cachekit-go/cachekit/backend/memory"
	"github.com/cachekit-go/cachekit/backend/redis"
	"github.com/cachekit-go/cachekit/internal/testenv"
	"github.com/cachekit-go/cachekit/protocol/codec"
	"github.com/cachekit-go/cachekit/protocol/crypto"
	"github.com/cachekit-go/cachekit/protocol/envelope"
	"github.com/cachekit-go/cachekit/protocol/frame"
	"github.com/cachekit-go/cachekit/protocol/interop"
	"github.com/cachekit-go/cachekit/secret"
)

// cacheKeyVector is one vector of cache-keys.json.
type cacheKeyVector struct {
	Name      string         `json:"name"`
	Namespace *string        `json:"namespace"`
	Module    string         `json:"function_module"`
	Qualname  string         `json:"function_qualname"`
	Args      []any          `json:"args"`
	Kwargs    map[string]any `json:"kwargs"`
	Integrity bool           `json:"integrity_checking"`
	Key       string         `json:"expected_key"`
}

func keyVectors(t *testing.T) map[string]cacheKeyVector {
	t.Helper()
	var f struct {
		Vectors []cacheKeyVector `json:"vectors"`
	}
	loadVectors(t, "cache-keys.json", &f)
	m := make(map[string]cacheKeyVector, len(f.Vectors))
	for _, v := range f.Vectors {
		m[v.Name] = v
	}
	return m
}

// jsonArg turns a JSON vector value into the Go value a caller would pass
// (JSON numbers arrive as float64; the vectors' integers are ints in Python).
func jsonArg(v any) any {
	if f, ok := v.(float64); ok && f == float64(int64(f)) {
		return int64(f)
	}
	return v
}

// The Keywords option reproduces every public key vector that passes keyword
// arguments, from a Go wrapper whose trailing arguments are named.
func TestKeywordsReproduceKwargsVectors(t *testing.T) {
	t.Parallel()
	c := newTestCache(t, nil)
	fn := func(_ context.Context, a, b any) (string, error) { return "", nil }
	seen := 0
	for _, v := range keyVectors(t) {
		if len(v.Kwargs) == 0 {
			continue
		}
		if len(v.Args)+len(v.Kwargs) != 2 {
			t.Fatalf("%s: the test wraps functions of two arguments", v.Name)
		}
		seen++
		names := make([]string, 0, len(v.Kwargs))
		for k := range v.Kwargs {
			names = append(names, k)
		}
		// names comes in map order, so runs try different orders: Python
		// sorts kwargs, and the key must not depend on it.
		call := append([]any{}, v.Args...)
		for _, n := range names {
			call = append(call, v.Kwargs[n])
		}
		opts := []FuncOption{Name(v.Module + "." + v.Qualname)}
		if v.Namespace != nil {
			opts = append(opts, Namespace(*v.Namespace))
		}
		f, err := Wrap2(c, fn, append(opts, Keywords(names...))...)
		if err != nil {
			t.Fatal(err)
		}
		got, err := f.Key(jsonArg(call[0]), jsonArg(call[1]))
		if err != nil || got != v.Key {
			t.Errorf("%s %v: key %q (%v), vector %q", v.Name, names, got, err, v.Key)
		}
		// Without Keywords the same values are positional: another entry.
		g := MustWrap2(c, fn, opts...)
		if pos, _ := g.Key(jsonArg(call[0]), jsonArg(call[1])); pos == v.Key {
			t.Errorf("%s: positional arguments gave the kwargs key", v.Name)
		}
	}
	if seen < 2 {
		t.Fatalf("%d kwargs vectors, want at least 2", seen)
	}
}

func TestKeywordsReversedNamesSameKey(t *testing.T) {
	t.Parallel()
	c := newTestCache(t, nil)
	v := keyVectors(t)["kwargs_only"]
	fn := func(_ context.Context, a int, b bool) (string, error) { return "", nil }
	rev := func(_ context.Context, b bool, a int) (string, error) { return "", nil }
	f := MustWrap2(c, fn, Name("__main__.get_user"), Namespace("test"), Keywords("user_id", "include_profile"))
	g := MustWrap2(c, rev, Name("__main__.get_user"), Namespace("test"), Keywords("include_profile", "user_id"))
	k1, err1 := f.Key(42, true)
	k2, err2 := g.Key(true, 42)
	if err1 != nil || err2 != nil || k1 != v.Key || k2 != v.Key {
		t.Fatalf("keys %q %q (%v %v), vector %q", k1, k2, err1, err2, v.Key)
	}
}

func TestKeywordsRefused(t *testing.T) {
	t.Parallel()
	c := newTestCache(t, nil)
	fn := func(_ context.Context, a, b int) (int, error) { return a + b, nil }
	for name, opts := range map[string][]FuncOption{
		"too many":  {Keywords("a", "b", "c")},
		"empty":     {Keywords("")},
		"duplicate": {Keywords("a", "a")},
		"interop":   {Interop("ns", "op"), Keywords("b")},
		"keyfunc":   {KeyFunc(func([]any) (string, error) { return "k", nil }), Keywords("b")},
	} {
		if _, err := Wrap2(c, fn, append(opts, Name("app.add"))...); !errors.Is(err, ErrInvalidOption) {
			t.Errorf("%s: err %v, want ErrInvalidOption", name, err)
		}
	}
	// A keyword-only call runs and caches like any other.
	f := MustWrap2(c, fn, Name("app.add"), Keywords("a", "b"))
	if r, err := f.Call(context.Background(), 2, 3); err != nil || r != 5 {
		t.Fatalf("call %v %v", r, err)
	}
	if f.Info().Misses != 1 {
		t.Fatalf("info %+v", f.Info())
	}
}

// pythonEntries builds entries byte for byte as cachekit-py's decorators lay
// them out (PROTOCOL.md sections 1-6): what a Python process would have
// written.
type pythonEntries struct {
	master, tenant string
	raw            bool // integrity_checking=False: raw MessagePack, ":0s" keys
}

// envelope is the ByteStorage envelope of v's MessagePack document (the
// document itself with integrity off).
func (p pythonEntries) envelope(t *testing.T, v any) []byte {
	t.Helper()
	doc, err := codec.Marshal(v)
	if err != nil || p.raw {
		if err != nil {
			t.Fatal(err)
		}
		return doc
	}
	env, err := envelope.Pack(doc)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// plain is a @cache value: CK frame around a ByteStorage envelope.
func (p pythonEntries) plain(t *testing.T, v any) []byte {
	t.Helper()
	out, err := frame.Encode(frame.DefaultHeader(!p.raw), p.envelope(t, v))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// secure is a @cache.secure value stored under the logical key.
func (p pythonEntries) secure(t *testing.T, logicalKey string, v any) []byte {
	t.Helper()
	a := p.aead(t)
	ct := a.Seal(p.envelope(t, v), crypto.AAD(p.tenant, logicalKey, "msgpack", !p.raw, "msgpack"))
	h := frame.SecureHeader(p.tenant, a.Fingerprint())
	h.Compressed = !p.raw
	out, err := frame.Encode(h, ct)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// interop is an interop value, encrypted when the entries have a master key.
func (p pythonEntries) interop(t *testing.T, key string, v any) []byte {
	t.Helper()
	doc, err := interop.EncodeValue(v)
	if err != nil {
		t.Fatal(err)
	}
	if p.master == "" {
		return doc
	}
	return p.aead(t).Seal(doc, crypto.AAD(p.tenant, key, "msgpack", false, ""))
}

func (p pythonEntries) aead(t *testing.T) *crypto.AEAD {
	t.Helper()
	mk, err := crypto.ParseMasterKey(p.master)
	if err != nil {
		t.Fatal(err)
	}
	a, err := crypto.NewTenantAEAD(mk, p.tenant)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// pyUser is the record the Python service returns: {"name": ..., "age": ...}.
type pyUser struct {
	Name string `msgpack:"name"`
	Age  int64  `msgpack:"age"`
}

// rawRedis returns a backend over the Redis deployment named by env (no key
// prefix: it sees the keys exactly as Python does), or skips.
func rawRedis(t *testing.T, env string) backend.Backend {
	t.Helper()
	addrs := strings.Split(testenv.Require(t, env), ",")
	b, err := redis.New(redis.Options{Addrs: addrs})
	if err != nil {
		t.Fatalf("redis %v: %v", addrs, err)
	}
	t.Cleanup(b.Close)
	return b
}

// TestPythonLayoutSharesEveryMode lays entries out in Redis (standalone and
// Cluster) as Python's decorators do, for each mode, and reads them through
// one Go cache with WithPythonLayout; then the reverse: Go writes, and the
// raw keys and bytes are what Python reads.
func TestPythonLayoutSharesEveryMode(t *testing.T) {
	t.Parallel()
	for _, dep := range []struct{ name, env string }{
		{"standalone", "CACHEKIT_TEST_REDIS_ADDR"},
		{"cluster", "CACHEKIT_TEST_REDIS_CLUSTER_ADDRS"},
	} {
		t.Run(dep.name, func(t *testing.T) {
			t.Parallel()
			raw := rawRedis(t, dep.env)
			const tenant = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
			for name, py := range map[string]pythonEntries{
				"plain+interop":                      {},
				"plain-integrity-off+interop":        {raw: true},
				"secure+encrypted-interop":           {master: hexKey(0x61), tenant: tenant},
				"secure-integrity-off+encrypted-iop": {master: hexKey(0x61), tenant: tenant, raw: true},
			} {
				t.Run(name, func(t *testing.T) { runPythonLayout(t, raw, py) })
			}
		})
	}
}

func runPythonLayout(t *testing.T, raw backend.Backend, py pythonEntries) {
	ctx := context.Background()
	opts := []Option{WithPythonLayout(true), WithL1(false)}
	if py.master != "" {
		opts = append(opts, WithEncryption(Encryption{MasterKey: secret.String(py.master), DeploymentUUID: py.tenant}))
	}
	c := newTestCache(t, raw, opts...)
	// A run-unique namespace and operation keep parallel runs apart; the
	// key shapes are those of the public vectors.
	ns := strings.ToLower(strings.NewReplacer("/", "-", "+", "-", "_", "-").Replace(uniq(t)))
	ns = ns[max(0, len(ns)-60):]
	ns = strings.TrimLeft(ns, ".-")
	var runs int
	getUser := func(_ context.Context, id int) (pyUser, error) {
		runs++
		return pyUser{Name: "go", Age: int64(id)}, nil
	}
	// The cache keeps integrity on; the function follows Python's decorator.
	auto := MustWrap1(c, getUser, Name("__main__.get_user"), Namespace(ns), Integrity(!py.raw))
	iop := MustWrap1(c, getUser, Interop(ns, "get_user"))

	autoKey, _ := auto.Key(42)
	if suffix := map[bool]string{false: ":1s", true: ":0s"}[py.raw]; !strings.HasSuffix(autoKey, suffix) {
		t.Fatalf("auto key %q, want suffix %s", autoKey, suffix)
	}
	iopKey, _ := iop.Key(42)
	if want, _ := interop.Key(ns, "get_user", []any{42}); iopKey != want {
		t.Fatalf("interop key %q, want %q", iopKey, want)
	}
	physAuto := PythonKeyPrefix + autoKey
	for _, k := range []string{physAuto, autoKey, iopKey, PythonKeyPrefix + iopKey} {
		_, _ = raw.Delete(ctx, k)
	}

	// Python wrote both entries.
	alice := map[string]any{"name": "alice", "age": 30}
	autoBytes := py.plain(t, alice)
	if py.master != "" {
		autoBytes = py.secure(t, autoKey, alice)
	}
	if err := raw.Set(ctx, physAuto, autoBytes, 0); err != nil {
		t.Fatal(err)
	}
	if err := raw.Set(ctx, iopKey, py.interop(t, iopKey, alice), 0); err != nil {
		t.Fatal(err)
	}
	for _, f := range []*Func1[int, pyUser]{auto, iop} {
		u, err := f.Call(ctx, 42)
		if err != nil || u != (pyUser{"alice", 30}) {
			t.Fatalf("%s: read %+v, %v", f.Name(), u, err)
		}
	}
	if runs != 0 || auto.Info().L2Hits != 1 || iop.Info().L2Hits != 1 {
		t.Fatalf("Python's entries not hit: %d runs, auto %+v, interop %+v", runs, auto.Info(), iop.Info())
	}

	// Go writes both entries; the raw keys and bytes are Python's.
	if err := auto.Invalidate(ctx, 7); err != nil {
		t.Fatal(err)
	}
	if err := iop.Invalidate(ctx, 7); err != nil {
		t.Fatal(err)
	}
	if _, err := auto.Call(ctx, 7); err != nil {
		t.Fatal(err)
	}
	if _, err := iop.Call(ctx, 7); err != nil {
		t.Fatal(err)
	}
	autoKey7, _ := auto.Key(7)
	iopKey7, _ := iop.Key(7)
	want := pyUser{"go", 7}
	stored := storedAt(t, raw, PythonKeyPrefix+autoKey7)
	var doc []byte
	if py.master != "" {
		doc = openStoredFrame(t, stored, py.master, py.tenant, autoKey7)
	} else {
		h, payload, err := frame.Decode(stored)
		if err != nil || h != frame.DefaultHeader(!py.raw) {
			t.Fatalf("frame %+v, %v", h, err)
		}
		if doc = payload; !py.raw {
			if doc, err = envelope.Unpack(payload); err != nil {
				t.Fatal(err)
			}
		}
	}
	var got pyUser
	if err := codec.Unmarshal(doc, &got); err != nil || got != want {
		t.Fatalf("auto entry decodes to %+v, %v", got, err)
	}
	iopStored := storedAt(t, raw, iopKey7)
	canonical, _ := interop.EncodeValue(map[string]any{"name": "go", "age": 7})
	if py.master != "" {
		aad := crypto.AAD(py.tenant, iopKey7, "msgpack", false, "")
		var err error
		if iopStored, err = py.aead(t).Open(iopStored, aad); err != nil {
			t.Fatalf("interop entry: %v", err)
		}
	}
	if !bytes.Equal(iopStored, canonical) {
		t.Fatalf("interop value % x, want % x", iopStored, canonical)
	}
	// Nothing under the other layout.
	for _, k := range []string{autoKey7, PythonKeyPrefix + iopKey7} {
		if ok, _ := raw.Exists(ctx, k); ok {
			t.Fatalf("entry under %q", k)
		}
	}
	// Clear reaches the prefixed auto-mode entries.
	if err := auto.Clear(ctx); err != nil {
		t.Fatal(err)
	}
	if ok, _ := raw.Exists(ctx, PythonKeyPrefix+autoKey7); ok {
		t.Fatal("Clear left the auto-mode entry")
	}
	for _, k := range []string{physAuto, iopKey, iopKey7} {
		_, _ = raw.Delete(ctx, k)
	}
}

// Under a multi-tenant encryption the tenant's own prefix is the layout
// Python's provider writes for that tenant_context; no second prefix.
func TestPythonLayoutMultiTenant(t *testing.T) {
	t.Parallel()
	mem := memory.New(memory.Options{})
	c := newTestCache(t, mem, WithPythonLayout(true), WithL1(false),
		WithEncryption(Encryption{MasterKey: secret.String(keyOne), TenantFunc: tenantOf}))
	f := MustWrap1(c, func(_ context.Context, n int) (int, error) { return n, nil }, Name("app.f"))
	ctx := withTenant(context.Background(), "org:1")
	if _, err := f.Call(ctx, 1); err != nil {
		t.Fatal(err)
	}
	k, _ := f.Key(1)
	flushBackend(t, mem)
	if ok, _ := mem.Exists(ctx, "t:org%3A1:"+k); !ok {
		t.Fatal("no entry under the tenant prefix")
	}
	if ok, _ := mem.Exists(ctx, PythonKeyPrefix+k); ok {
		t.Fatal("entry under t:default:")
	}
}

// KeyFunc keys get the prefix too (Python's provider prefixes every key it
// is given), Invalidate deletes the prefixed entry, and without the switch
// keys stay as they are.
func TestPythonLayoutKeyFuncInvalidate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fn := func(_ context.Context, n int) (int, error) { return n, nil }
	keyFn := KeyFunc(func(args []any) (string, error) { return "custom:" + strings.Repeat("x", args[0].(int)), nil })
	for _, on := range []bool{true, false} {
		mem := memory.New(memory.Options{})
		c := newTestCache(t, mem, WithPythonLayout(on), WithL1(false))
		f := MustWrap1(c, fn, Name("app.f"), keyFn)
		if _, err := f.Call(ctx, 2); err != nil {
			t.Fatal(err)
		}
		want := "custom:xx"
		if on {
			want = PythonKeyPrefix + want
		}
		flushBackend(t, mem)
		if ok, _ := mem.Exists(ctx, want); !ok {
			t.Fatalf("layout %v: no entry under %q", on, want)
		}
		if err := f.Invalidate(ctx, 2); err != nil {
			t.Fatal(err)
		}
		if ok, _ := mem.Exists(ctx, want); ok {
			t.Fatalf("layout %v: Invalidate left %q", on, want)
		}
	}
}

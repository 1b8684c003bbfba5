package cachekit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/big"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/internal/secure"
	"github.com/cachekit-go/cachekit/protocol/codec"
	"github.com/cachekit-go/cachekit/secret"
)

// The data model suite: realistic service types go through the in-process
// tier, a backend with L1 off and a second Cache standing in for another
// replica; every value comes back as the documented normalization of what
// the function returned (equal, for most types), identically on every
// replica, or the type is refused up front with a *TypeError.

type dmAudit struct {
	CreatedBy string `json:"created_by"`
	Version   int    `json:"version"`
}

type dmUser struct {
	dmAudit
	ID           int64             `json:"id"`
	Email        string            `json:"email"`
	PasswordHash string            `json:"-"`
	Nick         string            `json:"nick,omitempty"`
	Roles        []string          `json:"roles"`
	Manager      *dmUser           `json:"manager,omitempty"`
	Attrs        map[string]string `json:"attrs"`
	Scores       map[int]float64   `json:"scores"`
	Avatar       []byte            `json:"avatar"`
	ID2          codec.UUID        `json:"id2"`
}

type dmEvent struct {
	Name string    `json:"name"`
	At   time.Time `json:"at"`
	Seen []time.Time
}

type dmGeneric struct {
	Payload map[string]any `json:"payload"`
	V       any            `json:"v"`
}

type dmCivil struct {
	Birthday codec.Date
	Opens    codec.TimeOfDay
}

type dmBig struct {
	U64  uint64
	I64  int64
	F    float64
	F32  float32
	Big  *big.Int
	Tiny int8
}

type dmHidden struct {
	Name  string
	cache map[string]int //lint:ignore U1000 the point of the test: a field the codec cannot see
}

// dmReplicas runs fn's result through each backend kind: the writer (L1 on),
// the writer again (its L1, or the backend when L1 is off) and a second Cache
// with L1 off (another replica reading the backend). It returns what each of
// them saw.
func dmReplicas[R any](t *testing.T, kind backendKind, v R) []R {
	t.Helper()
	ctx := context.Background()
	b := kind.make(t)
	writer := newTestCache(t, b)
	key := uniq(t)
	calls := 0
	fn := func(context.Context) (R, error) { calls++; return v, nil }
	var out []R
	for i := range 2 {
		got, err := Load(ctx, writer, key, fn)
		if err != nil {
			t.Fatalf("%s: Load #%d: %v", kind.name, i, err)
		}
		out = append(out, got)
	}
	if calls != 1 {
		t.Fatalf("%s: function ran %d times for 2 Loads (value not cached: %+v)", kind.name, calls, writer.Info())
	}
	if b == nil {
		return out
	}
	replica := newTestCache(t, b, WithL1(false))
	got, err := Load(ctx, replica, key, func(context.Context) (R, error) {
		t.Fatalf("%s: replica ran the function", kind.name)
		return v, nil
	})
	if err != nil {
		t.Fatalf("%s: replica Load: %v", kind.name, err)
	}
	return append(out, got)
}

func dmKinds() []backendKind { return []backendKind{l1OnlyKind(), memoryKind(), redisKind()} }

// dmCheck asserts that the computing call returned v and every cached read,
// on every replica, want (reflect.DeepEqual).
func dmCheck[R any](t *testing.T, name string, v, want R) {
	t.Helper()
	for _, k := range dmKinds() {
		t.Run(name+"/"+k.name, func(t *testing.T) {
			got := dmReplicas(t, k, v)
			if !reflect.DeepEqual(got[0], v) {
				t.Errorf("%s: the computing call returned %#v, not the function's result", k.name, got[0])
			}
			for i, g := range got[1:] {
				if !reflect.DeepEqual(g, want) {
					t.Errorf("%s replica %d:\n got %#v\nwant %#v", k.name, i, g, want)
				}
			}
		})
	}
}

func TestDataModelRoundTrip(t *testing.T) {
	t.Parallel()
	id := codec.UUID{0x55, 0x0e, 0x84, 0x00, 0xe2, 0x9b, 0x41, 0xd4, 0xa7, 0x16, 0x44, 0x66, 0x55, 0x44, 0x00, 0x00}
	boss := &dmUser{ID: 1, Email: "boss@x", Roles: []string{}}
	u := dmUser{
		dmAudit: dmAudit{CreatedBy: "ops", Version: 3}, ID: 42, Email: "a@x", PasswordHash: "$argon2id$...",
		Roles: []string{"admin", "dev"}, Manager: boss, Attrs: map[string]string{"tz": "UTC"},
		Scores: map[int]float64{-1: 0.5, 10: 1, 2: math.MaxFloat64}, Avatar: []byte{0, 1, 255}, ID2: id,
	}
	wantU := u
	wantU.PasswordHash = "" // json:"-": never stored, and not kept in process either
	dmCheck(t, "struct with json tags and embedded struct", u, wantU)
	dmCheck(t, "pointer to struct", &u, &wantU)
	dmCheck(t, "nil pointer", (*dmUser)(nil), (*dmUser)(nil))
	dmCheck(t, "nil slice", []int(nil), []int(nil))
	dmCheck(t, "empty slice", []int{}, []int{})
	dmCheck(t, "nil map", map[string]int(nil), map[string]int(nil))
	dmCheck(t, "map int keys", map[int]string{3: "c", -7: "m", 1 << 40: "big"}, map[int]string{3: "c", -7: "m", 1 << 40: "big"})
	dmCheck(t, "map uint64 keys", map[uint64][]string{math.MaxUint64: {"x"}, 0: nil}, map[uint64][]string{math.MaxUint64: {"x"}, 0: nil})
	dmCheck(t, "map string keys", map[string]int64{"a": 1, "": -1}, map[string]int64{"a": 1, "": -1})
	dmCheck(t, "nested slices", [][]int{nil, {}, {1, 2}, {math.MinInt}}, [][]int{nil, {}, {1, 2}, {math.MinInt}})
	dmCheck(t, "bytes", []byte("\x00raw\xff"), []byte("\x00raw\xff"))
	dmCheck(t, "uuid", id, id)
	bigs := dmBig{U64: math.MaxUint64, I64: math.MinInt64, F: 1e308, F32: 1.5, Big: new(big.Int).SetUint64(math.MaxUint64), Tiny: -128}
	dmCheck(t, "big numbers", bigs, bigs)
	dmCheck(t, "generic any inside a value", dmGeneric{Payload: map[string]any{"n": int64(1), "s": "x", "l": []any{true, nil, 2.5}}},
		dmGeneric{Payload: map[string]any{"n": int64(1), "s": "x", "l": []any{true, nil, 2.5}}})
	// Documented normalization: a Go int inside an `any` is int64 on every
	// replica, the process that computed it included.
	dmCheck(t, "int inside any", dmGeneric{V: 5}, dmGeneric{V: int64(5)})
	civ := dmCivil{Birthday: codec.Date{Year: 1990, Month: 2, Day: 28}, Opens: codec.TimeOfDay{Hour: 9, Microsecond: 5, HasOffset: true, OffsetSeconds: 3600}}
	dmCheck(t, "date and time of day", civ, civ)

	// time.Time: the same instant to the microsecond and the same UTC offset
	// on every replica; the zone name is not kept (documented).
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skipf("no tzdata: %v", err)
	}
	at := time.Date(2025, 1, 15, 9, 30, 0, 123456789, ny)
	ev := dmEvent{Name: "deploy", At: at, Seen: []time.Time{at.UTC(), time.Date(2024, 7, 1, 0, 0, 0, 999, ny)}}
	for _, k := range dmKinds() {
		t.Run("time.Time with zone and nanoseconds/"+k.name, func(t *testing.T) {
			got := dmReplicas(t, k, ev)[1:] // [0] is the function's own result
			for i, g := range got {
				if !reflect.DeepEqual(g, got[0]) {
					t.Errorf("%s: replica %d disagrees with the writer:\n%#v\n%#v", k.name, i, g, got[0])
				}
				if !g.At.Equal(at.Truncate(time.Microsecond)) || g.At.Nanosecond() != 123456000 {
					t.Errorf("%s: replica %d: At = %v", k.name, i, g.At)
				}
				if _, off := g.At.Zone(); off != -5*3600 {
					t.Errorf("%s: replica %d: offset %d", k.name, i, off)
				}
				if !g.Seen[1].Equal(time.Date(2024, 7, 1, 4, 0, 0, 0, time.UTC)) {
					t.Errorf("%s: replica %d: Seen[1] = %v", k.name, i, g.Seen[1])
				}
			}
		})
	}
}

func TestDataModelRefusedTypes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newTestCache(t, nil)
	ran := false
	refused := func(name string, err error, wantPath string) {
		t.Helper()
		var te *TypeError
		if !errors.As(err, &te) || !errors.Is(err, ErrUnsupportedType) {
			t.Errorf("%s: got %v, want a *TypeError", name, err)
			return
		}
		if te.Path != wantPath || te.Reason == "" {
			t.Errorf("%s: path %q reason %q, want path %q", name, te.Path, te.Reason, wantPath)
		}
	}
	_, err := Load(ctx, c, "k", func(context.Context) (any, error) { ran = true; return 1, nil })
	refused("Load[any]", err, "")
	_, err = Load(ctx, c, "k", func(context.Context) (fmt.Stringer, error) { ran = true; return nil, nil })
	refused("Load[fmt.Stringer]", err, "")
	_, err = Load(ctx, c, "k", func(context.Context) (chan int, error) { ran = true; return nil, nil })
	refused("Load[chan]", err, "")
	_, err = Load(ctx, c, "k", func(context.Context) (dmHidden, error) { ran = true; return dmHidden{}, nil })
	refused("Load[unexported field]", err, ".cache")
	_, err = Load(ctx, c, "k", func(context.Context) ([]map[float64]int, error) { ran = true; return nil, nil })
	refused("Load[float keys]", err, "[]")
	_, err = Load(ctx, c, "k", func(context.Context) (struct{ F func() }, error) { ran = true; return struct{ F func() }{}, nil })
	refused("Load[func field]", err, ".F")
	_, err = Load(ctx, c, "k", func(context.Context) (struct{ S fmt.Stringer }, error) {
		ran = true
		return struct{ S fmt.Stringer }{}, nil
	})
	refused("Load[non-empty interface field]", err, ".S")
	_, err = Wrap1(c, func(context.Context, int) (complex128, error) { ran = true; return 0, nil }, Name("cx"))
	refused("Wrap1[complex]", err, "")
	_, err = Wrap1(c, func(context.Context, int) (map[int]string, error) { return nil, nil }, Name("ik"), Interop("ns", "op"))
	refused("Wrap1[map[int]string] interop", err, "")
	_, err = Wrap1(c, func(context.Context, int) (codec.Date, error) { return codec.Date{}, nil }, Name("d"), Interop("ns", "op"))
	refused("Wrap1[Date] interop", err, "")
	_, _, err = Get[any](ctx, c, "k")
	refused("Get[any]", err, "")
	refused("Set(chan)", c.Set(ctx, "k", make(chan int), 0), "")
	if ran {
		t.Fatal("a refused function ran")
	}
	// Accepted: int-keyed maps and dates outside interop.
	if _, err := Wrap1(c, func(context.Context, int) (map[int]codec.Date, error) { return nil, nil }, Name("ok")); err != nil {
		t.Fatal(err)
	}
}

// TestTypedGetAgrees: the direct API reads an entry of another type the same
// way in process and over a backend: converted when the codec can (Set(5)
// then Get[int64]), else ErrTypeMismatch; Load never overwrites it.
func TestTypedGetAgrees(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, k := range dmKinds() {
		t.Run(k.name, func(t *testing.T) {
			b := k.make(t)
			for _, readerOpts := range [][]Option{nil, {WithL1(false)}} {
				if b == nil && readerOpts != nil {
					continue
				}
				w := newTestCache(t, b)
				r := w
				if readerOpts != nil {
					r = newTestCache(t, b, readerOpts...)
				}
				key := uniq(t)
				if err := w.Set(ctx, key, 5, 0); err != nil {
					t.Fatal(err)
				}
				if v, found, err := Get[int64](ctx, r, key); err != nil || !found || v != 5 {
					t.Fatalf("Set(5) then Get[int64]: %v %v %v", v, found, err)
				}
				skey := uniq(t)
				if err := w.Set(ctx, skey, dmAudit{CreatedBy: "x"}, 0); err != nil {
					t.Fatal(err)
				}
				if _, found, err := Get[int](ctx, r, skey); found || !errors.Is(err, ErrTypeMismatch) {
					t.Fatalf("Get[int] on a struct: found=%v err=%v", found, err)
				}
				ran := false
				if _, err := Load(ctx, r, skey, func(context.Context) (int, error) { ran = true; return 1, nil }); !errors.Is(err, ErrTypeMismatch) || ran {
					t.Fatalf("Load[int] on a struct: %v (ran %v)", err, ran)
				}
				if a, found, err := Get[dmAudit](ctx, r, skey); err != nil || !found || a.CreatedBy != "x" {
					t.Fatalf("entry overwritten: %+v %v %v", a, found, err)
				}
				// A stored nil is a value only of nilable types.
				nkey := uniq(t)
				if err := w.Set(ctx, nkey, nil, 0); err != nil {
					t.Fatal(err)
				}
				if v, found, err := Get[string](ctx, r, nkey); found || !errors.Is(err, ErrTypeMismatch) {
					t.Fatalf("nil as string: %q %v %v", v, found, err)
				}
				if v, found, err := Get[*dmAudit](ctx, r, nkey); err != nil || !found || v != nil {
					t.Fatalf("nil as pointer: %v %v %v", v, found, err)
				}
			}
		})
	}
}

type dmRegionStore struct{ region string }

func (s *dmRegionStore) Get(_ context.Context, id int) (string, error) {
	return fmt.Sprintf("%s-%d", s.region, id), nil
}

// TestMethodValuesWithReceiver: two receivers of one method, wrapped with
// Receiver, never share entries (the bug Name alone had: us.Get returned the
// eu result).
func TestMethodValuesWithReceiver(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newTestCache(t, memoryKind().make(t))
	us, eu := &dmRegionStore{"us"}, &dmRegionStore{"eu"}
	getUS := MustWrap1(c, us.Get, Receiver("us"))
	getEU := MustWrap1(c, eu.Get, Receiver("eu"))
	if v, err := getEU.Call(ctx, 1); err != nil || v != "eu-1" {
		t.Fatalf("eu: %q %v", v, err)
	}
	if v, err := getUS.Call(ctx, 1); err != nil || v != "us-1" {
		t.Fatalf("us got %q %v", v, err)
	}
	ku, _ := getUS.Key(1)
	ke, _ := getEU.Key(1)
	if ku == ke {
		t.Fatalf("same key for both receivers: %s", ku)
	}
}

// TestClosedWrapperInvalidateAndClear: after Close, a wrapper's Invalidate
// and Clear return ErrClosed like the rest of the direct API, without
// reaching the backend.
func TestClosedWrapperInvalidateAndClear(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := memoryKind().make(t)
	c := newTestCache(t, b)
	f := MustWrap1(c, func(_ context.Context, n int) (int, error) { return n, nil }, Name(uniq(t)))
	if _, err := f.Call(ctx, 1); err != nil {
		t.Fatal(err)
	}
	key, _ := f.Key(1)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Invalidate(ctx, 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("Invalidate after Close: %v", err)
	}
	if err := f.Clear(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("Clear after Close: %v", err)
	}
	if _, found, _ := b.Get(ctx, key); !found {
		t.Fatal("the backend entry was deleted after Close")
	}
	// Calls still work, uncached.
	if v, err := f.Call(ctx, 2); err != nil || v != 2 {
		t.Fatalf("Call after Close: %v %v", v, err)
	}
}

// TestNewEncryptionNeedsASharedTenant: New reads neither the environment nor
// ~/.cachekit, writes no file, and refuses an encryption whose replicas
// would each invent a tenant; FromEnv, which may use the machine-local file
// as Python does, warns at start when a backend is shared.
func TestNewEncryptionNeedsASharedTenant(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv(EnvDeploymentUUID, "")
	_, err := New(quiet(), WithEncryption(Encryption{MasterKey: secret.String(keyOne)}))
	if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "DeploymentUUID") {
		t.Fatalf("New without a tenant: %v", err)
	}
	if entries, _ := os.ReadDir(home); len(entries) != 0 {
		t.Fatalf("New wrote into the home directory: %v", entries)
	}
	// With a deployment UUID, two replicas share entries.
	b := memoryKind().make(t)
	enc := WithEncryption(Encryption{MasterKey: secret.String(keyOne), DeploymentUUID: "6ba7b810-9dad-11d1-80b4-00c04fd430c8"})
	ctx := context.Background()
	runs := 0
	for range 3 {
		for _, c := range []*Cache{newTestCache(t, b, enc, WithL1(false)), newTestCache(t, b, enc, WithL1(false))} {
			if _, err := Load(ctx, c, "shared", func(context.Context) (int, error) { runs++; return 1, nil }); err != nil {
				t.Fatal(err)
			}
		}
	}
	if runs != 1 {
		t.Fatalf("6 calls over two replicas ran the function %d times", runs)
	}
	if entries, _ := os.ReadDir(home); len(entries) != 0 {
		t.Fatalf("New wrote into the home directory: %v", entries)
	}
	// FromEnv with the machine-local file and a shared backend: a warning.
	rec := &logRecorder{}
	env := map[string]string{EnvMasterKey: keyOne}
	c, err := fromEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, WithBackend(b), WithLogger(slogNew(rec)),
		withSecureConfig(func(sc *secure.Config) { sc.HomeDir = home }))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if rec.count("replicas on other machines") != 1 {
		t.Fatalf("no warning about the machine-local tenant:\n%s", rec.all())
	}
}

package cachekit_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/cachekit-go/cachekit"
	"github.com/cachekit-go/cachekit/backend/memory"
	"github.com/cachekit-go/cachekit/secret"
)

type User struct {
	ID   int    `msgpack:"id"`
	Name string `msgpack:"name"`
}

// getUserFromDB stands in for a slow query.
func getUserFromDB(_ context.Context, id int) (User, error) {
	return User{ID: id, Name: fmt.Sprintf("user-%d", id)}, nil
}

func listUsers(_ context.Context) ([]string, error) { return []string{"ada", "linus"}, nil }

func findUser(_ context.Context, org string, id int) (User, error) {
	return User{ID: id, Name: org + "/" + fmt.Sprint(id)}, nil
}

func search(_ context.Context, org, query string, limit int) ([]string, error) {
	return []string{org + ":" + query}[:min(limit, 1)], nil
}

func page(_ context.Context, org, query string, offset, limit int) ([]string, error) {
	return []string{fmt.Sprintf("%s:%s:%d-%d", org, query, offset, offset+limit)}, nil
}

// New with no options caches in process only.
func ExampleNew() {
	c, err := cachekit.New()
	if err != nil {
		panic(err)
	}
	defer c.Close()
	fmt.Println(c.Backend() == nil)
	// Output: true
}

// New with a preset, a backend and overrides: options apply left to right.
func ExampleNew_preset() {
	c, err := cachekit.New(
		cachekit.Production(),
		cachekit.WithBackend(memory.New(memory.Options{})),
		cachekit.WithNamespace("users"),
		cachekit.WithTTL(10*time.Minute),
	)
	if err != nil {
		panic(err)
	}
	defer c.Close()
	getUser := cachekit.MustWrap1(c, getUserFromDB)
	k, _ := getUser.Key(42)
	fmt.Println(k[:strings.Index(k, ":args:")])
	// Output: ns:users:func:github.com_cachekit_go_cachekit_test.getUserFromDB
}

// FromEnv picks the backend from CACHEKIT_API_KEY, CACHEKIT_REDIS_URL /
// REDIS_URL, CACHEKIT_MEMCACHED_SERVERS or CACHEKIT_FILE_CACHE_DIR; with none
// of them set it caches in process.
func ExampleFromEnv() {
	c, err := cachekit.FromEnv(cachekit.WithNamespace("app"))
	if errors.Is(err, cachekit.ErrConflictingBackends) {
		fmt.Println("set only one backend variable:", err)
		return
	}
	if err != nil {
		panic(err)
	}
	defer c.Close()
}

func ExampleWrap0() {
	c, _ := cachekit.New()
	users := cachekit.MustWrap0(c, listUsers, cachekit.TTL(time.Minute))
	v, _ := users.Call(context.Background())
	fmt.Println(v)
	// Output: [ada linus]
}

func ExampleWrap1() {
	c, _ := cachekit.New()
	getUser, err := cachekit.Wrap1(c, getUserFromDB, cachekit.TTL(5*time.Minute))
	if err != nil {
		panic(err) // a closure without cachekit.Name, an invalid option
	}
	ctx := context.Background()
	u, _ := getUser.Call(ctx, 42) // miss: runs getUserFromDB
	u, _ = getUser.Call(ctx, 42)  // hit
	fmt.Println(u.Name, getUser.Info().Hits)
	// Output: user-42 1
}

// Closures have no stable identity: name them.
func ExampleWrap1_closure() {
	c, _ := cachekit.New()
	db := map[int]string{1: "one"}
	_, err := cachekit.Wrap1(c, func(_ context.Context, id int) (string, error) { return db[id], nil })
	fmt.Println(errors.Is(err, cachekit.ErrUnnamedFunction))
	lookup := cachekit.MustWrap1(c, func(_ context.Context, id int) (string, error) { return db[id], nil },
		cachekit.Name("numbers.lookup"))
	v, _ := lookup.Call(context.Background(), 1)
	fmt.Println(v)
	// Output:
	// true
	// one
}

// Interop mode shares entries with Python's @cache(interop="get_user",
// namespace="users") and the Rust SDK.
func ExampleWrap1_interop() {
	c, _ := cachekit.New()
	getUser := cachekit.MustWrap1(c, getUserFromDB, cachekit.Interop("users", "get_user"))
	k, _ := getUser.Key(42)
	fmt.Println(k)
	// Output: users:get_user:61598716255080080f6456eb065c2e51badfaa4320b0efe97469c29cffee8875
}

func ExampleWrap2() {
	c, _ := cachekit.New()
	find := cachekit.MustWrap2(c, findUser)
	u, _ := find.Call(context.Background(), "acme", 7)
	fmt.Println(u.Name)
	// Output: acme/7
}

func ExampleWrap3() {
	c, _ := cachekit.New()
	s := cachekit.MustWrap3(c, search, cachekit.StaleWhileRevalidate(0.8))
	v, _ := s.Call(context.Background(), "acme", "go", 10)
	fmt.Println(v)
	// Output: [acme:go]
}

func ExampleWrap4() {
	c, _ := cachekit.New()
	p := cachekit.MustWrap4(c, page)
	fn := p.Fn() // a plain func(ctx, string, string, int, int) ([]string, error)
	v, _ := fn(context.Background(), "acme", "go", 20, 10)
	fmt.Println(v)
	// Output: [acme:go:20-30]
}

func ExampleLoad() {
	c, _ := cachekit.New()
	ctx := context.Background()
	for range 2 {
		cfg, err := cachekit.Load(ctx, c, "config:v1", func(ctx context.Context) (map[string]string, error) {
			fmt.Println("loading")
			return map[string]string{"mode": "fast"}, nil
		}, cachekit.TTL(time.Minute))
		if err != nil {
			panic(err)
		}
		fmt.Println(cfg["mode"])
	}
	// Output:
	// loading
	// fast
	// fast
}

func ExampleFunc1_Info() {
	c, _ := cachekit.New(cachekit.WithBackend(memory.New(memory.Options{})))
	getUser := cachekit.MustWrap1(c, getUserFromDB)
	ctx := context.Background()
	for _, id := range []int{1, 1, 2, 1} {
		_, _ = getUser.Call(ctx, id)
	}
	i := getUser.Info()
	fmt.Printf("hits=%d misses=%d l1=%d l2=%d rate=%.2f\n", i.Hits, i.Misses, i.L1Hits, i.L2Hits, i.HitRate())
	// Output: hits=2 misses=2 l1=2 l2=0 rate=0.50
}

func ExampleFunc1_Invalidate() {
	c, _ := cachekit.New()
	version := 1
	getUser := cachekit.MustWrap1(c, func(_ context.Context, id int) (string, error) {
		return fmt.Sprintf("user-%d v%d", id, version), nil
	}, cachekit.Name("users.get"))
	ctx := context.Background()
	v, _ := getUser.Call(ctx, 42)
	fmt.Println(v)
	version = 2
	_ = getUser.Invalidate(ctx, 42) // after a write to user 42
	v, _ = getUser.Call(ctx, 42)
	fmt.Println(v)
	// Output:
	// user-42 v1
	// user-42 v2
}

// Bypass skips the cache for one call.
func ExampleBypass() {
	c, _ := cachekit.New()
	calls := 0
	f := cachekit.MustWrap0(c, func(context.Context) (int, error) { calls++; return calls, nil }, cachekit.Name("counter"))
	ctx := context.Background()
	a, _ := f.Call(ctx)
	b, _ := f.Call(cachekit.Bypass(ctx))
	d, _ := f.Call(ctx)
	fmt.Println(a, b, d)
	// Output: 1 2 1
}

// The direct API, for code without a function to wrap.
func ExampleCache_Set() {
	c, _ := cachekit.New(cachekit.WithLogger(slog.New(slog.DiscardHandler)))
	ctx := context.Background()
	_ = c.Set(ctx, "greeting", "hello", time.Minute)
	v, found, _ := cachekit.Get[string](ctx, c, "greeting")
	fmt.Println(v, found)
	_, _ = c.Delete(ctx, "greeting")
	ok, _ := c.Exists(ctx, "greeting")
	fmt.Println(ok)
	// Output:
	// hello true
	// false
}

type tenantKey struct{}

// tenantFromContext is the tenant function of a multi-tenant cache.
func tenantFromContext(ctx context.Context) (string, error) {
	if t, ok := ctx.Value(tenantKey{}).(string); ok {
		return t, nil
	}
	return "", errors.New("request has no tenant")
}

// Encryption with one key per tenant: the tenant comes from the context,
// is part of the backend key, and is bound into every ciphertext. In
// production the master key comes from a secret store (or
// CACHEKIT_MASTER_KEY with FromEnv), never from source code.
func ExampleWithEncryption() {
	mem := memory.New(memory.Options{})
	c, err := cachekit.New(
		cachekit.WithBackend(mem),
		cachekit.WithLogger(slog.New(slog.DiscardHandler)),
		cachekit.WithEncryption(cachekit.Encryption{
			MasterKey:  secret.String(strings.Repeat("5e", 32)), // hex, at least 32 bytes
			TenantFunc: tenantFromContext,
		}),
	)
	if err != nil {
		panic(err)
	}
	defer c.Close()
	getUser := cachekit.MustWrap1(c, getUserFromDB)

	acme := context.WithValue(context.Background(), tenantKey{}, "acme")
	u, _ := getUser.Call(acme, 42)
	fmt.Println(u.Name)

	k, _ := getUser.Key(42)
	_ = c.Flush(acme) // backend writes are made in the background
	stored, found, _ := mem.Get(acme, "t:acme:"+k)
	fmt.Println("stored for acme:", found, "plaintext visible:", bytes.Contains(stored, []byte(u.Name)))

	_, err = getUser.Call(context.Background(), 42)
	fmt.Println("no tenant:", errors.Is(err, cachekit.ErrTenant))
	fmt.Println("encryptions:", c.Info().Encryption.Encryptions)
	// Output:
	// user-42
	// stored for acme: true plaintext visible: false
	// no tenant: true
	// encryptions: 1
}

// The Secure preset requires encryption. Here the key is explicit and the
// cache fails closed, so a tampered entry is an error instead of a miss.
func ExampleSecure() {
	mem := memory.New(memory.Options{})
	newSecureCache := func() *cachekit.Cache {
		c, err := cachekit.New(
			cachekit.Secure(),
			cachekit.WithBackend(mem),
			cachekit.WithLogger(slog.New(slog.DiscardHandler)),
			cachekit.WithEncryption(cachekit.Encryption{
				MasterKey:      secret.String(strings.Repeat("5e", 32)),
				DeploymentUUID: "6ba7b810-9dad-11d1-80b4-00c04fd430c8", // the single tenant
				FailClosed:     true,
			}),
		)
		if err != nil {
			panic(err)
		}
		return c
	}
	ctx := context.Background()
	getUser := cachekit.MustWrap1(newSecureCache(), getUserFromDB)
	u, _ := getUser.Call(ctx, 7)
	fmt.Println(u.Name)
	_ = getUser.Cache().Flush(ctx) // the backend write is made in the background

	// Someone with write access to the backend flips one bit.
	k, _ := getUser.Key(7)
	stored, _, _ := mem.Get(ctx, k)
	tampered := bytes.Clone(stored)
	tampered[len(tampered)-1] ^= 1
	_ = mem.Set(ctx, k, tampered, time.Hour)

	other := cachekit.MustWrap1(newSecureCache(), getUserFromDB) // another process: empty L1
	_, err := other.Call(ctx, 7)
	fmt.Println(errors.Is(err, cachekit.ErrDecrypt), errors.Is(err, cachekit.ErrDecryptTamper))

	// Without a key Secure refuses to run rather than store plaintext.
	_, err = cachekit.New(cachekit.Secure())
	fmt.Println(errors.Is(err, cachekit.ErrEncryptionRequired))
	// Output:
	// user-7
	// true true
	// true
}

package cachekit_test

import (
	"context"
	"fmt"

	"github.com/cachekit-go/cachekit"
	"github.com/cachekit-go/cachekit/backend/memory"
)

// WithPythonLayout: one cache shares both kinds of entry with a cachekit-py
// service. The auto-mode function is named after the Python function
// (module.qualname) and lives under Python's provider prefix; the interop
// function's key stays bare, as Python's interop decorators keep it.
func ExampleWithPythonLayout() {
	mem := memory.New(memory.Options{}) // a Redis backend in a real service
	c, err := cachekit.New(cachekit.WithBackend(mem), cachekit.WithPythonLayout(true))
	if err != nil {
		panic(err)
	}
	defer c.Close()
	ctx := context.Background()

	// Python: @cache(namespace="users") def get_user(user_id) in app/users.py
	auto := cachekit.MustWrap1(c, getUserFromDB, cachekit.Name("app.users.get_user"), cachekit.Namespace("users"))
	// Python: @cache(interop="get_user", namespace="users", backend=RedisBackend())
	iop := cachekit.MustWrap1(c, getUserFromDB, cachekit.Interop("users", "get_user"))

	_, _ = auto.Call(ctx, 42)
	_, _ = iop.Call(ctx, 42)
	_ = c.Flush(ctx) // backend writes are made in the background
	for _, f := range []*cachekit.Func1[int, User]{auto, iop} {
		k, _ := f.Key(42)
		inPrefixed, _ := mem.Exists(ctx, cachekit.PythonKeyPrefix+k)
		inBare, _ := mem.Exists(ctx, k)
		fmt.Println(k[:20], "prefixed:", inPrefixed, "bare:", inBare)
	}
	// Output:
	// ns:users:func:app.us prefixed: true bare: false
	// users:get_user:61598 prefixed: false bare: true
}

// Keywords: Python callers pass search("acme", "go", limit=5), so the last
// argument travels as the keyword argument "limit" and the Go wrapper gets
// the same key as Python.
func ExampleKeywords() {
	c, err := cachekit.New()
	if err != nil {
		panic(err)
	}
	defer c.Close()
	kw := cachekit.MustWrap3(c, search, cachekit.Name("app.search"), cachekit.Keywords("limit"))
	pos := cachekit.MustWrap3(c, search, cachekit.Name("app.search"))
	k1, _ := kw.Key("acme", "go", 5)
	k2, _ := pos.Key("acme", "go", 5)
	fmt.Println(k1 == k2)
	// Output: false
}

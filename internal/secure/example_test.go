package secure_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/cachekit-go/cachekit/internal/entry"
	"github.com/cachekit-go/cachekit/internal/secure"
)

// A single-tenant policy sealing a value through the value pipeline, and the
// cache's reaction to an entry that fails to decrypt.
func Example() {
	policy, err := secure.New(secure.Config{
		MasterKey:      bytes.Repeat([]byte{0x61}, 32), // from CACHEKIT_MASTER_KEY in real use
		DeploymentUUID: "6f1c2a9e-3b4d-4e5f-8a7b-0c1d2e3f4a5b",
	})
	if err != nil {
		panic(err)
	}
	scope, err := policy.Bind(context.Background())
	if err != nil {
		panic(err)
	}
	pipe := entry.Pipeline{Mode: entry.Framed, Sealer: scope}
	const key = "ns:users:func:main.getUser:args:ab12:1s"
	stored, _ := pipe.Encode(key, "alice")
	fmt.Println("backend key:", scope.PhysicalKey(key))

	var name string
	_ = pipe.Decode(key, stored, &name)
	fmt.Println("read back:", name)

	stored[len(stored)-1] ^= 1 // the backend flips one bit of the tag
	err = pipe.Decode(key, stored, &name)
	switch {
	case errors.Is(err, secure.ErrDecrypt) && !policy.FailClosed():
		r, _ := secure.ReasonOf(err)
		fmt.Println("miss, evict and recompute; reason:", r)
	case err != nil:
		fmt.Println("fail closed:", err)
	}
	fmt.Println("tamper count:", policy.Failures(secure.ReasonTamper))
	// Output:
	// backend key: ns:users:func:main.getUser:args:ab12:1s
	// read back: alice
	// miss, evict and recompute; reason: tamper
	// tamper count: 1
}

// A multi-tenant policy keeps tenants apart in the backend key.
func ExamplePolicy_Bind() {
	type tenantKey struct{}
	policy, err := secure.New(secure.Config{
		MasterKey: bytes.Repeat([]byte{0x61}, 32),
		TenantFunc: func(ctx context.Context) (string, error) {
			if t, ok := ctx.Value(tenantKey{}).(string); ok {
				return t, nil
			}
			return "", errors.New("request has no tenant")
		},
	})
	if err != nil {
		panic(err)
	}
	for _, tenant := range []string{"acme", "org:42"} {
		ctx := context.WithValue(context.Background(), tenantKey{}, tenant)
		scope, _ := policy.Bind(ctx)
		fmt.Println(scope.PhysicalKey("users:get:1"))
	}
	_, err = policy.Bind(context.Background())
	fmt.Println(errors.Is(err, secure.ErrTenant))
	// Output:
	// t:acme:users:get:1
	// t:org%3A42:users:get:1
	// true
}

package store_test

import (
	"context"
	"fmt"
	"time"

	"github.com/cachekit-go/cachekit/cachekitd/store"
)

// ExampleNewMemory uses the embedded store directly: entries are per tenant,
// with a fresh TTL and an optional stale window.
func ExampleNewMemory() {
	ctx := context.Background()
	st := store.NewMemory(store.MemoryOptions{MaxBytes: 64 << 20, Tenant: store.Limits{MaxEntries: 10_000}})
	defer st.Close()

	created, _ := st.Set(ctx, "acme", "user:42", []byte("v1"), time.Minute, 10*time.Minute)
	e, found, _ := st.Get(ctx, "acme", "user:42")
	_, otherTenant, _ := st.Get(ctx, "globex", "user:42")
	fmt.Println(created, found, string(e.Value), e.HasStaleWindow, e.Stale, otherTenant)

	id, ok, _ := st.AcquireLock(ctx, "acme", "user:42", 5*time.Second)
	_, again, _ := st.AcquireLock(ctx, "acme", "user:42", 5*time.Second)
	released, _ := st.ReleaseLock(ctx, "acme", "user:42", id)
	fmt.Println(ok, again, released)
	// Output:
	// true true v1 true false false
	// true false true
}

package kvhttp_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/cachekit-go/cachekit/examples/httpbackend/kvhttp"
)

func ExampleNew() {
	srv := httptest.NewServer(kvhttp.NewServer())
	defer srv.Close()

	b, err := kvhttp.New(srv.URL, nil)
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	_ = b.Set(ctx, "user:42", []byte("Ada"), time.Minute)
	v, found, err := b.Get(ctx, "user:42")
	fmt.Println(string(v), found, err)
	// Output: Ada true <nil>
}

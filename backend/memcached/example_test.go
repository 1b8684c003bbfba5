package memcached_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/cachekit-go/cachekit/backend/memcached"
)

// A backend over two memcached servers, configured from the environment the
// way cachekit.FromEnv does it.
func ExampleNew() {
	servers, err := memcached.ParseServers(os.Getenv("CACHEKIT_MEMCACHED_SERVERS")) // "mc1:11211,mc2:11211"
	if err != nil {
		log.Fatal(err)
	}
	b, err := memcached.New(memcached.Options{Servers: servers, KeyPrefix: "myapp:"})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()

	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := b.Set(ctx, "user:42", []byte("Ada"), 10*time.Minute); err != nil {
		log.Fatal(err)
	}
	v, found, err := b.Get(ctx, "user:42")
	fmt.Println(string(v), found, err)
}

func ExampleParseServers() {
	servers, err := memcached.ParseServers("10.0.0.1:11211, 10.0.0.2")
	fmt.Println(servers, err)
	// Output: [10.0.0.1:11211 10.0.0.2:11211] <nil>
}

package redis_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/redis/rueidis"

	"github.com/cachekit-go/cachekit/backend"
	"github.com/cachekit-go/cachekit/backend/redis"
)

// New connects with an Options value; here a Redis Cluster given by three
// seed nodes, with a prefix that keeps the application's keys together.
func ExampleNew() {
	b, err := redis.New(redis.Options{
		Addrs:     []string{"10.0.0.1:7000", "10.0.0.2:7000", "10.0.0.3:7000"},
		Mode:      redis.ModeCluster,
		Username:  "cache",
		Password:  "from-your-secret-store",
		KeyPrefix: "myapp:",
		Timeout:   500 * time.Millisecond,
	})
	if err != nil {
		log.Fatal(err) // bad options, or a reachable server refusing the credentials
	}
	defer b.Close()

	ctx := context.Background()
	if err := b.Set(ctx, "greeting", []byte("hello"), time.Minute); err != nil {
		log.Fatal(err)
	}
	v, found, err := b.Get(ctx, "greeting")
	fmt.Println(string(v), found, err)
}

// NewFromURL takes the URL forms of ParseURL; this one reaches a master
// through its Sentinels.
func ExampleNewFromURL() {
	b, err := redis.NewFromURL("redis://:from-your-secret-store@sentinel-1:26379,sentinel-2:26379/0?master_set=mymaster")
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	healthy, details := b.HealthCheck(context.Background())
	fmt.Println(healthy, details["mode"])
}

// NewFromClient reuses a rueidis client the application already has. The
// backend does not close it.
func ExampleNewFromClient() {
	client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{"localhost:6379"}})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	b := redis.NewFromClient(client, redis.Options{KeyPrefix: redis.ReferenceKeyPrefix})
	id, ok, err := b.AcquireLock(context.Background(), "report:2024", 30*time.Second)
	if err != nil || !ok {
		return // someone else is computing the report
	}
	defer b.ReleaseLock(context.Background(), "report:2024", id)
}

// ParseURL shows what a URL means before connecting; printing Options hides
// the password.
func ExampleParseURL() {
	o, err := redis.ParseURL("rediss://app:s3cret@cache.example.com:6380/2?timeout=250ms&key_prefix=myapp:")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(o)
	fmt.Println(o.Timeout, o.TLSConfig.ServerName)
	// Output:
	// redis.Options{Mode: "standalone", Addrs: ["cache.example.com:6380"], Username: "app", Password: [redacted], DB: 2, TLS: true, KeyPrefix: "myapp:"}
	// 250ms cache.example.com
}

// DeletePrefix removes every entry under a key prefix (here all cached
// results of one function) without blocking the server; cachekit's
// per-function Clear calls it for you.
func ExampleBackend_DeletePrefix() {
	b, err := redis.New(redis.Options{Addrs: []string{"localhost:6379"}, KeyPrefix: "myapp:"})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	// Removes myapp:ns:users:func:main.getUser:args:..., nothing else.
	n, err := b.DeletePrefix(context.Background(), "ns:users:func:main.getUser:args:")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("removed", n)
}

// New succeeds while Redis is down, so a service starts without it; until
// the background connection is made, operations fail at once with a
// Transient error matching ErrNotConnected, which the cache treats as a miss.
func ExampleNew_serverDown() {
	b, err := redis.New(redis.Options{Addrs: []string{"127.0.0.1:1"}}) // nothing listens there
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	_, _, err = b.Get(context.Background(), "greeting")
	fmt.Println(errors.Is(err, redis.ErrNotConnected), backend.IsTransient(err))
	// Output: true true
}

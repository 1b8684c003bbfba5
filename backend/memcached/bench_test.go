package memcached

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/internal/testenv"
)

func BenchmarkSetGet(b *testing.B) {
	list, err := ParseServers(testenv.Require(b, "CACHEKIT_TEST_MEMCACHED_SERVERS"))
	if err != nil {
		b.Fatal(err)
	}
	be, err := New(Options{Servers: list})
	if err != nil {
		b.Fatal(err)
	}
	defer be.Close()
	ctx := context.Background()
	value := make([]byte, 1024)
	b.ReportAllocs()
	b.SetBytes(int64(len(value)))
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			k := "bench:" + strconv.Itoa(i%1000)
			i++
			if err := be.Set(ctx, k, value, time.Minute); err != nil {
				b.Error(err)
				return
			}
			if _, _, err := be.Get(ctx, k); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkParseValue(b *testing.B) {
	resp := []byte("VALUE some:key 0 1024\r\n" + string(make([]byte, 1024)) + "\r\nEND\r\n")
	b.ReportAllocs()
	b.SetBytes(int64(len(resp)))
	for b.Loop() {
		if _, err := parse(string(resp)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPickServer(b *testing.B) {
	names := []string{"10.0.0.1:11211", "10.0.0.2:11211", "10.0.0.3:11211", "10.0.0.4:11211"}
	b.ReportAllocs()
	for b.Loop() {
		pickServer(names, "ns:app:func:main.get_user:args:0123456789abcdef:1s")
	}
}

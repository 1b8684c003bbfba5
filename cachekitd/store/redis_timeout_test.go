package store_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/cachekitd/store"
)

// blackHole accepts TCP connections and never answers: a stalled Redis.
func blackHole(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	return ln.Addr().String()
}

// TestRedisDeadlineBelowSDKTimeout: against a Redis that accepts and never
// answers, a store operation gives up well before the SDKs' 5 s request
// timeout (the default), or after the configured Timeout; the bound is wide
// (fault-injection style), what matters is which side of 5 s it falls.
func TestRedisDeadlineBelowSDKTimeout(t *testing.T) {
	t.Parallel()
	if store.DefaultRedisTimeout >= 5*time.Second/2 {
		t.Fatalf("DefaultRedisTimeout %s is not well below the SDKs' 5s", store.DefaultRedisTimeout)
	}
	addr := blackHole(t)
	for _, tc := range []struct {
		timeout, bound time.Duration
	}{{0, 4 * time.Second}, {200 * time.Millisecond, 3 * time.Second}} {
		start := time.Now()
		st, err := store.NewRedis(context.Background(), store.RedisOptions{Addrs: []string{addr}, Timeout: tc.timeout})
		took := time.Since(start)
		if err == nil {
			st.Close()
			t.Fatal("NewRedis succeeded against a server that never answers")
		}
		if !errors.Is(err, store.ErrRedis) {
			t.Errorf("error %v does not wrap ErrRedis", err)
		}
		if took > tc.bound {
			t.Errorf("Timeout %s: gave up after %s, want under %s", tc.timeout, took, tc.bound)
		}
	}
}

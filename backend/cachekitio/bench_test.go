package cachekitio

import (
	"context"
	"net/http"
	"testing"
	"time"
)

// Benchmarks of the client's own cost over a loopback TLS + HTTP/2 server
// that answers at once (the network and server time of a real API are not
// the client's).

func benchBackend(b *testing.B, h http.HandlerFunc) *Backend {
	b.Helper()
	pki := newTestPKI(b, testHost)
	port := startTLSServer(b, pki, h)
	return newTestBackend(b, pki, port, nil)
}

func BenchmarkGet(b *testing.B) {
	value := make([]byte, 1024)
	be := benchBackend(b, func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(value) })
	ctx := context.Background()
	b.ReportAllocs()
	b.SetBytes(int64(len(value)))
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := be.Get(ctx, "bench:key"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkSet(b *testing.B) {
	be := benchBackend(b, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	ctx := context.Background()
	value := make([]byte, 1024)
	b.ReportAllocs()
	b.SetBytes(int64(len(value)))
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := be.Set(ctx, "bench:key", value, time.Minute); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkEscapeKey(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_, _ = escapeKey("ns:users:module.get_user:42:abcdef0123456789")
	}
}

package cachekitio

import (
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/internal/testenv/cachekitdtest"
)

// testHost is the name every test connects to: on the default allowlist, so
// the host-name SSRF rules stay on in every test. The test resolver maps it
// to the loopback listener.
const testHost = cachekitdtest.Host

// testAPIKey is the key the tests authenticate with; the leak test searches
// every output for it.
const testAPIKey = cachekitdtest.APIKey

// testPKI is a throwaway CA and a server certificate it signed for testHost.
type testPKI = cachekitdtest.PKI

func newTestPKI(t testing.TB, names ...string) *testPKI {
	t.Helper()
	return cachekitdtest.NewPKI(t, names...)
}

// startTLSServer serves h over TLS with HTTP/2 and HTTP/1.1 on a loopback
// port, with a certificate for testHost. It returns the port.
func startTLSServer(t testing.TB, pki *testPKI, h http.Handler) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{pki.Cert}, MinVersion: tls.VersionTLS12},
		Protocols:         new(http.Protocols),
		ErrorLog:          log.New(io.Discard, "", 0), // handshake failures are expected in some tests
	}
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetHTTP2(true)
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().(*net.TCPAddr).Port
}

// loopbackResolver maps testHost to 127.0.0.1.
func loopbackResolver() mapResolver {
	return mapResolver{testHost: []netip.Addr{netip.MustParseAddr("127.0.0.1")}}
}

// testURL is https://api.cachekit.io:port.
func testURL(port int) string { return "https://" + testHost + ":" + strconv.Itoa(port) }

// newTestBackend connects to testHost:port through the loopback mapping,
// with the private-network opt-in (the only SSRF rule a loopback test must
// relax) and the test CA. adjust may change the options first.
func newTestBackend(t testing.TB, pki *testPKI, port int, adjust func(*Options)) *Backend {
	t.Helper()
	opts := Options{
		APIKey:               testAPIKey,
		URL:                  testURL(port),
		AllowPrivateNetworks: true,
		RootCAs:              pki.Pool,
		Resolver:             loopbackResolver(),
		Timeout:              5 * time.Second,
	}
	if adjust != nil {
		adjust(&opts)
	}
	b, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

package cachekitio

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// testHost is the name every test connects to: on the default allowlist, so
// the host-name SSRF rules stay on in every test. The test resolver maps it
// to the loopback listener.
const testHost = "api.cachekit.io"

// testAPIKey is the key the tests authenticate with; the leak test searches
// every output for it.
const testAPIKey = "ck_test_G7xQ2mV9pL4sR8tK1wZ5"

// testPKI is a throwaway CA and a server certificate it signed for testHost.
type testPKI struct {
	pool    *x509.CertPool
	cert    tls.Certificate
	caPEM   []byte
	certPEM []byte
	keyPEM  []byte
}

func newTestPKI(t testing.TB, names ...string) *testPKI {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "cachekitio test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: names[0]},
		DNSNames:     names,
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(srvKey)
	if err != nil {
		t.Fatal(err)
	}
	p := &testPKI{
		pool:    x509.NewCertPool(),
		caPEM:   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srvDER}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}
	p.pool.AddCert(caCert)
	p.cert, err = tls.X509KeyPair(p.certPEM, p.keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// writeFiles writes the server certificate and key into dir.
func (p *testPKI) writeFiles(t testing.TB, dir string) (certFile, keyFile string) {
	t.Helper()
	certFile, keyFile = filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key")
	if err := os.WriteFile(certFile, p.certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, p.keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
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
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{pki.cert}, MinVersion: tls.VersionTLS12},
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
		RootCAs:              pki.pool,
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

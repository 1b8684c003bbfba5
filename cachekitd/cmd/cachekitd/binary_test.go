package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/cachekitd/server"
)

// The tests in this file run the real cachekitd binary, built once from this
// source tree.

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "cachekitd-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "cachekitd")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// proc is a running cachekitd.
type proc struct {
	cmd    *exec.Cmd
	addr   string
	stderr *syncBuffer
	done   chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// start runs cachekitd on a free loopback port with args and extra
// environment, and waits until it serves.
func start(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	addrFile := filepath.Join(t.TempDir(), "addr")
	cmd := exec.Command(binary(t), append([]string{"--addr", "127.0.0.1:0", "--addr-file", addrFile}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	p := &proc{cmd: cmd, stderr: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("cachekitd stderr:\n%s", p.stderr.String())
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(addrFile); err == nil && len(b) > 0 {
			p.addr = strings.TrimSpace(string(b))
			return p
		}
		select {
		case err := <-p.done:
			p.done <- err
			t.Fatalf("cachekitd exited early: %v\n%s", err, p.stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("cachekitd did not write its address\n%s", p.stderr.String())
	return nil
}

// tlsFiles writes a test certificate for 127.0.0.1 and returns the cert and
// key paths and a pool trusting it.
func tlsFiles(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	certPEM, keyPEM, err := server.SelfSignedCertificate([]string{"127.0.0.1", "localhost"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	if !pool.AppendCertsFromPEM(certPEM) {
		t.Fatal("bad test certificate")
	}
	return certFile, keyFile, pool
}

func h2Client(pool *x509.CertPool) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: pool},
		ForceAttemptHTTP2: true,
	}}
}

type resp struct {
	status int
	proto  int
	header http.Header
	body   []byte
}

func do(t *testing.T, c *http.Client, method, url, apiKey string, body []byte, hdr ...string) resp {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+apiKey)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	r, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return resp{r.StatusCode, r.ProtoMajor, r.Header, b}
}

const testKey = "ck_test_binary0123456789abcdef"

func TestTLSServesHTTP2(t *testing.T) {
	t.Parallel()
	certFile, keyFile, pool := tlsFiles(t)
	p := start(t, []string{"CACHEKITD_API_KEYS=acme=" + testKey}, "--tls-cert", certFile, "--tls-key", keyFile)
	c := h2Client(pool)
	base := "https://" + p.addr + "/v1/cache/"
	if r := do(t, c, "PUT", base+"user:1", testKey, []byte("hello"), "X-CacheKit-TTL", "60"); r.status != 200 || r.proto != 2 {
		t.Fatalf("PUT = %d over HTTP/%d, want 200 over HTTP/2", r.status, r.proto)
	}
	r := do(t, c, "GET", base+"user%3A1", testKey, nil)
	if r.status != 200 || r.proto != 2 || string(r.body) != "hello" {
		t.Fatalf("GET = %d over HTTP/%d %q", r.status, r.proto, r.body)
	}
	if r := do(t, c, "GET", base+"user:1", "ck_test_wrong0123456789abcdef", nil); r.status != 401 {
		t.Errorf("unknown key = %d, want 401", r.status)
	}
	if strings.Contains(p.stderr.String(), testKey) {
		t.Error("the API key appears in the server's output")
	}
}

func TestH2C(t *testing.T) {
	t.Parallel()
	p := start(t, []string{"CACHEKITD_API_KEYS=acme=" + testKey}, "--h2c")
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	r := do(t, c, "GET", "http://"+p.addr+"/v1/cache/health", "", nil)
	if r.status != 200 || r.proto != 2 {
		t.Fatalf("h2c health = %d over HTTP/%d, want 200 over HTTP/2", r.status, r.proto)
	}
	// HTTP/1.1 still works on the same port.
	if r := do(t, &http.Client{Timeout: 10 * time.Second}, "GET", "http://"+p.addr+"/v1/cache/health", "", nil); r.status != 200 || r.proto != 1 {
		t.Fatalf("HTTP/1.1 health = %d over HTTP/%d", r.status, r.proto)
	}
}

func TestDevMode(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := start(t, nil, "--dev", "--dev-cert-dir", dir)
	out := p.stderr.String()
	i := strings.Index(out, "API key ck_test_")
	if i < 0 {
		t.Fatalf("--dev printed no key:\n%s", out)
	}
	key := strings.Fields(out[i+len("API key "):])[0]
	certPEM, err := os.ReadFile(filepath.Join(dir, "dev-cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, filepath.Join(dir, "dev-cert.pem")) {
		t.Error("--dev does not say where its certificate is")
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	c := h2Client(pool)
	if r := do(t, c, "PUT", "https://"+p.addr+"/v1/cache/k", key, []byte("v")); r.status != 200 || r.proto != 2 {
		t.Fatalf("dev PUT = %d over HTTP/%d", r.status, r.proto)
	}

	// The printed settings, as pasted: the Go SDK's line names the loopback
	// URL with private networks allowed and the CA file; the Python SDK's
	// line names the dev hostname, which the certificate covers.
	certFile := filepath.Join(dir, "dev-cert.pem")
	_, port, _ := net.SplitHostPort(p.addr)
	goLine := "export CACHEKIT_API_KEY=" + key + " CACHEKIT_API_URL=https://127.0.0.1:" + port + " CACHEKIT_ALLOW_CUSTOM_HOST=true CACHEKIT_ALLOW_PRIVATE_NETWORKS=true CACHEKIT_CA_FILE=" + certFile
	pyLine := "export CACHEKIT_API_KEY=" + key + " CACHEKIT_API_URL=https://cachekitd.test:" + port + " CACHEKIT_ALLOW_CUSTOM_HOST=true SSL_CERT_FILE=" + certFile + " REQUESTS_CA_BUNDLE=" + certFile
	for _, line := range []string{goLine, pyLine} {
		if !strings.Contains(out, line) {
			t.Errorf("--dev does not print\n  %s\nin:\n%s", line, out)
		}
	}
	// A client that resolves cachekitd.test to this machine (the hosts line
	// the printout gives) and trusts only the dev certificate gets through.
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, p.addr)
		},
	}
	named := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	if r := do(t, named, "GET", "https://cachekitd.test:"+port+"/v1/cache/k", key, nil); r.status != 200 || string(r.body) != "v" {
		t.Fatalf("GET by the dev hostname = %d %q", r.status, r.body)
	}
}

// TestDevCertDirMustBePrivate: --dev refuses a certificate directory that
// others can write (they could plant a key pair) instead of using it.
func TestDevCertDirMustBePrivate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary(t), "--dev", "--dev-cert-dir", dir, "--addr", "127.0.0.1:0")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "writable by others") {
		t.Fatalf("--dev with a world-writable directory: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "dev-key.pem")); err == nil {
		t.Fatal("a key was written into the world-writable directory")
	}
}

func TestKeysFileAndTenantDefaultTTL(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "keys")
	content := "# tenants\nacme " + server.HashKey(testKey) + " default_ttl=60\n\nglobex " + server.HashKey("ck_live_globex0123456789abcdef") + "\n"
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	p := start(t, nil, "--api-keys-file", file)
	c := &http.Client{Timeout: 10 * time.Second}
	base := "http://" + p.addr + "/v1/cache/"
	if r := do(t, c, "PUT", base+"k", testKey, []byte("v")); r.status != 200 {
		t.Fatalf("PUT = %d", r.status)
	}
	if r := do(t, c, "GET", base+"k/ttl", testKey, nil); r.status != 200 || !bytes.Contains([]byte("{\"ttl\":60}{\"ttl\":59}"), r.body) {
		t.Fatalf("ttl = %d %s, want the tenant default 60", r.status, r.body)
	}
	if r := do(t, c, "GET", base+"k", "ck_live_globex0123456789abcdef", nil); r.status != 404 {
		t.Fatalf("other tenant GET = %d, want 404", r.status)
	}
}

func TestHugeHeaders(t *testing.T) {
	t.Parallel()
	p := start(t, []string{"CACHEKITD_API_KEYS=acme=" + testKey}, "--max-header-bytes", "4KiB")
	c := &http.Client{Timeout: 10 * time.Second}
	r := do(t, c, "GET", "http://"+p.addr+"/v1/cache/k", testKey, nil, "X-Padding", strings.Repeat("a", 64<<10))
	if r.status != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("64 KiB header = %d, want 431", r.status)
	}
	if r := do(t, c, "GET", "http://"+p.addr+"/v1/cache/k", testKey, nil); r.status != 404 {
		t.Fatalf("normal request after = %d, want 404", r.status)
	}
}

func TestGracefulShutdownDrains(t *testing.T) {
	t.Parallel()
	p := start(t, []string{"CACHEKITD_API_KEYS=acme=" + testKey}, "--shutdown-timeout", "10s")
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("PUT", "http://"+p.addr+"/v1/cache/inflight", pr)
	req.ContentLength = 10
	req.Header.Set("Authorization", "Bearer "+testKey)
	type result struct {
		status int
		err    error
	}
	res := make(chan result, 1)
	go func() {
		r, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
		if err != nil {
			res <- result{0, err}
			return
		}
		r.Body.Close()
		res <- result{r.StatusCode, nil}
	}()
	if _, err := pw.Write([]byte("01234")); err != nil {
		t.Fatal(err)
	}
	// The request is in flight (half its body sent): ask the server to stop.
	time.Sleep(200 * time.Millisecond)
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	waitFor(t, p, "shutting down")
	if _, err := pw.Write([]byte("56789")); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	r := <-res
	if r.err != nil || r.status != 200 {
		t.Fatalf("in-flight PUT during shutdown = %d, %v; want 200", r.status, r.err)
	}
	select {
	case err := <-p.done:
		p.done <- err
		if err != nil {
			t.Fatalf("cachekitd exit: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("cachekitd did not exit after draining")
	}
}

// waitFor waits until the server's log contains s.
func waitFor(t *testing.T, p *proc, s string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for !strings.Contains(p.stderr.String(), s) {
		select {
		case <-ctx.Done():
			t.Fatalf("log never said %q:\n%s", s, p.stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// TestMetricsListener: /metrics is not on the API listener by default, is on
// --metrics-addr when given (and only there), and on the API listener with
// --metrics-addr api.
func TestMetricsListener(t *testing.T) {
	t.Parallel()
	c := &http.Client{Timeout: 10 * time.Second}
	env := []string{"CACHEKITD_API_KEYS=acme=" + testKey}
	p := start(t, env)
	if r := do(t, c, "GET", "http://"+p.addr+"/metrics", "", nil); r.status != 404 {
		t.Errorf("default: /metrics on the API port = %d, want 404", r.status)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	maddr := ln.Addr().String()
	ln.Close()
	p = start(t, env, "--metrics-addr", maddr)
	waitFor(t, p, "metrics listening")
	if r := do(t, c, "GET", "http://"+maddr+"/metrics", "", nil); r.status != 200 || !bytes.Contains(r.body, []byte("cachekitd_requests_total")) {
		t.Errorf("--metrics-addr: /metrics = %d", r.status)
	}
	if r := do(t, c, "GET", "http://"+p.addr+"/metrics", "", nil); r.status != 404 {
		t.Errorf("--metrics-addr: /metrics also on the API port (%d)", r.status)
	}

	p = start(t, env, "--metrics-addr", "api")
	if r := do(t, c, "GET", "http://"+p.addr+"/metrics", "", nil); r.status != 200 {
		t.Errorf("--metrics-addr api: /metrics = %d, want 200", r.status)
	}
}

// TestFairShareByDefault: with two tenants and no --tenant-max-bytes, each
// gets half the memory store. A tenant that wrote more than its half lost
// its own oldest entries at once; after that, another tenant filling the
// store with junk evicts none of the entries it still has (without the fair
// share it would take it down to half by evicting the largest tenant first).
func TestFairShareByDefault(t *testing.T) {
	t.Parallel()
	const other = "ck_live_globex0123456789abcdef"
	p := start(t, []string{"CACHEKITD_API_KEYS=acme=" + testKey + ",globex=" + other}, "--memory-max-bytes", "256KiB")
	c := &http.Client{Timeout: 10 * time.Second}
	base := "http://" + p.addr + "/v1/cache/"
	value := make([]byte, 1000)
	const n = 180 // ~210 KiB: more than globex's 128 KiB share
	for i := range n {
		if r := do(t, c, "PUT", base+"keep"+strconv.Itoa(i), other, value); r.status != 200 {
			t.Fatalf("globex PUT = %d", r.status)
		}
	}
	kept := func() map[int]bool {
		m := map[int]bool{}
		for i := range n {
			if r := do(t, c, "HEAD", base+"keep"+strconv.Itoa(i), other, nil); r.status == 200 {
				m[i] = true
			}
		}
		return m
	}
	before := kept()
	if len(before) == n || len(before) < n/2 {
		t.Fatalf("globex kept %d of %d entries, want its half of the store", len(before), n)
	}
	for i := range 1000 { // ~1 MiB of junk, four times the whole store
		if r := do(t, c, "PUT", base+"junk"+strconv.Itoa(i), testKey, value); r.status != 200 {
			t.Fatalf("acme PUT = %d", r.status)
		}
	}
	if after := kept(); len(after) != len(before) {
		t.Fatalf("another tenant's junk evicted %d of globex's %d entries", len(before)-len(after), len(before))
	}
}

// TestIdleConnectionsAreCapped: connections beyond --max-conns replace idle
// ones (here: connections that never sent a request), so idle connections
// cannot pile up, and a client with a request still gets served.
func TestIdleConnectionsAreCapped(t *testing.T) {
	t.Parallel()
	p := start(t, []string{"CACHEKITD_API_KEYS=acme=" + testKey}, "--max-conns", "20")
	var idle []net.Conn
	for range 60 {
		conn, err := net.Dial("tcp", p.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		idle = append(idle, conn)
	}
	c := &http.Client{Timeout: 10 * time.Second}
	if r := do(t, c, "GET", "http://"+p.addr+"/health", "", nil); r.status != 200 {
		t.Fatalf("health with 60 idle connections open = %d", r.status)
	}
	open := 0
	for _, conn := range idle {
		_ = conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if _, err := conn.Read(make([]byte, 1)); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				open++
			}
		}
	}
	if open > 20 {
		t.Fatalf("%d idle connections still open, want at most 20", open)
	}
}

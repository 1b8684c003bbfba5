// Package cachekitdtest runs the real cachekitd binary for tests: a private
// instance per test, over TLS with HTTP/2 on a loopback port, with a
// certificate from a CA made in the test.
//
// The binary is the one scripts/services/cachekitd.sh builds and exports as
// CACHEKIT_TEST_CACHEKITD_BIN. When the variable is missing the test is
// skipped locally and FAILS under CI=true (testenv.Require).
//
// # Decisions
//
// The certificate is for api.cachekit.io (Host), a name on the cachekitio
// allowlist, plus localhost and 127.0.0.1. A client built with URL(),
// RootCAs() and Resolver() therefore keeps every host-name SSRF rule of
// cachekitio on (https, the allowlist, certificate verification); the only
// rule it must relax is the private-network opt-in that lets the resolved
// 127.0.0.1 through. Clients that cannot take a resolver (configuration from
// the environment) use IPURL() with the custom-host opt-in and CAFile().
//
// The package does not import backend/cachekitio, so that package's own
// tests can use it without an import cycle; Resolver satisfies
// cachekitio.Resolver by its method set.
//
// Each Start launches its own process (no sharing between tests: a test may
// restart, rate-limit or stop its server). The process gets no CACHEKITD_*
// variable from the test's environment except the API keys, so a developer's
// shell cannot change what a test runs against. It is stopped when the test
// ends and, on Linux, killed by the kernel if the test binary dies first.
// Its log is printed when the test fails.
package cachekitdtest

import (
	"crypto/x509"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/internal/testenv"
)

// Names of the defaults Start uses.
const (
	// EnvBinary names the variable holding the path of the cachekitd binary.
	EnvBinary = "CACHEKIT_TEST_CACHEKITD_BIN"
	// Host is the name the server certificate is issued for and URL uses:
	// on the cachekitio allowlist, so host-name rules stay on.
	Host = "api.cachekit.io"
	// Tenant and APIKey are the one key a Daemon accepts when Config.Keys
	// is empty. Tests search outputs for APIKey to prove it never leaks.
	Tenant = "gotest"
	APIKey = "ck_test_G7xQ2mV9pL4sR8tK1wZ5"
	// StartTimeout bounds how long Start waits for the address file.
	StartTimeout = 15 * time.Second
)

// Key is one tenant's API key.
type Key struct {
	Tenant, Secret string
}

// Config says how to run cachekitd. The zero value runs it with a fresh PKI
// for Host, localhost and 127.0.0.1, the key APIKey and the binary's defaults
// (memory store, 1 h default TTL).
type Config struct {
	// PKI supplies the server certificate; nil makes a new one.
	PKI *PKI
	// Keys are the accepted API keys; the first is Daemon.APIKey. Empty
	// means {Tenant, APIKey}.
	Keys []Key
	// Flags are passed after the harness's own (--addr, --addr-file,
	// --tls-cert, --tls-key, --log-level warn, --log-format text,
	// --metrics-addr off), so they can override the last four.
	Flags []string
}

// Daemon is one cachekitd process started by a test.
type Daemon struct {
	t    testing.TB
	bin  string
	args []string
	env  []string
	dir  string
	pki  *PKI
	key  string
	addr string // 127.0.0.1:port, kept across restarts
	cmd  *exec.Cmd
	done chan struct{}
}

// Start runs cachekitd as cfg says on 127.0.0.1 with a free port and waits
// until it serves. The process is stopped when t ends.
func Start(t testing.TB, cfg Config) *Daemon {
	t.Helper()
	bin := testenv.Require(t, EnvBinary)
	if cfg.PKI == nil {
		cfg.PKI = NewPKI(t, Host, "localhost", "127.0.0.1")
	}
	if len(cfg.Keys) == 0 {
		cfg.Keys = []Key{{Tenant, APIKey}}
	}
	keys := make([]string, len(cfg.Keys))
	for i, k := range cfg.Keys {
		keys[i] = k.Tenant + "=" + k.Secret
	}
	dir := t.TempDir()
	cert, key := cfg.PKI.WriteFiles(t, dir)
	d := &Daemon{t: t, bin: bin, dir: dir, pki: cfg.PKI, key: cfg.Keys[0].Secret, addr: "127.0.0.1:0"}
	d.args = append([]string{"--tls-cert", cert, "--tls-key", key,
		"--log-level", "warn", "--log-format", "text", "--metrics-addr", "off"}, cfg.Flags...)
	// The keys travel in the environment, not on the command line (ps).
	d.env = append(cleanEnv(), "CACHEKITD_API_KEYS="+strings.Join(keys, ","))
	d.start()
	t.Cleanup(func() {
		d.Stop()
		if t.Failed() {
			t.Logf("cachekitd log:\n%s", d.Log())
		}
	})
	return d
}

// cleanEnv is the test's environment without CACHEKITD_* variables.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CACHEKITD_") {
			env = append(env, kv)
		}
	}
	return env
}

func (d *Daemon) logPath() string { return filepath.Join(d.dir, "cachekitd.log") }

func (d *Daemon) start() {
	t := d.t
	t.Helper()
	addrFile := filepath.Join(d.dir, "addr")
	_ = os.Remove(addrFile)
	cmd := exec.Command(d.bin, append([]string{"--addr", d.addr, "--addr-file", addrFile}, d.args...)...)
	cmd.Env = d.env
	logFile, err := os.OpenFile(d.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("starting cachekitd: %v", err)
	}
	d.cmd, d.done = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); logFile.Close(); close(d.done) }()
	deadline := time.NewTimer(StartTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if b, err := os.ReadFile(addrFile); err == nil && validAddr(string(b)) {
			d.addr = strings.TrimSpace(string(b))
			return
		}
		select {
		case <-d.done:
			t.Fatalf("cachekitd exited at start:\n%s", d.Log())
		case <-deadline.C:
			d.Stop()
			t.Fatalf("cachekitd did not write its address within %v:\n%s", StartTimeout, d.Log())
		case <-tick.C:
		}
	}
}

// validAddr reports whether s is an IP:port with a non-zero port
// (cachekitd writes the file atomically; this guards against anything else).
func validAddr(s string) bool {
	ap, err := netip.ParseAddrPort(strings.TrimSpace(s))
	return err == nil && ap.Port() != 0
}

// Stop kills the process (only the one this Daemon started) and waits for
// it. Stopping a stopped Daemon does nothing.
func (d *Daemon) Stop() {
	if d.cmd == nil || d.cmd.Process == nil {
		return
	}
	select {
	case <-d.done:
		return
	default:
	}
	_ = d.cmd.Process.Kill()
	<-d.done
}

// Restart starts the process again on the same address (after Stop, or
// after it died). The memory store starts empty.
func (d *Daemon) Restart() {
	d.t.Helper()
	d.Stop()
	d.start()
}

// Addr is the listening address, 127.0.0.1:port.
func (d *Daemon) Addr() string { return d.addr }

// Port is the listening port.
func (d *Daemon) Port() int {
	_, p, _ := net.SplitHostPort(d.addr)
	n, _ := strconv.Atoi(p)
	return n
}

// URL is https://api.cachekit.io:port, for clients that use Resolver.
func (d *Daemon) URL() string { return URLFor(d.Port()) }

// URLFor is https://api.cachekit.io:port, for a port in front of a Daemon
// (a proxy).
func URLFor(port int) string { return "https://" + net.JoinHostPort(Host, strconv.Itoa(port)) }

// IPURL is https://127.0.0.1:port, for clients configured without a
// resolver (they need the custom-host and private-network opt-ins).
func (d *Daemon) IPURL() string { return "https://" + d.addr }

// APIKey is the first configured key.
func (d *Daemon) APIKey() string { return d.key }

// PKI is the certificate authority the server certificate comes from.
func (d *Daemon) PKI() *PKI { return d.pki }

// RootCAs holds the CA that signed the server certificate.
func (d *Daemon) RootCAs() *x509.CertPool { return d.pki.Pool }

// CAFile is the path of the CA certificate in PEM, written on first use.
func (d *Daemon) CAFile() string {
	path := filepath.Join(d.dir, "ca.pem")
	if _, err := os.Stat(path); err != nil {
		d.pki.WriteCA(d.t, path)
	}
	return path
}

// Resolver maps Host to 127.0.0.1.
func (d *Daemon) Resolver() Resolver { return LoopbackResolver(Host) }

// Log returns what the process wrote so far.
func (d *Daemon) Log() string {
	b, _ := os.ReadFile(d.logPath())
	return string(b)
}

package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cachekit-go/cachekit/cachekitd/server"
	"github.com/cachekit-go/cachekit/cachekitd/store"
)

func newLogger(c *config, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.logLevel))
	o := &slog.HandlerOptions{Level: lvl}
	if c.logFormat == "text" {
		return slog.New(slog.NewTextHandler(w, o))
	}
	return slog.New(slog.NewJSONHandler(w, o))
}

// openStore opens the configured store. tenants is the number of tenants,
// for the fair share of --tenant-max-bytes (the memory store's capacity
// divided among them; the Redis store has no capacity of its own to divide,
// so "fair" means unlimited there: bound Redis with maxmemory).
func openStore(ctx context.Context, c *config, tenants int) (store.Store, error) {
	lim := store.Limits{MaxEntries: c.tenantMaxEntries, MaxBytes: int64(c.tenantMaxBytes)}
	if c.tenantMaxBytes == fairShare {
		lim.MaxBytes = 0
		if c.storeKind != "redis" && tenants > 1 {
			lim.MaxBytes = int64(c.memoryMaxBytes) / int64(tenants)
		}
	}
	if c.storeKind == "redis" {
		o := store.RedisOptions{
			Addrs:    strings.Split(c.redisAddrs, ","),
			Username: c.redisUsername,
			Password: c.redisPassword,
			DB:       c.redisDB,
			Prefix:   c.redisPrefix,
			Tenant:   lim,
			Timeout:  c.redisTimeout,
		}
		if c.redisTLS {
			o.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		return store.NewRedis(ctx, o)
	}
	return store.NewMemory(store.MemoryOptions{MaxBytes: int64(c.memoryMaxBytes), Tenant: lim, MaxLocksPerTenant: c.maxLocksPerTenant}), nil
}

// loadKeys builds the keyring; with --dev it also returns the dev tenant's
// key (empty when keys are configured), for the printed settings.
func loadKeys(c *config, stderr io.Writer) (*server.Keyring, string, error) {
	k := server.NewKeyring()
	if c.apiKeysFile != "" {
		f, err := os.Open(c.apiKeysFile)
		if err != nil {
			return nil, "", fmt.Errorf("API keys file: %w", err)
		}
		err = k.LoadKeysFile(f)
		f.Close()
		if err != nil {
			return nil, "", err
		}
	}
	unusual, err := k.LoadKeysList(c.apiKeys)
	if err != nil {
		return nil, "", err
	}
	for _, t := range unusual {
		fmt.Fprintf(stderr, "cachekitd: warning: an API key of tenant %q does not start with %s (accepted; check it is the key you meant)\n", t, server.CommonKeyPrefix)
	}
	devKey := ""
	if c.dev && (k.Len() == 0 || c.devAPIKey != "") {
		key := c.devAPIKey
		if key == "" {
			key = server.TestKeyPrefix + strings.ToLower(rand.Text())
		}
		if err := k.Add("dev", key, 0); err != nil {
			return nil, "", err
		}
		devKey = key
		fmt.Fprintf(stderr, "cachekitd --dev: tenant \"dev\", API key %s\n", key)
	}
	if k.Len() == 0 {
		return nil, "", errors.New("no API keys configured: use --api-keys-file, CACHEKITD_API_KEYS or --dev")
	}
	return k, devKey, nil
}

// devCertificate returns the --dev certificate for localhost, the loopback
// addresses and hostname, reusing the one in dir while it is valid for
// another day, names hostname and carries name constraints (older dev
// certificates do not). The directory must be the user's own and not
// writable by others: whoever can write the key pair there can serve as
// these names to every client that trusts the certificate.
func devCertificate(dir, hostname string, stderr io.Writer) (tls.Certificate, string, error) {
	if dir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return tls.Certificate{}, "", fmt.Errorf("dev certificate: no user cache directory (%v): give --dev-cert-dir", err)
		}
		dir = filepath.Join(base, "cachekitd")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return tls.Certificate{}, "", fmt.Errorf("dev certificate directory: %w", err)
	}
	if err := privateDir(dir); err != nil {
		return tls.Certificate{}, "", err
	}
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	if hostname != "" {
		hosts = append(hosts, hostname)
	}
	certFile, keyFile := filepath.Join(dir, "dev-cert.pem"), filepath.Join(dir, "dev-key.pem")
	if cert, err := tls.LoadX509KeyPair(certFile, keyFile); err == nil && cert.Leaf != nil && time.Until(cert.Leaf.NotAfter) > 24*time.Hour &&
		cert.Leaf.PermittedDNSDomainsCritical && (hostname == "" || cert.Leaf.VerifyHostname(hostname) == nil) && privateFile(keyFile) == nil {
		return cert, certFile, nil
	}
	certPEM, keyPEM, err := server.SelfSignedCertificate(hosts, 90*24*time.Hour)
	if err != nil {
		return tls.Certificate{}, "", err
	}
	if err := writeNew(keyFile, keyPEM, 0o600); err != nil {
		return tls.Certificate{}, "", fmt.Errorf("dev certificate: %w", err)
	}
	if err := writeNew(certFile, certPEM, 0o644); err != nil {
		return tls.Certificate{}, "", fmt.Errorf("dev certificate: %w", err)
	}
	fmt.Fprintf(stderr, "cachekitd --dev: made a self-signed certificate for %s (90 days, name-constrained to these names)\n", strings.Join(hosts, ", "))
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	return cert, certFile, err
}

// writeNew replaces path with data through a fresh file of mode perm, so a
// file planted there earlier (or a symlink) is never written through.
func writeNew(path string, data []byte, perm os.FileMode) error {
	tmp := path + ".new"
	_ = os.Remove(tmp)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// validDevHostname: a DNS name (not an address) for --dev-hostname.
func validDevHostname(h string) bool {
	if h == "" || len(h) > 253 || net.ParseIP(h) != nil || strings.HasPrefix(h, ".") || strings.HasSuffix(h, ".") || strings.Contains(h, "..") {
		return false
	}
	for _, c := range h {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// printDev prints settings that work as pasted: for the Go SDK (loopback URL,
// which it admits with CACHEKIT_ALLOW_PRIVATE_NETWORKS) and for the Python
// SDK (which refuses localhost and addresses, so it gets the dev hostname).
func printDev(w io.Writer, scheme, bound, certFile, hostname, apiKey string) {
	_, port, _ := net.SplitHostPort(bound)
	host, _, _ := net.SplitHostPort(bound)
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	loop := scheme + "://" + net.JoinHostPort(host, port)
	fmt.Fprintf(w, "cachekitd --dev: serving %s (store: memory)\n", loop)
	key := "$CACHEKIT_API_KEY"
	if apiKey != "" {
		key = apiKey
	}
	if certFile == "" {
		fmt.Fprintf(w, "  export CACHEKIT_API_KEY=%s CACHEKIT_API_URL=%s CACHEKIT_ALLOW_CUSTOM_HOST=true CACHEKIT_ALLOW_PRIVATE_NETWORKS=true\n", key, loop)
		return
	}
	fmt.Fprintf(w, "  try it:\n    curl --cacert %s -H \"Authorization: Bearer %s\" %s/v1/cache/health\n", certFile, key, loop)
	fmt.Fprintf(w, "  Go SDK (cachekitio.NewFromEnv):\n    export CACHEKIT_API_KEY=%s CACHEKIT_API_URL=%s CACHEKIT_ALLOW_CUSTOM_HOST=true CACHEKIT_ALLOW_PRIVATE_NETWORKS=true CACHEKIT_CA_FILE=%s\n", key, loop, certFile)
	if hostname == "" {
		fmt.Fprintf(w, "  Python SDK: it refuses localhost and IP addresses; restart with --dev-hostname NAME\n")
		return
	}
	fmt.Fprintf(w, "  Python SDK (needs a hostname, not localhost or an address):\n")
	if !resolvesToLoopback(hostname) {
		fmt.Fprintf(w, "    echo '127.0.0.1 %s' | sudo tee -a /etc/hosts   # once: %s does not resolve to this machine yet\n", hostname, hostname)
	}
	named := scheme + "://" + net.JoinHostPort(hostname, port)
	fmt.Fprintf(w, "    export CACHEKIT_API_KEY=%s CACHEKIT_API_URL=%s CACHEKIT_ALLOW_CUSTOM_HOST=true SSL_CERT_FILE=%s REQUESTS_CA_BUNDLE=%s\n", key, named, certFile, certFile)
}

func resolvesToLoopback(host string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupHost(ctx, host)
	if err != nil || len(addrs) == 0 {
		return false
	}
	for _, a := range addrs {
		if ip := net.ParseIP(a); ip == nil || !ip.IsLoopback() {
			return false
		}
	}
	return true
}

func writeAddrFile(path, addr string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(addr+"\n"), 0o644); err != nil {
		return fmt.Errorf("--addr-file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("--addr-file: %w", err)
	}
	return nil
}

func serve(ctx context.Context, c *config, stdout, stderr io.Writer) error {
	log := newLogger(c, stderr)
	keys, devKey, err := loadKeys(c, stderr)
	if err != nil {
		return err
	}

	var tlsConf *tls.Config
	devCertFile := ""
	switch {
	case c.tlsCert != "":
		cert, err := tls.LoadX509KeyPair(c.tlsCert, c.tlsKey)
		if err != nil {
			return fmt.Errorf("TLS certificate: %w", err)
		}
		tlsConf = server.TLSConfig(cert)
	case c.dev:
		cert, file, err := devCertificate(c.devCertDir, c.devHostname, stderr)
		if err != nil {
			return err
		}
		tlsConf, devCertFile = server.TLSConfig(cert), file
	}
	addr := c.addr
	if addr == "" {
		addr = "127.0.0.1:8080"
		if tlsConf != nil {
			addr = "127.0.0.1:8443"
		}
	}

	st, err := openStore(ctx, c, keys.Tenants())
	if err != nil {
		return err
	}
	defer st.Close()

	srvCfg := server.Config{
		Store:              st,
		Keys:               keys,
		DefaultTTL:         c.serverDefaultTTL(),
		MaxValueBytes:      int64(c.maxValueBytes),
		CreatedStatus:      c.createdStatus,
		DefaultLockTimeout: c.lockDefaultTimeout,
		MaxLockTimeout:     c.lockMaxTimeout,
		RateLimit:          c.rateLimit,
		RateBurst:          c.rateBurst,
		ServeMetrics:       c.metricsAddr == "api",
		DisableRelay:       !c.redisRelay,
		Logger:             log,
	}
	h, err := server.New(srvCfg)
	if err != nil {
		return err
	}
	defer h.Close() // after Shutdown (writes still running get relayed), before st.Close
	httpOpts := server.HTTPOptions{
		ReadHeaderTimeout: c.readHeaderTimeout,
		ReadTimeout:       c.readTimeout,
		WriteTimeout:      c.writeTimeout,
		IdleTimeout:       c.idleTimeout,
		MaxHeaderBytes:    int(c.maxHeaderBytes),
		TLS:               tlsConf,
		H2C:               c.h2c,
		Logger:            log,
		MaxConns:          c.maxConns,
	}
	srv := server.NewHTTPServer(h, httpOpts)

	rawLn, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	ln := server.GuardListener(rawLn, httpOpts)
	var metricsSrv *http.Server
	if c.metricsAddr != "" && c.metricsAddr != "off" && c.metricsAddr != "api" {
		mln, err := net.Listen("tcp", c.metricsAddr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("metrics listen: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", h.Metrics().Handler())
		metricsSrv = server.NewHTTPServer(mux, server.HTTPOptions{Logger: log})
		go func() { _ = metricsSrv.Serve(mln) }()
		log.Info("metrics listening", "addr", mln.Addr().String())
	}

	scheme, proto := "http", "HTTP/1.1"
	if tlsConf != nil {
		scheme, proto = "https", "HTTP/2 and HTTP/1.1 over TLS"
	} else if c.h2c {
		proto = "HTTP/1.1 and h2c"
	} else {
		log.Warn("serving cleartext HTTP: use TLS (--tls-cert/--tls-key) or a TLS-terminating proxy")
	}
	bound := ln.Addr().String()
	log.Info("listening", "addr", bound, "url", scheme+"://"+bound, "protocols", proto, "store", st.Name(), "tenants_keys", keys.Len(), "version", version)
	if c.dev {
		w := bufio.NewWriter(stderr)
		printDev(w, scheme, bound, devCertFile, c.devHostname, devKey)
		_ = w.Flush()
	}

	errc := make(chan error, 1)
	go func() {
		if tlsConf != nil {
			errc <- srv.ServeTLS(ln, "", "")
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	if c.addrFile != "" {
		if err := writeAddrFile(c.addrFile, bound); err != nil {
			srv.Close()
			return err
		}
	}

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: draining in-flight requests", "timeout", c.shutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), c.shutdownTimeout)
	defer cancel()
	if metricsSrv != nil {
		_ = metricsSrv.Shutdown(sctx)
	}
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

// hashKey prints the keys-file digest of an API key, read from the argument
// or (so it stays out of shell history) the first line of stdin.
func hashKey(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var key string
	switch len(args) {
	case 0:
		line, err := bufio.NewReader(io.LimitReader(stdin, server.MaxAPIKeyLen+2)).ReadString('\n')
		if err != nil && err != io.EOF {
			fmt.Fprintln(stderr, "cachekitd hash-key: reading stdin:", err)
			return 1
		}
		key = strings.TrimSpace(line)
	case 1:
		key = args[0]
	default:
		fmt.Fprintln(stderr, "usage: cachekitd hash-key [KEY]   (KEY on stdin when omitted)")
		return 2
	}
	if !server.ValidAPIKey(key) {
		fmt.Fprintf(stderr, "cachekitd hash-key: not an API key: want %d..%d characters of [A-Za-z0-9._~+/-] (then optional '=')\n", server.MinAPIKeyLen, server.MaxAPIKeyLen)
		return 1
	}
	if !server.UsualAPIKey(key) {
		fmt.Fprintf(stderr, "cachekitd hash-key: warning: the key does not start with %s (accepted)\n", server.CommonKeyPrefix)
	}
	fmt.Fprintln(stdout, server.HashKey(key))
	return 0
}

// genKey makes a random API key and prints it with its keys-file line.
func genKey(args []string, stdout, stderr io.Writer) int {
	prefix := server.LiveKeyPrefix
	if len(args) > 0 && (args[0] == "--test" || args[0] == "-test") {
		prefix, args = server.TestKeyPrefix, args[1:]
	}
	if len(args) != 1 || !server.ValidTenantID(args[0]) {
		fmt.Fprintln(stderr, "usage: cachekitd gen-key [--test] TENANT   (TENANT: 1..64 of [A-Za-z0-9_-])")
		return 2
	}
	key := prefix + strings.ToLower(rand.Text()+rand.Text())
	fmt.Fprintf(stdout, "api key (give it to the client, store it nowhere else): %s\nkeys-file line: %s %s\n", key, args[0], server.HashKey(key))
	return 0
}

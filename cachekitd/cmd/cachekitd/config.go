package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/cachekit-go/cachekit/cachekitd/server"
	"github.com/cachekit-go/cachekit/cachekitd/store"
)

// version is the server's version, reported by `cachekitd version` and the
// build_info metric.
const version = "0.1.0"

// envPrefix turns --some-flag into CACHEKITD_SOME_FLAG.
const envPrefix = "CACHEKITD_"

var errHelp = errors.New("help requested")

type config struct {
	addr, addrFile string
	dev            bool
	devCertDir     string
	devAPIKey      string
	devHostname    string
	tlsCert        string
	tlsKey         string
	h2c            bool

	apiKeys     string
	apiKeysFile string

	storeKind      string
	memoryMaxBytes byteSize
	redisAddrs     string
	redisUsername  string
	redisPassword  string
	redisDB        int
	redisTLS       bool
	redisPrefix    string
	redisTimeout   time.Duration
	redisRelay     bool

	defaultTTL         time.Duration
	maxValueBytes      byteSize
	createdStatus      int
	tenantMaxEntries   int64
	tenantMaxBytes     tenantBytes
	maxLocksPerTenant  int
	lockDefaultTimeout time.Duration
	lockMaxTimeout     time.Duration
	rateLimit          float64
	rateBurst          int

	readHeaderTimeout time.Duration
	readTimeout       time.Duration
	writeTimeout      time.Duration
	idleTimeout       time.Duration
	maxHeaderBytes    byteSize
	maxConns          int
	shutdownTimeout   time.Duration

	metricsAddr string
	logLevel    string
	logFormat   string
}

// byteSize is a flag.Value for sizes: a number of bytes with an optional
// KiB, MiB or GiB (or KB, MB, GB, also powers of 1024) suffix.
type byteSize int64

func (b *byteSize) String() string { return strconv.FormatInt(int64(*b), 10) }

func (b *byteSize) Set(s string) error {
	s = strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1 << 10}, {"MB", 1 << 20}, {"GB", 1 << 30}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}} {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(v), u.m
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return errors.New("want a size such as 1048576, 512KiB, 256MiB or 2GiB")
	}
	*b = byteSize(n * mult)
	return nil
}

// tenantBytes is --tenant-max-bytes: a size, or "fair".
type tenantBytes int64

// fairShare is the "fair" value of --tenant-max-bytes.
const fairShare tenantBytes = -1

func (b *tenantBytes) String() string {
	if *b == fairShare {
		return "fair"
	}
	return strconv.FormatInt(int64(*b), 10)
}

func (b *tenantBytes) Set(s string) error {
	if strings.TrimSpace(s) == "fair" {
		*b = fairShare
		return nil
	}
	var v byteSize
	if err := v.Set(s); err != nil {
		return errors.New(`want "fair" or a size such as 0 (unlimited), 512KiB, 256MiB or 2GiB`)
	}
	*b = tenantBytes(v)
	return nil
}

// flags defines every option on fs and returns the config they fill.
func flags(fs *flag.FlagSet) *config {
	c := &config{}
	fs.StringVar(&c.addr, "addr", "", "listen address `host:port`; port 0 picks a free port (default 127.0.0.1:8443 with TLS, 127.0.0.1:8080 without)")
	fs.StringVar(&c.addrFile, "addr-file", "", "write the address actually listened on to this `file` once serving (for tests and supervisors)")
	fs.BoolVar(&c.dev, "dev", false, "development mode: memory store, a self-signed certificate unless --tls-cert is given, and a dev tenant with a printed ck_test_ key unless keys are configured")
	fs.StringVar(&c.devCertDir, "dev-cert-dir", "", "`directory` for the --dev certificate (default: the user cache directory /cachekitd)")
	fs.StringVar(&c.devAPIKey, "dev-api-key", "", "with --dev: use this ck_test_ `key` for the dev tenant instead of a random one")
	fs.StringVar(&c.devHostname, "dev-hostname", "cachekitd.test", "with --dev: a DNS `name` for this machine, added to the dev certificate, for clients that refuse localhost and IP addresses (the Python SDK); empty: none")
	fs.StringVar(&c.tlsCert, "tls-cert", "", "TLS certificate chain `file` (PEM); with --tls-key serves HTTPS with HTTP/2")
	fs.StringVar(&c.tlsKey, "tls-key", "", "TLS private key `file` (PEM)")
	fs.BoolVar(&c.h2c, "h2c", false, "without TLS, also accept cleartext HTTP/2 (prior knowledge), for a TLS-terminating proxy")

	fs.StringVar(&c.apiKeys, "api-keys", "", "API keys as `tenant=ck_...,tenant2=ck_...`; hashed at start and never logged (prefer the environment variable: flags show in ps)")
	fs.StringVar(&c.apiKeysFile, "api-keys-file", "", "keys `file`: lines `tenant sha256hex [default_ttl=SECONDS]` (see `cachekitd hash-key`)")

	fs.StringVar(&c.storeKind, "store", "memory", "storage `kind`: memory (embedded) or redis (Redis/Valkey, standalone or Cluster)")
	c.memoryMaxBytes = store.DefaultMemoryMaxBytes
	fs.Var(&c.memoryMaxBytes, "memory-max-bytes", "memory store capacity over all tenants (`size`, e.g. 256MiB)")
	fs.StringVar(&c.redisAddrs, "redis-addrs", "", "Redis/Valkey `host:port` list, comma separated; a Cluster is detected by itself")
	fs.StringVar(&c.redisUsername, "redis-username", "", "Redis ACL `user`")
	fs.StringVar(&c.redisPassword, "redis-password", "", "Redis `password` (prefer the environment variable)")
	fs.IntVar(&c.redisDB, "redis-db", 0, "Redis database `number` (standalone only)")
	fs.DurationVar(&c.redisTimeout, "redis-timeout", store.DefaultRedisTimeout, "deadline of one store operation on Redis, and of connecting; 503 beyond (`duration`; keep it well below clients' request timeout, 5s in the SDKs)")
	fs.BoolVar(&c.redisTLS, "redis-tls", false, "connect to Redis over TLS (system roots)")
	fs.StringVar(&c.redisPrefix, "redis-prefix", store.DefaultRedisPrefix, "`prefix` of every Redis key cachekitd writes")
	fs.BoolVar(&c.redisRelay, "redis-relay", true, "relay invalidation events between the replicas sharing the Redis (Pub/Sub channel <prefix>:relay), so every replica's streams carry every write; false only for a single replica")

	fs.DurationVar(&c.defaultTTL, "default-ttl", server.DefaultTTL, "TTL of PUTs without a TTL header, unless the tenant's keys-file line sets default_ttl (`duration`, whole seconds up to 720h; 0 = no expiry, what SDKs mean by ttl 0)")
	c.maxValueBytes = server.DefaultMaxValueBytes
	fs.Var(&c.maxValueBytes, "max-value-bytes", "largest value a PUT may store, 413 beyond (`size`)")
	fs.IntVar(&c.createdStatus, "created-status", 200, "status of a PUT that creates an entry: 200 (the managed service's answer) or 201 (`code`; a replacing PUT always answers 200)")
	fs.Int64Var(&c.tenantMaxEntries, "tenant-max-entries", 0, "entries per tenant before its own entries are evicted (`n`, 0 = unlimited)")
	c.tenantMaxBytes = fairShare
	fs.Var(&c.tenantMaxBytes, "tenant-max-bytes", "bytes per tenant (entries and locks) before its own entries are evicted (`size`; \"fair\": the memory store's capacity divided by the number of tenants, so no tenant's writes evict another's entries; 0 = unlimited)")
	fs.IntVar(&c.maxLocksPerTenant, "max-locks-per-tenant", store.DefaultMaxLocksPerTenant, "live locks per tenant in the memory store, 429 beyond (`n`)")
	fs.DurationVar(&c.lockDefaultTimeout, "lock-default-timeout", server.DefaultLockTimeout, "lease of a lock request without timeout_ms (`duration`)")
	fs.DurationVar(&c.lockMaxTimeout, "lock-max-timeout", server.DefaultMaxLockTimeout, "longest lease a lock request may ask for (`duration`)")
	fs.Float64Var(&c.rateLimit, "rate-limit", 0, "requests per second per (tenant, key) in this process, 429 with Retry-After beyond (`rate`, 0 = off)")
	fs.IntVar(&c.rateBurst, "rate-burst", 0, "token bucket size of the rate limit (`n`, 0 = the rate rounded up)")

	fs.DurationVar(&c.readHeaderTimeout, "read-header-timeout", server.DefaultReadHeaderTimeout, "time a client has to send its request headers (`duration`)")
	fs.DurationVar(&c.readTimeout, "read-timeout", server.DefaultReadTimeout, "time a client has to send a whole request, body included (`duration`)")
	fs.DurationVar(&c.writeTimeout, "write-timeout", server.DefaultWriteTimeout, "time to handle a request and write the response (`duration`)")
	fs.DurationVar(&c.idleTimeout, "idle-timeout", server.DefaultIdleTimeout, "how long an idle keep-alive connection stays open (`duration`)")
	c.maxHeaderBytes = server.DefaultMaxHeaderBytes
	fs.Var(&c.maxHeaderBytes, "max-header-bytes", "largest request header block, 431 beyond (`size`)")
	fs.IntVar(&c.maxConns, "max-conns", server.DefaultMaxConns, "open connections at most; at the cap a new connection replaces an idle one or is refused (`n`)")
	fs.DurationVar(&c.shutdownTimeout, "shutdown-timeout", 30*time.Second, "on SIGTERM/SIGINT, how long in-flight requests may take to finish (`duration`)")

	fs.StringVar(&c.metricsAddr, "metrics-addr", "", "serve /metrics (unauthenticated) on this separate `host:port`, e.g. 127.0.0.1:9090; empty or \"off\": no metrics; \"api\": on the API listener (anyone who reaches the API port reads them)")
	fs.StringVar(&c.logLevel, "log-level", "info", "log `level`: debug (adds one line per request), info, warn, error")
	fs.StringVar(&c.logFormat, "log-format", "json", "log `format`: json or text")
	return c
}

// envName is the environment variable of a flag.
func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func usage(fs *flag.FlagSet, w io.Writer) {
	fmt.Fprintf(w, `cachekitd %s: a self-hosted CacheKit HTTP API server.

Usage:
  cachekitd [flags]               serve
  cachekitd hash-key [KEY]        print the SHA-256 of an API key (read from stdin without KEY)
  cachekitd gen-key [--test] TENANT
                                  make a random API key and print it with its keys-file line
  cachekitd version

Every flag can be set by an environment variable instead (the flag wins).

Flags:
`, version)
	fs.VisitAll(func(f *flag.Flag) {
		name, use := flag.UnquoteUsage(f)
		fmt.Fprintf(w, "  --%s", f.Name)
		if name != "" {
			fmt.Fprintf(w, " %s", name)
		}
		fmt.Fprintf(w, "\n        env %s", envName(f.Name))
		if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "false" && f.DefValue != "0s" {
			fmt.Fprintf(w, "; default %s", f.DefValue)
		}
		fmt.Fprintf(w, "\n        %s\n", use)
	})
}

// parseConfig reads flags, then the environment for every flag not given.
func parseConfig(args []string, stderr io.Writer, getenv func(string) string) (*config, error) {
	fs := flag.NewFlagSet("cachekitd", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c := flags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage(fs, stderr)
			return nil, errHelp
		}
		return nil, fmt.Errorf("%w (see --help)", err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (see --help)", fs.Arg(0))
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil || given[f.Name] {
			return
		}
		if v := getenv(envName(f.Name)); v != "" {
			if e := fs.Set(f.Name, v); e != nil {
				// The value may be a secret: name the variable only.
				err = fmt.Errorf("environment variable %s: invalid value", envName(f.Name))
			}
		}
	})
	if err != nil {
		return nil, err
	}
	return c, c.check()
}

func (c *config) check() error {
	switch c.storeKind {
	case "memory":
	case "redis":
		if c.redisAddrs == "" {
			return errors.New("--store redis needs --redis-addrs")
		}
		if c.dev {
			return errors.New("--dev uses the memory store; drop --dev to run on Redis")
		}
	default:
		return fmt.Errorf("--store must be memory or redis, not %q", c.storeKind)
	}
	if (c.tlsCert == "") != (c.tlsKey == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	if c.devAPIKey != "" && !server.ValidAPIKey(c.devAPIKey) {
		return errors.New("--dev-api-key must be 20..256 characters of [A-Za-z0-9._~+/-] (ck_test_... by convention)")
	}
	if c.devHostname != "" && !validDevHostname(c.devHostname) {
		return errors.New("--dev-hostname must be a DNS name (letters, digits, '-' and '.'), not an address")
	}
	switch c.logLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("--log-level must be debug, info, warn or error")
	}
	if c.logFormat != "json" && c.logFormat != "text" {
		return fmt.Errorf("--log-format must be json or text")
	}
	if c.readHeaderTimeout <= 0 || c.readTimeout <= 0 || c.writeTimeout <= 0 || c.idleTimeout <= 0 || c.shutdownTimeout <= 0 {
		return errors.New("timeouts must be positive")
	}
	if c.maxHeaderBytes < 1024 || c.maxHeaderBytes > 1<<20 {
		return errors.New("--max-header-bytes must be between 1KiB and 1MiB")
	}
	if c.redisTimeout <= 0 {
		return errors.New("--redis-timeout must be positive")
	}
	if c.maxConns < 1 {
		return errors.New("--max-conns must be positive")
	}
	if c.createdStatus != 200 && c.createdStatus != 201 {
		return errors.New("--created-status must be 200 or 201")
	}
	if c.maxValueBytes < 1 {
		return errors.New("--max-value-bytes must be positive")
	}
	if c.defaultTTL != 0 && (c.defaultTTL < time.Second || c.defaultTTL > server.MaxTTL || c.defaultTTL%time.Second != 0) {
		return errors.New("--default-ttl must be 0 (no expiry) or whole seconds from 1s to 720h")
	}
	return nil
}

// serverDefaultTTL is --default-ttl for server.Config: 0 means no expiry.
func (c *config) serverDefaultTTL() time.Duration {
	if c.defaultTTL == 0 {
		return server.NoExpiry
	}
	return c.defaultTTL
}

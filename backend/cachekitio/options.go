package cachekitio

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/cachekit-go/cachekit/backend"
	"github.com/cachekit-go/cachekit/secret"
)

// Defaults of Options. Every zero field of Options takes the matching default.
const (
	// DefaultURL is the CacheKit API endpoint used when Options.URL is empty.
	DefaultURL = "https://api.cachekit.io"
	// DefaultTimeout bounds one operation, retries included.
	DefaultTimeout = 5 * time.Second
	// DefaultMaxRetries is how many times a transient failure is retried
	// (so at most DefaultMaxRetries+1 attempts).
	DefaultMaxRetries = 3
	// DefaultPoolSize is the maximum number of connections to the API host.
	DefaultPoolSize = 10
)

// Retry pacing. Backoff before retry n (0-based) is a uniformly random
// duration in [0, min(RetryMaxDelay, RetryBaseDelay*2^n)] ("full jitter"),
// raised to the server's Retry-After when it asks for more.
const (
	RetryBaseDelay = 50 * time.Millisecond
	RetryMaxDelay  = 2 * time.Second
)

// Environment variables read by FromEnv and OptionsFromEnv.
const (
	EnvAPIKey               = "CACHEKIT_API_KEY"
	EnvAPIURL               = "CACHEKIT_API_URL"
	EnvTimeout              = "CACHEKIT_TIMEOUT"
	EnvMaxRetries           = "CACHEKIT_MAX_RETRIES"
	EnvPoolSize             = "CACHEKIT_CONNECTION_POOL_SIZE"
	EnvAllowCustomHost      = "CACHEKIT_ALLOW_CUSTOM_HOST"
	EnvAllowPrivateNetworks = "CACHEKIT_ALLOW_PRIVATE_NETWORKS"
	// EnvCAFile names a PEM file of CA certificates that replace the
	// system roots (Options.RootCAs), for a self-hosted cachekitd with a
	// private CA. cachekit-go only.
	EnvCAFile = "CACHEKIT_CA_FILE"
)

// Secret holds the API key. It is secret.String, the redacting type every
// secret of cachekit-go uses: every way of printing it (fmt verbs, slog,
// encoding/json, encoding.TextMarshaler) yields "[redacted]", so an Options
// value can be logged or dumped without leaking the key.
type Secret = secret.String

const redacted = secret.Redacted

// Resolver looks up the addresses of a host name. *net.Resolver implements
// it. Whatever a Resolver returns is still checked against the address rules
// before it is dialled.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Stats is a snapshot of the calling cache's statistics, sent to the API as
// the optional metrics headers (backend.Stats: the Backend is a
// backend.StatsReporter).
type Stats = backend.Stats

var _ backend.StatsReporter = (*Backend)(nil)

// Options configures a Backend. The zero value of every field but APIKey
// selects its documented default.
type Options struct {
	// APIKey authenticates every request (Authorization: Bearer). Required.
	APIKey Secret
	// URL is the API base URL (DefaultURL when empty). It must be https,
	// without credentials, query or fragment; a path prefix is allowed for
	// servers behind a reverse proxy. Its host must be api.cachekit.io,
	// api.staging.cachekit.io or a subdomain of either, unless
	// AllowCustomHost is set.
	URL string
	// Timeout bounds each operation as a whole, retries and backoff
	// included (DefaultTimeout when zero). A deadline on the caller's context
	// that comes sooner wins.
	Timeout time.Duration
	// MaxRetries is how often a transient failure is retried. Zero selects
	// DefaultMaxRetries; use NoRetries to disable retries.
	MaxRetries int
	// PoolSize caps the connections to the API host (DefaultPoolSize when
	// zero). Over HTTP/2 one connection carries many concurrent requests.
	PoolSize int
	// AllowCustomHost lifts the host allowlist, for a self-hosted cachekitd.
	// The URL must still be https and the host must still not be a literal
	// loopback, private or otherwise internal address (see
	// AllowPrivateNetworks).
	AllowCustomHost bool
	// AllowPrivateNetworks lets the client connect to loopback (127.0.0.0/8,
	// ::1), private (10/8, 172.16/12, 192.168/16), shared CGNAT
	// (100.64.0.0/10) and unique local IPv6 (fc00::/7) addresses, whether they
	// are written in the URL or returned by DNS. It is meant for self-hosted
	// servers on an internal network. It relaxes nothing else: https, the host
	// allowlist (unless AllowCustomHost) and the ban on link-local (cloud
	// metadata), unspecified, multicast, broadcast, documentation and other
	// reserved addresses all stay in force.
	AllowPrivateNetworks bool
	// RootCAs, when set, replaces the system roots for verifying the server
	// certificate (a self-hosted server with a private CA; CACHEKIT_CA_FILE
	// in the environment). Verification can not be switched off.
	RootCAs *x509.CertPool
	// Resolver resolves the URL's host name (net.DefaultResolver when nil).
	// The addresses it returns pass the same checks as DNS answers.
	Resolver Resolver
	// Logger receives debug records about retries (slog.Default() when nil).
	// Records name the operation and the cache key, never values or the key.
	Logger *slog.Logger
	// Stats, when set, is called before each request to fill the optional
	// metrics headers (X-CacheKit-L1-Hits, -L2-Hits, -Misses, -L1-Hit-Rate,
	// -L1-Status). It can also be attached later with Backend.AttachStats.
	Stats func() Stats `json:"-"`
	// DisableMetricsHeaders stops sending the session and metrics headers.
	// X-CacheKit-L1-Status is still sent, because the API requires it for
	// ck_sdk_ keys.
	DisableMetricsHeaders bool
}

// NoRetries as Options.MaxRetries disables retries.
const NoRetries = -1

// ErrMissingAPIKey is returned by New and FromEnv when no API key is set.
var ErrMissingAPIKey = errors.New("cachekitio: API key missing: set " + EnvAPIKey + " or Options.APIKey")

// ErrInvalidOption is wrapped by every error about a malformed option or
// environment variable.
var ErrInvalidOption = errors.New("cachekitio: invalid option")

// FromEnv builds a Backend from the CACHEKIT_* environment variables, the way
// the other CacheKit SDKs read them. It fails with ErrMissingAPIKey when
// CACHEKIT_API_KEY is unset.
func FromEnv() (*Backend, error) {
	opts, err := OptionsFromEnv()
	if err != nil {
		return nil, err
	}
	return New(opts)
}

// OptionsFromEnv reads Options from the environment without building a
// Backend, so callers can adjust them first:
//
//	CACHEKIT_API_KEY                 required
//	CACHEKIT_API_URL                 default https://api.cachekit.io
//	CACHEKIT_TIMEOUT                 seconds ("5", "2.5") or a Go duration ("750ms"); default 5 s
//	CACHEKIT_MAX_RETRIES             default 3; 0 disables retries
//	CACHEKIT_CONNECTION_POOL_SIZE    default 10
//	CACHEKIT_ALLOW_CUSTOM_HOST       true/false, default false
//	CACHEKIT_ALLOW_PRIVATE_NETWORKS  true/false, default false (cachekit-go only)
//	CACHEKIT_CA_FILE                 PEM file of CA certificates replacing the system roots (cachekit-go only)
//
// Error messages name the variable, never its value.
func OptionsFromEnv() (Options, error) { return optionsFromLookup(os.LookupEnv) }

func optionsFromLookup(lookup func(string) (string, bool)) (Options, error) {
	get := func(name string) string {
		v, _ := lookup(name)
		return strings.TrimSpace(v)
	}
	var opts Options
	opts.APIKey = Secret(get(EnvAPIKey))
	if opts.APIKey == "" {
		return Options{}, ErrMissingAPIKey
	}
	opts.URL = get(EnvAPIURL)
	if v := get(EnvTimeout); v != "" {
		d, err := parseTimeout(v)
		if err != nil {
			return Options{}, envError(EnvTimeout, "want seconds (5, 2.5) or a duration (750ms) above zero")
		}
		opts.Timeout = d
	}
	if v := get(EnvMaxRetries); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 100 {
			return Options{}, envError(EnvMaxRetries, "want an integer from 0 to 100")
		}
		opts.MaxRetries = n
		if n == 0 {
			opts.MaxRetries = NoRetries
		}
	}
	if v := get(EnvPoolSize); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			return Options{}, envError(EnvPoolSize, "want an integer from 1 to 10000")
		}
		opts.PoolSize = n
	}
	var err error
	if opts.AllowCustomHost, err = parseBool(get(EnvAllowCustomHost)); err != nil {
		return Options{}, envError(EnvAllowCustomHost, "want true or false")
	}
	if opts.AllowPrivateNetworks, err = parseBool(get(EnvAllowPrivateNetworks)); err != nil {
		return Options{}, envError(EnvAllowPrivateNetworks, "want true or false")
	}
	if v := get(EnvCAFile); v != "" {
		if opts.RootCAs, err = loadCAFile(v); err != nil {
			return Options{}, fmt.Errorf("%w: %s: want a readable PEM file of CA certificates: %w", ErrInvalidOption, EnvCAFile, err)
		}
	}
	return opts, nil
}

func envError(name, want string) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalidOption, name, want)
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "", "0", "false", "no", "off":
		return false, nil
	case "1", "true", "yes", "on":
		return true, nil
	}
	return false, errors.New("not a boolean")
}

// parseTimeout accepts float seconds (the other SDKs' form) or a Go duration.
func parseTimeout(v string) (time.Duration, error) {
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		if math.IsNaN(f) || f <= 0 || f > 3600 {
			return 0, errors.New("out of range")
		}
		return time.Duration(f * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, err
	}
	if d <= 0 || d > time.Hour {
		return 0, errors.New("out of range")
	}
	return d, nil
}

// withDefaults validates opts and fills defaults.
func (o Options) withDefaults() (Options, error) {
	if o.APIKey == "" {
		return o, ErrMissingAPIKey
	}
	if strings.ContainsAny(string(o.APIKey), "\r\n\x00") {
		return o, fmt.Errorf("%w: APIKey contains control characters", ErrInvalidOption)
	}
	if o.URL == "" {
		o.URL = DefaultURL
	}
	switch {
	case o.Timeout == 0:
		o.Timeout = DefaultTimeout
	case o.Timeout < 0:
		return o, fmt.Errorf("%w: Timeout must not be negative", ErrInvalidOption)
	}
	switch {
	case o.MaxRetries == 0:
		o.MaxRetries = DefaultMaxRetries
	case o.MaxRetries == NoRetries:
		o.MaxRetries = 0
	case o.MaxRetries < 0:
		return o, fmt.Errorf("%w: MaxRetries must be NoRetries or positive", ErrInvalidOption)
	}
	switch {
	case o.PoolSize == 0:
		o.PoolSize = DefaultPoolSize
	case o.PoolSize < 0:
		return o, fmt.Errorf("%w: PoolSize must not be negative", ErrInvalidOption)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o, nil
}

package cachekit

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/cachekit-go/cachekit/backend"
	"github.com/cachekit-go/cachekit/backend/cachekitio"
	"github.com/cachekit-go/cachekit/backend/file"
	"github.com/cachekit-go/cachekit/backend/memcached"
	"github.com/cachekit-go/cachekit/backend/redis"
)

// Environment variables FromEnv reads.
const (
	EnvAPIKey           = "CACHEKIT_API_KEY"
	EnvRedisURL         = "CACHEKIT_REDIS_URL"
	EnvRedisURLFallback = "REDIS_URL"
	EnvMemcachedServers = "CACHEKIT_MEMCACHED_SERVERS"
	EnvFileCacheDir     = "CACHEKIT_FILE_CACHE_DIR"
	EnvDefaultTTL       = "CACHEKIT_DEFAULT_TTL"
	EnvMaxValueSize     = "CACHEKIT_MAX_VALUE_SIZE"
	EnvNamespace        = "CACHEKIT_NAMESPACE"
)

// FromEnv returns a Cache configured from the environment the way the other
// CacheKit SDKs read it, then by opts (which win over the environment).
//
// The backend, in this order of precedence:
//  1. an explicit WithBackend (or IO/Test preset) in opts: the environment's
//     backend variables are not consulted at all;
//  2. otherwise exactly one of CACHEKIT_API_KEY (the CacheKit API),
//     CACHEKIT_REDIS_URL or REDIS_URL (Redis; CACHEKIT_REDIS_URL wins when
//     both are set, they name the same backend), CACHEKIT_MEMCACHED_SERVERS,
//     CACHEKIT_FILE_CACHE_DIR. Two of them at once is a *ConfigError
//     (ErrConflictingBackends) naming both;
//  3. none: in-process only, exactly like New().
//
// Also read: CACHEKIT_DEFAULT_TTL (the TTL when neither a function nor
// WithTTL sets one; seconds such as "300" or "2.5", or a Go duration such as
// "5m"; must be positive), CACHEKIT_MAX_VALUE_SIZE (bytes, a positive integer)
// and CACHEKIT_NAMESPACE (the default namespace). Empty variables count as
// unset. A backend FromEnv creates is owned by the Cache and closed by Close.
//
// A Redis or memcached server that cannot be reached when FromEnv runs does
// not fail it: both connect lazily, their operations fail fast meanwhile,
// the circuit breaker opens and the cache serves in-process, then uses the
// backend as soon as it answers (docs/reliability.md). A bad URL, or
// credentials a reachable server refuses, are still errors.
//
// Encryption: when CACHEKIT_MASTER_KEY is set, values are encrypted (logged
// once, at Info level, when the cache is made) with that key and the
// decrypt-only keys of CACHEKIT_PREVIOUS_MASTER_KEYS, for the single tenant
// of CACHEKIT_DEPLOYMENT_UUID (see Encryption). An invalid key is a
// *ConfigError naming the variable, never the key. An explicit option wins:
// WithoutEncryption keeps values in clear despite the variable, and
// WithEncryption configures tenants and the failure policy (with the keys of
// the environment unless it gives its own).
func FromEnv(opts ...Option) (*Cache, error) {
	return fromEnv(os.LookupEnv, opts...)
}

type lookupFunc func(string) (string, bool)

func fromEnv(lookup lookupFunc, opts ...Option) (*Cache, error) {
	get := func(name string) string {
		v, _ := lookup(name)
		return strings.TrimSpace(v)
	}
	cfg := defaultConfig()
	cfg.getenv = get
	if v := get(EnvDefaultTTL); v != "" {
		d, err := parseSeconds(v)
		if err != nil {
			return nil, &ConfigError{Vars: []string{EnvDefaultTTL}, Reason: "not a positive number of seconds or a Go duration", Err: err}
		}
		cfg.envTTL = d // WithTTL wins; WithTTL(0) restores it
	}
	if v := get(EnvMaxValueSize); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			if err == nil {
				err = fmt.Errorf("%d is not positive", n)
			}
			return nil, &ConfigError{Vars: []string{EnvMaxValueSize}, Reason: "not a positive number of bytes", Err: err}
		}
		cfg.maxValueSize = n
	}
	if v := get(EnvNamespace); v != "" {
		cfg.namespace = v
	}
	Options(opts...)(&cfg)
	if !cfg.backendSet {
		b, err := backendFromEnv(get)
		if err != nil {
			return nil, err
		}
		if b != nil {
			cfg.backend, cfg.ownsBackend = b, true
		}
	}
	c, err := newCache(cfg)
	if err != nil && cfg.ownsBackend && cfg.backend != nil {
		_ = closeBackend(cfg.backend)
	}
	return c, err
}

// parseSeconds accepts "300", "2.5" (seconds) or a Go duration ("5m").
func parseSeconds(v string) (time.Duration, error) {
	var d time.Duration
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		if f <= 0 || f > float64(1<<62)/float64(time.Second) {
			return 0, fmt.Errorf("%v seconds is out of range", f)
		}
		d = time.Duration(f * float64(time.Second))
	} else {
		pd, err := time.ParseDuration(v)
		if err != nil {
			return 0, err
		}
		d = pd
	}
	if d <= 0 {
		return 0, fmt.Errorf("%v is not positive", d)
	}
	return d, nil
}

// envBackend is one way the environment can select a backend.
type envBackend struct {
	vars  []string // the variables; the first one set wins
	build func(value string) (backend.Backend, error)
}

var envBackends = []envBackend{
	{[]string{EnvAPIKey}, func(string) (backend.Backend, error) { return newCachekitIO() }},
	{[]string{EnvRedisURL, EnvRedisURLFallback}, newRedisFromURL},
	{[]string{EnvMemcachedServers}, func(v string) (backend.Backend, error) {
		servers, err := memcached.ParseServers(v)
		if err != nil {
			return nil, err
		}
		b, err := memcached.New(memcached.Options{Servers: servers})
		if err != nil {
			return nil, err
		}
		return b, nil
	}},
	{[]string{EnvFileCacheDir}, newFileBackend},
}

func backendFromEnv(get func(string) string) (backend.Backend, error) {
	type found struct {
		name, value string
		eb          envBackend
	}
	var set []found
	for _, eb := range envBackends {
		for _, name := range eb.vars {
			if v := get(name); v != "" {
				set = append(set, found{name, v, eb})
				break
			}
		}
	}
	switch len(set) {
	case 0:
		return nil, nil
	case 1:
	default:
		names := make([]string, len(set))
		for i, f := range set {
			names[i] = f.name
		}
		return nil, &ConfigError{
			Vars:   names,
			Reason: strings.Join(names, " and ") + " are set at the same time; set only one, or pass WithBackend",
			Err:    ErrConflictingBackends,
		}
	}
	b, err := set[0].eb.build(set[0].value)
	if err != nil {
		return nil, &ConfigError{Vars: []string{set[0].name}, Reason: "cannot create the backend", Err: err}
	}
	return b, nil
}

func newCachekitIO() (backend.Backend, error) {
	b, err := cachekitio.FromEnv()
	if err != nil {
		return nil, err
	}
	return b, nil
}

func newRedisFromURL(url string) (backend.Backend, error) {
	b, err := redis.NewFromURL(url)
	if err != nil {
		return nil, err
	}
	return b, nil
}

func newFileBackend(dir string) (backend.Backend, error) {
	b, err := file.New(file.Options{Dir: dir})
	if err != nil {
		return nil, err
	}
	return b, nil
}

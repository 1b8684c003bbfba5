package cachekit

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/cachekit-go/cachekit/backend"
	"github.com/cachekit-go/cachekit/internal/clock"
	"github.com/cachekit-go/cachekit/internal/secure"
)

// Defaults. Every default of the user API is one of these constants.
const (
	// DefaultTTL is the lifetime of entries when neither the function, the
	// cache (WithTTL) nor CACHEKIT_DEFAULT_TTL (FromEnv) sets one.
	DefaultTTL = time.Hour
	// DefaultL1Size is the byte budget of the in-process tier (100 MiB).
	DefaultL1Size = 100 << 20
	// DefaultMaxValueSize is the largest serialized value that is stored
	// (100 MiB), counting both the MessagePack document and the bytes written
	// to the backend; larger results are returned to the caller but not
	// cached.
	DefaultMaxValueSize = 100 << 20
	// DefaultLoaderTimeout bounds the shared call that loads a missing entry
	// (backend read plus the wrapped function) and every background refresh.
	// The shared call is detached from its callers' contexts, so this is its
	// only deadline.
	DefaultLoaderTimeout = 30 * time.Second
	// DefaultL1MaxTTL bounds how long an L1 copy of an entry read from a
	// backend that cannot report remaining lifetimes (no TTLInspector) is kept,
	// since its real expiry is unknown.
	DefaultL1MaxTTL = time.Minute
	// MaxConcurrentRefreshes bounds the stale-while-revalidate refreshes
	// running at once per Cache; a stale hit finding all slots busy is served
	// without starting another refresh (a later hit retries).
	MaxConcurrentRefreshes = 64
	// RefreshJitter is the relative jitter (+/-10 %) applied to the
	// stale-while-revalidate refresh point, so entries written together do not
	// refresh together. It never moves the refresh point more than halfway
	// to the expiry, so a ratio close to 1 still refreshes before expiry.
	RefreshJitter = 0.1
	// MinRefreshRetry is the shortest wait before a failed background refresh
	// is tried again.
	MinRefreshRetry = time.Second
)

// NoExpiry as a TTL (WithTTL, TTL, Set) stores entries without expiry.
const NoExpiry time.Duration = -1

// Option configures a Cache (New, FromEnv). Options apply in order; a later
// option overrides an earlier one, presets included.
type Option func(*config)

type config struct {
	backend        backend.Backend
	backendSet     bool
	backendFactory func() (backend.Backend, error)
	ownsBackend    bool
	namespace      string
	ttl            time.Duration // 0 = not set
	envTTL         time.Duration // CACHEKIT_DEFAULT_TTL (FromEnv); 0 = not set
	l1             bool
	l1Size         int64
	l1Bytes        bool
	l1MaxTTL       time.Duration
	logger         *slog.Logger
	maxValueSize   int64
	maxValueSet    bool
	integrity      bool
	swr            float64
	jitter         float64
	loaderTimeout  time.Duration
	backendTimeout time.Duration
	// Resilience (resilience_options.go); zero values mean the defaults.
	readBudget       time.Duration
	breakerThreshold int
	recovery         time.Duration
	queueSize        int
	queueWorkers     int
	drainTimeout     time.Duration
	maxOps           int
	maxLoads         int
	noLock           bool
	lockHold         time.Duration
	lockWait         time.Duration
	clock            clock.Clock
	needEncryption   bool                // Secure: refuse to run without encryption
	encState         encState            // WithEncryption / WithoutEncryption
	enc              Encryption          // valid when encState == encOn
	getenv           func(string) string // FromEnv: the environment (nil in New)
	secureHook       func(*secure.Config)
	pythonLayout     bool            // WithPythonLayout
	observer         Observer        // WithObserver
	coh              coherenceConfig // coherence.go
	errs             []error
}

func defaultConfig() config {
	return config{
		l1:            true,
		l1Size:        DefaultL1Size,
		l1MaxTTL:      DefaultL1MaxTTL,
		maxValueSize:  DefaultMaxValueSize,
		integrity:     true,
		jitter:        RefreshJitter,
		loaderTimeout: DefaultLoaderTimeout,
		clock:         clock.Real{},

		breakerThreshold: DefaultBreakerThreshold,
		recovery:         DefaultRecoveryTimeout,
		queueSize:        DefaultWriteQueueSize,
		queueWorkers:     DefaultWriteWorkers,
		drainTimeout:     DefaultDrainTimeout,
		maxOps:           DefaultMaxBackendOps,
		maxLoads:         DefaultMaxDetachedLoads,
		lockHold:         DefaultLockHold,
		lockWait:         DefaultLockWait,
	}
}

func (c *config) fail(format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidOption}, args...)...))
}

// Options bundles several options into one (presets are built this way).
func Options(opts ...Option) Option {
	return func(c *config) {
		for _, o := range opts {
			if o != nil {
				o(c)
			}
		}
	}
}

// WithBackend sets the shared (L2) store. nil means no backend: the cache is
// in-process only. An explicit backend wins over the environment in FromEnv.
// The Cache does not close a backend passed here.
func WithBackend(b backend.Backend) Option {
	return func(c *config) {
		c.backend, c.backendSet, c.backendFactory, c.ownsBackend = b, true, nil, false
	}
}

// withBackendFactory sets a backend built when the Cache is created (presets
// such as IO); the Cache owns and closes it.
func withBackendFactory(f func() (backend.Backend, error)) Option {
	return func(c *config) {
		c.backend, c.backendSet, c.backendFactory, c.ownsBackend = nil, true, f, true
	}
}

// WithNamespace sets the namespace of auto-mode keys ("ns:<namespace>:..."),
// the default for every wrapper of the cache.
func WithNamespace(ns string) Option { return func(c *config) { c.namespace = ns } }

// WithTTL sets the default lifetime of entries; NoExpiry stores them without
// expiry. Zero restores the default (CACHEKIT_DEFAULT_TTL under FromEnv, else
// DefaultTTL).
func WithTTL(d time.Duration) Option {
	return func(c *config) {
		if d < 0 && d != NoExpiry {
			c.fail("negative TTL %v", d)
			return
		}
		c.ttl = d
	}
}

// WithL1 turns the in-process tier on (the default) or off.
func WithL1(on bool) Option { return func(c *config) { c.l1 = on } }

// WithL1Size sets the byte budget of the in-process tier (default
// DefaultL1Size).
func WithL1Size(bytes int64) Option {
	return func(c *config) {
		if bytes <= 0 {
			c.fail("L1 size must be positive, got %d", bytes)
			return
		}
		c.l1Size = bytes
	}
}

// WithL1Bytes makes the in-process tier keep serialized values instead of
// decoded ones. Every L1 hit then decodes a fresh copy: slower, but callers
// may mutate what they get. By default L1 keeps decoded values and returns
// the same value to every caller, which must then treat it as read-only.
func WithL1Bytes(on bool) Option { return func(c *config) { c.l1Bytes = on } }

// WithL1MaxTTL bounds the lifetime of L1 copies of entries read from a backend
// that cannot report remaining lifetimes (default DefaultL1MaxTTL).
func WithL1MaxTTL(d time.Duration) Option {
	return func(c *config) {
		if d <= 0 {
			c.fail("L1 max TTL must be positive, got %v", d)
			return
		}
		c.l1MaxTTL = d
	}
}

// WithLogger sets the logger for fail-open warnings (backend errors,
// uncacheable arguments or values, entries that cannot be decoded or
// decrypted, failed background refreshes), breaker transitions and
// recovered panics. Nothing is logged while all is well, and failures that
// can repeat on every call are rate-limited (one line per
// FailureLogInterval with the count of those left out). Keys are logged,
// values and secrets never. Default: slog.Default(). Pass a logger with
// slog.DiscardHandler to silence the cache.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithMaxValueSize sets the largest serialized value that is stored (default
// DefaultMaxValueSize); larger results are returned but not cached. Both the
// MessagePack document (what L1 is charged) and, with a backend, the bytes
// written to it (frame, envelope and encryption included: about 160 bytes
// more for small values, less for compressible ones) must fit, so a limit set
// to a backend's maximum item size keeps every write within it. It bounds
// reads too: a stored envelope that declares a larger value is refused
// before it is decompressed (a miss for wrappers and Load, an error for Get),
// so a small entry planted in the backend cannot inflate to hundreds of MiB
// in this process. Give peers that share entries the same limit.
func WithMaxValueSize(bytes int64) Option {
	return func(c *config) {
		if bytes <= 0 {
			c.fail("max value size must be positive, got %d", bytes)
			return
		}
		c.maxValueSize, c.maxValueSet = bytes, true
	}
}

// WithIntegrity turns the ByteStorage envelope (LZ4 + xxHash3-64 checksum) on
// (the default, like Python's @cache) or off (raw MessagePack in the frame,
// "compressed": false). It also selects the "1s"/"0s" key suffix.
func WithIntegrity(on bool) Option { return func(c *config) { c.integrity = on } }

// WithStaleWhileRevalidate sets the default stale-while-revalidate ratio:
// once an entry is older than ttl*ratio (+/- RefreshJitter) it is still served
// and one background refresh runs. 0 (the default) turns it off; the ratio
// must be in [0, 1).
func WithStaleWhileRevalidate(ratio float64) Option {
	return func(c *config) {
		if ratio < 0 || ratio >= 1 {
			c.fail("stale-while-revalidate ratio must be in [0, 1), got %v", ratio)
			return
		}
		c.swr = ratio
	}
}

// WithLoaderTimeout sets the deadline of the detached shared call that loads
// a missing entry and of background refreshes (default DefaultLoaderTimeout).
func WithLoaderTimeout(d time.Duration) Option {
	return func(c *config) {
		if d <= 0 {
			c.fail("loader timeout must be positive, got %v", d)
			return
		}
		c.loaderTimeout = d
	}
}

// WithBackendTimeout bounds every backend operation through its context
// (the read of a miss is further bounded by the read budget, see
// WithReadBudget). 0 (the default) leaves the backend's own timeouts in
// place, and background writes are bounded by DefaultWriteTimeout.
func WithBackendTimeout(d time.Duration) Option {
	return func(c *config) {
		if d < 0 {
			c.fail("backend timeout must not be negative, got %v", d)
			return
		}
		c.backendTimeout = d
	}
}

// PythonKeyPrefix is the prefix cachekit-py's default Redis provider puts in
// front of every key it writes for a single-tenant process ("t:" + the
// URL-quoted tenant "default" + ":"). See WithPythonLayout.
const PythonKeyPrefix = "t:default:"

// WithPythonLayout lays out wrapped functions' entries in the backend exactly
// as a cachekit-py service does, so that one Cache over one backend shares
// both kinds of entry with it:
//
//   - auto-mode entries (Python's @cache and @cache.secure on its default
//     Redis provider) live under PythonKeyPrefix + key, e.g.
//     "t:default:ns:users:func:app.get_user:args:...:1s" (KeyFunc keys get
//     the prefix too: Python's provider prefixes every key it is given);
//   - interop entries (Python's @cache(interop=..., backend=RedisBackend()))
//     live under their bare key "users:get_user:<hash>", as Python refuses
//     a prefixing backend in interop mode.
//
// With a multi-tenant encryption (Encryption.TenantFunc) auto-mode keys
// already start with the tenant's "t:{quoted tenant}:" prefix, which is what
// Python's provider writes when the Python service sets its tenant_context
// to the same tenant; no second prefix is added.
//
// The switch applies to wrappers only: Load, Get, Set, Delete and Exists use
// their key as given. A wrapper's Key still returns the key Python computes
// (its cache key); the backend key is PythonKeyPrefix + Key. Use it with a backend that adds no prefix of its own
// (leave redis.Options.KeyPrefix empty, or keys get the prefix twice). Off by
// default; see docs/python.md.
func WithPythonLayout(on bool) Option { return func(c *config) { c.pythonLayout = on } }

// withClock replaces the clock (tests).
func withClock(clk clock.Clock) Option { return func(c *config) { c.clock = clk } }

// withJitter replaces RefreshJitter (tests that need exact refresh points).
func withJitter(j float64) Option { return func(c *config) { c.jitter = j } }

// FuncOption configures one wrapper (Wrap0..Wrap4) or one Load call.
type FuncOption func(*funcConfig)

type funcConfig struct {
	ttl       time.Duration
	namespace *string
	interopNS string
	interopOp string
	interop   bool
	name      string
	receiver  *string   // Receiver
	negative  []negRule // CacheError
	keyFunc   func(args []any) (string, error)
	keywords  []string // Keywords
	integrity *bool    // Integrity
	swr       *float64
	l1        *bool
	bypass    bool
	errs      []error
}

func (f *funcConfig) fail(format string, args ...any) {
	f.errs = append(f.errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidOption}, args...)...))
}

// TTL sets the lifetime of this function's entries (NoExpiry: none),
// overriding the cache default.
func TTL(d time.Duration) FuncOption {
	return func(f *funcConfig) {
		if d <= 0 && d != NoExpiry {
			f.fail("TTL must be positive or NoExpiry, got %v", d)
			return
		}
		f.ttl = d
	}
}

// Namespace sets the key namespace of this function, overriding the cache's
// (an empty string removes it).
func Namespace(ns string) FuncOption { return func(f *funcConfig) { f.namespace = &ns } }

// Interop switches this function to interop mode: the key is
// "{namespace}:{operation}:{args_hash}" and the value one plain MessagePack
// document, the same entry as Python's @cache(interop=operation,
// namespace=namespace) and the Rust SDK's interop calls. Both names must match
// ^[a-z0-9][a-z0-9._-]{0,63}$ (checked at wrap time).
func Interop(namespace, operation string) FuncOption {
	return func(f *funcConfig) { f.interop, f.interopNS, f.interopOp = true, namespace, operation }
}

// Name sets the function identity used in auto-mode keys. It is required for
// closures and generic functions, whose Go symbol is not a stable identity;
// it may also be used to keep keys stable across a rename. For a method value
// (store.Get), Name alone makes every receiver of the method share one set
// of entries (right for a single store); with more than one receiver use
// Receiver.
func Name(identity string) FuncOption { return func(f *funcConfig) { f.name = identity } }

// Receiver makes id, which names the receiver of a wrapped method value, part
// of the function's identity (and so of every key): wrapping us.Get and
// eu.Get with Receiver("us") and Receiver("eu") gives two sets of entries,
// never one. With Receiver a method value needs no Name: its identity is the
// method's symbol ("github.com/acme/app/users.(*Store).Get") followed by
// "@" and id. id must not be empty; it does not apply to Interop or KeyFunc
// functions, whose keys do not contain the identity (put the receiver in
// the namespace or the key instead).
func Receiver(id string) FuncOption {
	return func(f *funcConfig) {
		if id == "" {
			f.fail("Receiver needs a non-empty id")
		}
		f.receiver = &id
	}
}

// KeyFunc replaces key derivation: fn receives the call's arguments (without
// the context) and returns the complete backend key, used as-is (no
// namespace, prefix or hashing is added; include what you need; only
// WithPythonLayout puts PythonKeyPrefix in front, as Python's provider does). Invalidate
// uses the same function. An error from fn makes that call run uncached.
func KeyFunc(fn func(args []any) (string, error)) FuncOption {
	return func(f *funcConfig) { f.keyFunc = fn }
}

// Keywords makes the last len(names) arguments of every call travel as
// Python keyword arguments, named by names in order, in the auto-mode key:
// Python's key hashes [args, kwargs] as the call passed them, so
// search("foo", limit=5) and search("foo", 5) are two entries, and a Go
// wrapper reaches the first only with
//
//	cachekit.Wrap2(c, search, cachekit.Name("app.search"), cachekit.Keywords("limit"))
//
// Name the arguments the Python callers pass by keyword, in the order of the
// Go signature (Python sorts keyword arguments by name before hashing, so the
// order does not change the key). Python callers must pass those keywords on
// every call: a keyword they leave out (its default used) is absent from
// Python's hash but present in Go's. Interop mode binds keywords to their
// positions, so Keywords is refused with Interop, and with KeyFunc, which
// replaces key derivation. Names must be distinct and not empty, and there
// must be at most as many as the function has arguments (checked at wrap
// time).
func Keywords(names ...string) FuncOption {
	return func(f *funcConfig) { f.keywords = append([]string(nil), names...) }
}

// Integrity overrides the cache's WithIntegrity for this function: the
// envelope (LZ4 + checksum) and the ":1s" key suffix, or raw MessagePack in
// the frame and ":0s". It is the Go form of Python's per-decorator
// integrity_checking, so one cache can share functions of both kinds with a
// Python service. For Load it selects the value format only (the key is
// given). Interop values have no envelope either way.
func Integrity(on bool) FuncOption { return func(f *funcConfig) { f.integrity = &on } }

// StaleWhileRevalidate sets this function's stale-while-revalidate ratio (see
// WithStaleWhileRevalidate); 0 turns it off for the function.
func StaleWhileRevalidate(ratio float64) FuncOption {
	return func(f *funcConfig) {
		if ratio < 0 || ratio >= 1 {
			f.fail("stale-while-revalidate ratio must be in [0, 1), got %v", ratio)
			return
		}
		f.swr = &ratio
	}
}

// L1 turns the in-process tier on or off for this function (it cannot turn it
// on when the cache has none).
func L1(on bool) FuncOption { return func(f *funcConfig) { f.l1 = &on } }

// BypassAlways makes the wrapper call the function directly, never reading or
// writing the cache (a switch to disable caching for one function without
// removing the wrapper). For one call, use Bypass on the context.
func BypassAlways() FuncOption { return func(f *funcConfig) { f.bypass = true } }

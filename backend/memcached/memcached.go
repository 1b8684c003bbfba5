// Package memcached is the cachekit-go backend for memcached, with its own
// small client for the memcached text protocol.
//
// Why its own client: the common Go client (bradfitz/gomemcache) takes no
// context, so deadlines and cancellation could not reach the network. This
// client sets every connection's deadline from the operation's context and
// closes a connection the moment its operation fails, times out or is
// cancelled, so no connection is reused in the middle of a response.
//
// Decisions, and why:
//
//   - Commands. The Backend operations use the classic commands (get, set,
//     delete, touch, add, version), which every memcached and every proxy
//     speaks. Exists, TTL, GetWithTTL and ReleaseLock use the meta commands
//     of memcached 1.6 (mg, md): only they can test a key without
//     transferring its value, read a value and its remaining lifetime with
//     one command (an L2 hit is one round trip), and delete on a cas match.
//     Against a server without meta commands Exists and GetWithTTL fall back
//     to get, and TTL and ReleaseLock fail with a Permanent error wrapping
//     ErrMetaUnsupported.
//   - Several servers. A key lives on one server picked by rendezvous hashing
//     scored like pymemcache's HashClient, the client of cachekit-py's
//     memcached backend, so Go and Python processes with the same server list
//     agree on where a key lives (see ring.go). There is no failover to another
//     server: moving keys while a server flaps would serve stale entries, so a
//     down server's share of operations fails with Transient errors, which the
//     cache layer above treats as misses.
//   - Keys. memcached keys are at most 250 bytes of printable ASCII without
//     spaces. Such keys go on the wire unchanged; every other key (longer, with
//     spaces, control or non-ASCII bytes, or starting with the reserved "ck#")
//     is sent as "ck#h:" + hex(blake2b-256). No plain key can start with "ck#",
//     so a hashed key never collides with a normal one (see keys.go).
//   - Item size. Values longer than Options.MaxItemSize (default 1 MiB, the
//     server's own default -I limit) are refused with a Permanent error before
//     anything is sent; the server's "object too large" reply is Permanent too.
//   - TTLs. memcached reads an expiration time above 30 days as an absolute
//     unix time, so longer TTLs are sent as now + ttl (the reference SDKs clamp
//     them to 30 days instead, which shortens them silently). Sub-second TTLs
//     round up to one second, memcached's resolution. Absolute times beyond
//     2038-01-19 (memcached's 32-bit limit) are clamped to it.
//   - Connections. Each server has a pool of at most
//     Options.MaxOpenConnsPerServer connections in use, of which
//     Options.MaxIdleConnsPerServer stay open between operations. A connection
//     taken from the idle list that turns out to be closed by the server is
//     replaced once, transparently. An operation that runs out of time
//     closes its connection and the server's idle ones: after a hang or a
//     blackholed path heals, the next operation dials afresh instead of
//     meeting the dead connections one timeout at a time.
//   - Down, hung and dead servers. New validates the options and dials
//     nothing, so it succeeds while the servers are down; connections are
//     dialled on use. Every step of an operation (waiting for a pool slot,
//     dialling, writing, reading) is bounded by its context and
//     Options.Timeout (DefaultTimeout, 1 s), so a hung or blackholed server
//     costs an operation its deadline and no more, and a refused connection
//     costs the dial, well under a millisecond on a LAN; either way the
//     error is Transient or Timeout. A connection that timed out is closed,
//     never reused, and the idle connections a crashed server left behind
//     are dropped on first use, so a restarted server is used at once
//     (faults_test.go kills, stops and blackholes private servers to check
//     it).
//   - Locks. AcquireLock stores a random token with add (atomic: it fails when
//     the key exists) and an expiry of the hold time; ReleaseLock reads the
//     token and its cas with mg and deletes with md only on a cas match, so it
//     never removes a lock that expired and was taken by someone else.
//   - No deletion by prefix. memcached cannot list its keys (stats cachedump
//     is partial and deprecated, lru_crawler metadump is not available
//     everywhere nor through proxies), and hashed keys hide their prefix, so
//     the backend does not implement backend.PrefixDeleter: a cached
//     function's Clear returns cachekit.ErrClearUnsupported here and the
//     entries expire with their TTL.
package memcached

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cachekit-go/cachekit/backend"
)

// Defaults for Options fields left at zero.
const (
	// DefaultPort is used for a server given without a port.
	DefaultPort = "11211"
	// DefaultMaxItemSize is memcached's default item size limit (-I 1m).
	DefaultMaxItemSize = 1 << 20
	// DefaultTimeout bounds every operation whose context has no earlier
	// deadline. memcached answers in well under a millisecond on a healthy
	// network; a second means something is wrong.
	DefaultTimeout = time.Second
	// DefaultDialTimeout bounds connecting to a server.
	DefaultDialTimeout = 2 * time.Second
	// DefaultMaxOpenConnsPerServer bounds the connections in use per server.
	// 64 concurrent operations per server keep a busy process from queueing
	// while 16 such processes still fit in memcached's default limit of 1024
	// connections (-c).
	DefaultMaxOpenConnsPerServer = 64
	// DefaultMaxIdleConnsPerServer is how many connections per server stay
	// open between operations: half the open limit, so steady load reuses
	// connections instead of dialling, and a burst's surplus is closed.
	DefaultMaxIdleConnsPerServer = 32
)

// maxRelativeExpiry is the longest expiration memcached reads as relative
// seconds (30 days); larger values are absolute unix times.
const maxRelativeExpiry = 30 * 24 * 60 * 60

const backendName = "memcached"

// Options configures a Backend. Only Servers is required.
type Options struct {
	// Servers are the memcached servers as "host:port" (port defaults to
	// 11211). The order does not matter for key placement.
	Servers []string
	// KeyPrefix is prepended to every key before it is mapped to a wire key,
	// like cachekit-py's key_prefix.
	KeyPrefix string
	// MaxItemSize is the largest value Set accepts, in bytes. Raise it only
	// together with the servers' -I limit. Default DefaultMaxItemSize.
	MaxItemSize int
	// Timeout bounds each operation whose context has no earlier deadline.
	// Default DefaultTimeout; negative means no timeout beyond the context.
	Timeout time.Duration
	// DialTimeout bounds connecting to a server. Default DefaultDialTimeout.
	DialTimeout time.Duration
	// MaxOpenConnsPerServer bounds the connections in use per server; more
	// concurrent operations wait for a free connection (or their context).
	// Default DefaultMaxOpenConnsPerServer.
	MaxOpenConnsPerServer int
	// MaxIdleConnsPerServer is how many unused connections per server stay
	// open. Default DefaultMaxIdleConnsPerServer (capped at the open limit).
	MaxIdleConnsPerServer int
	// Logger receives debug records about discarded connections. Keys may
	// appear in them, values never. Default: slog.Default().
	Logger *slog.Logger
}

// Backend is a memcached-backed cache store. It implements backend.Backend,
// backend.Locker, backend.TTLInspector, backend.TTLGetter and
// backend.TimeoutSetter, and is safe for concurrent use. Create it with New and release its connections with
// Close.
type Backend struct {
	c       *cluster
	timeout time.Duration
}

// cluster is what every Backend made by WithTimeout shares.
type cluster struct {
	names       []string // normalized "host:port", the rendezvous node names
	pools       []*pool
	prefix      string
	maxItemSize int
	log         *slog.Logger
}

var (
	_ backend.Backend       = (*Backend)(nil)
	_ backend.Locker        = (*Backend)(nil)
	_ backend.TTLInspector  = (*Backend)(nil)
	_ backend.TTLGetter     = (*Backend)(nil)
	_ backend.TimeoutSetter = (*Backend)(nil)
)

// ErrNoServers reports Options without any server.
var ErrNoServers = errors.New("memcached: no servers configured")

// New returns a Backend for opts. It validates the options but does not
// connect: connections are dialled on first use, so New succeeds while a
// server is still starting.
func New(opts Options) (*Backend, error) {
	if len(opts.Servers) == 0 {
		return nil, ErrNoServers
	}
	c := &cluster{prefix: opts.KeyPrefix, maxItemSize: opts.MaxItemSize, log: opts.Logger}
	if c.maxItemSize <= 0 {
		c.maxItemSize = DefaultMaxItemSize
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	maxOpen := opts.MaxOpenConnsPerServer
	if maxOpen <= 0 {
		maxOpen = DefaultMaxOpenConnsPerServer
	}
	maxIdle := opts.MaxIdleConnsPerServer
	if maxIdle <= 0 {
		maxIdle = DefaultMaxIdleConnsPerServer
	}
	maxIdle = min(maxIdle, maxOpen)
	dialTimeout := opts.DialTimeout
	if dialTimeout <= 0 {
		dialTimeout = DefaultDialTimeout
	}
	dialer := &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	seen := map[string]bool{}
	for _, s := range opts.Servers {
		addr, err := normalizeServer(s)
		if err != nil {
			return nil, err
		}
		if seen[addr] {
			return nil, fmt.Errorf("memcached: server %q listed twice", addr)
		}
		seen[addr] = true
		c.names = append(c.names, addr)
		c.pools = append(c.pools, newPool(addr, maxOpen, maxIdle, dialer.DialContext))
	}
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	return &Backend{c: c, timeout: timeout}, nil
}

// normalizeServer turns "host", "host:port" or "[v6]:port" into "host:port".
func normalizeServer(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", errors.New("memcached: empty server address")
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		// No port: the whole string is the host (a bare IPv6 address too).
		host, port = strings.Trim(s, "[]"), DefaultPort
	}
	if host == "" || strings.ContainsFunc(host, badHostRune) {
		return "", fmt.Errorf("memcached: server address %q has no valid host", s)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("memcached: server address %q has an invalid port", s)
	}
	return net.JoinHostPort(host, port), nil
}

// badHostRune reports a character that no host name or IP address contains.
func badHostRune(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		return false
	}
	return !strings.ContainsRune(".-_:%", r)
}

// ParseServers parses the value of CACHEKIT_MEMCACHED_SERVERS: a
// comma-separated list of host:port (spaces around entries are ignored), or a
// JSON array of strings, the form cachekit-py's settings accept.
func ParseServers(s string) ([]string, error) {
	s = strings.TrimSpace(s)
	var raw []string
	if strings.HasPrefix(s, "[") && json.Valid([]byte(s)) {
		if err := json.Unmarshal([]byte(s), &raw); err != nil {
			return nil, fmt.Errorf("memcached: server list is not a JSON array of strings: %w", err)
		}
	} else if s != "" {
		raw = strings.Split(s, ",")
	}
	var out []string
	for _, r := range raw {
		if strings.TrimSpace(r) == "" {
			continue
		}
		addr, err := normalizeServer(r)
		if err != nil {
			return nil, err
		}
		out = append(out, addr)
	}
	if len(out) == 0 {
		return nil, ErrNoServers
	}
	return out, nil
}

// Close closes the idle connections; later operations fail with a
// Permanent error. Connections in use close when their operation ends.
func (b *Backend) Close() error {
	for _, p := range b.c.pools {
		p.close()
	}
	return nil
}

// WithTimeout returns a Backend that bounds every operation by d (when the
// context has no earlier deadline; d <= 0 means the context alone bounds it)
// and shares connections with b.
func (b *Backend) WithTimeout(d time.Duration) backend.Backend {
	return &Backend{c: b.c, timeout: d}
}

// PoolStats reports each server's connection pool, in Options.Servers order.
func (b *Backend) PoolStats() []PoolStats {
	out := make([]PoolStats, len(b.c.pools))
	for i, p := range b.c.pools {
		out[i] = p.stats()
	}
	return out
}

// ServerFor returns the server ("host:port") that holds key.
func (b *Backend) ServerFor(key string) string {
	return b.c.names[pickServer(b.c.names, wireKey(b.c.prefix+key))]
}

// Get returns the value under key.
func (b *Backend) Get(ctx context.Context, key string) ([]byte, bool, error) {
	wk := wireKey(b.c.prefix + key)
	var resp response
	err := b.do(ctx, "get", key, wk, func(c *conn) error {
		var err error
		resp, err = c.roundTrip(nil, "get ", wk, "\r\n")
		if err == nil && resp.status == stValue && resp.key != wk {
			err = protoErr("get returned another key")
		}
		return err
	})
	if err != nil {
		return nil, false, err
	}
	switch resp.status {
	case stValue:
		return resp.value, true, nil
	case stEnd:
		return nil, false, nil
	}
	return nil, false, b.unexpected("get", key, resp)
}

// GetWithTTL returns the value under key and its remaining lifetime (0: no
// expiry) with one command, mg with the v (value), t (remaining TTL) and k
// (key, checked against the one asked for) flags. memcached keeps TTLs in
// whole seconds, so remaining is too; an entry in its last second reports a
// nanosecond, never 0. On a server without meta commands (memcached < 1.6)
// it falls back to get and reports remaining 0: such a server cannot tell the
// lifetime at all.
func (b *Backend) GetWithTTL(ctx context.Context, key string) ([]byte, time.Duration, bool, error) {
	wk := wireKey(b.c.prefix + key)
	i := pickServer(b.c.names, wk)
	if b.c.pools[i].noMeta.Load() {
		v, found, err := b.Get(ctx, key)
		return v, 0, found, err
	}
	var resp response
	err := b.doOn(ctx, i, "get", key, func(c *conn) error {
		var err error
		resp, err = c.roundTrip(nil, "mg ", wk, " v t k\r\n")
		if err == nil && resp.status == stVA && resp.key != wk {
			err = protoErr("mg returned another key")
		}
		return err
	})
	if errors.Is(err, ErrMetaUnsupported) {
		b.c.pools[i].noMeta.Store(true)
		v, found, err := b.Get(ctx, key)
		return v, 0, found, err
	}
	if err != nil {
		return nil, 0, false, err
	}
	switch {
	case resp.status == stEN:
		return nil, 0, false, nil
	case resp.status == stVA && resp.hasTTL:
		var rem time.Duration
		switch {
		case resp.ttl > 0:
			rem = time.Duration(resp.ttl) * time.Second
		case resp.ttl == 0:
			rem = time.Nanosecond
		}
		if resp.value == nil {
			resp.value = []byte{}
		}
		return resp.value, rem, true, nil
	}
	return nil, 0, false, b.unexpected("get", key, resp)
}

// Set stores value under key for ttl (0 = no expiry).
func (b *Backend) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if len(value) > b.c.maxItemSize {
		return backend.NewError(backend.Permanent, backendName, "set", key,
			fmt.Errorf("%w: value is %d bytes, the limit is %d (Options.MaxItemSize, the servers' -I)", ErrItemTooLarge, len(value), b.c.maxItemSize))
	}
	exp, err := expiration(ttl, time.Now())
	if err != nil {
		return backend.NewError(backend.Permanent, backendName, "set", key, err)
	}
	wk := wireKey(b.c.prefix + key)
	var resp response
	err = b.do(ctx, "set", key, wk, func(c *conn) error {
		var err error
		resp, err = c.store("set", wk, exp, value)
		return err
	})
	if err != nil {
		return err
	}
	if resp.status != stStored {
		return b.unexpected("set", key, resp)
	}
	return nil
}

// Delete removes key.
func (b *Backend) Delete(ctx context.Context, key string) (bool, error) {
	wk := wireKey(b.c.prefix + key)
	var resp response
	err := b.do(ctx, "delete", key, wk, func(c *conn) error {
		var err error
		resp, err = c.roundTrip(nil, "delete ", wk, "\r\n")
		return err
	})
	if err != nil {
		return false, err
	}
	switch resp.status {
	case stDeleted:
		return true, nil
	case stNotFound:
		return false, nil
	}
	return false, b.unexpected("delete", key, resp)
}

// Exists reports whether key holds a value, with mg (no value transferred)
// or, on servers without meta commands, with get.
func (b *Backend) Exists(ctx context.Context, key string) (bool, error) {
	wk := wireKey(b.c.prefix + key)
	i := pickServer(b.c.names, wk)
	if b.c.pools[i].noMeta.Load() {
		_, found, err := b.Get(ctx, key)
		return found, err
	}
	var resp response
	err := b.doOn(ctx, i, "exists", key, func(c *conn) error {
		var err error
		resp, err = c.roundTrip(nil, "mg ", wk, "\r\n")
		return err
	})
	if errors.Is(err, ErrMetaUnsupported) {
		b.c.pools[i].noMeta.Store(true) // remembered: no more doomed round trips
		_, found, err := b.Get(ctx, key)
		return found, err
	}
	if err != nil {
		return false, err
	}
	switch resp.status {
	case stHD:
		return true, nil
	case stEN:
		return false, nil
	}
	return false, b.unexpected("exists", key, resp)
}

// TTL returns key's remaining lifetime (mg with the t flag; memcached >= 1.6).
func (b *Backend) TTL(ctx context.Context, key string) (time.Duration, bool, error) {
	wk := wireKey(b.c.prefix + key)
	var resp response
	err := b.do(ctx, "ttl", key, wk, func(c *conn) error {
		var err error
		resp, err = c.roundTrip(nil, "mg ", wk, " t\r\n")
		return err
	})
	if err != nil {
		return 0, false, err
	}
	switch {
	case resp.status == stEN:
		return 0, false, nil
	case resp.status == stHD && resp.hasTTL:
		if resp.ttl < 0 {
			return 0, true, nil
		}
		return time.Duration(resp.ttl) * time.Second, true, nil
	}
	return 0, false, b.unexpected("ttl", key, resp)
}

// RefreshTTL gives key a new lifetime with touch.
func (b *Backend) RefreshTTL(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	exp, err := expiration(ttl, time.Now())
	if err != nil {
		return false, backend.NewError(backend.Permanent, backendName, "refresh_ttl", key, err)
	}
	wk := wireKey(b.c.prefix + key)
	var resp response
	err = b.do(ctx, "refresh_ttl", key, wk, func(c *conn) error {
		var err error
		resp, err = c.roundTrip(strconv.AppendInt(nil, exp, 10), "touch ", wk, " ")
		return err
	})
	if err != nil {
		return false, err
	}
	switch resp.status {
	case stTouched:
		return true, nil
	case stNotFound:
		return false, nil
	}
	return false, b.unexpected("refresh_ttl", key, resp)
}

// AcquireLock takes the lock for key with add, holding it for hold (rounded
// up to whole seconds).
func (b *Backend) AcquireLock(ctx context.Context, key string, hold time.Duration) (string, bool, error) {
	if hold <= 0 {
		return "", false, backend.NewError(backend.Permanent, backendName, "lock", key, errors.New("lock hold time must be positive"))
	}
	exp, err := expiration(hold, time.Now())
	if err != nil {
		return "", false, backend.NewError(backend.Permanent, backendName, "lock", key, err)
	}
	var tok [16]byte
	_, _ = rand.Read(tok[:]) // never fails (crypto/rand panics on failure)
	token := hex.EncodeToString(tok[:])
	lk := lockKey(b.c.prefix + key)
	var resp response
	err = b.do(ctx, "lock", key, lk, func(c *conn) error {
		var err error
		resp, err = c.store("add", lk, exp, []byte(token))
		return err
	})
	if err != nil {
		return "", false, err
	}
	switch resp.status {
	case stStored:
		return token, true, nil
	case stNotStored:
		return "", false, nil
	}
	return "", false, b.unexpected("lock", key, resp)
}

// ReleaseLock deletes key's lock if lockID still holds it: mg reads the
// token and its cas, md deletes only on that cas.
func (b *Backend) ReleaseLock(ctx context.Context, key, lockID string) (bool, error) {
	lk := lockKey(b.c.prefix + key)
	released := false
	var bad response
	err := b.do(ctx, "unlock", key, lk, func(c *conn) error {
		resp, err := c.roundTrip(nil, "mg ", lk, " v c\r\n")
		if err != nil {
			return err
		}
		switch {
		case resp.status == stEN:
			return nil
		case resp.status != stVA || !resp.hasCAS:
			bad = resp
			return nil
		case string(resp.value) != lockID:
			return nil
		}
		resp, err = c.roundTrip(strconv.AppendUint(nil, resp.cas, 10), "md ", lk, " C")
		if err != nil {
			return err
		}
		switch resp.status {
		case stHD:
			released = true
		case stNF, stEX:
		default:
			bad = resp
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	if bad.status != stInvalid {
		return false, b.unexpected("unlock", key, bad)
	}
	return released, nil
}

// HealthCheck asks every server for its version, concurrently. The backend is
// healthy when every server answers. details carries backend_type,
// latency_ms, servers, servers_up, versions (server -> version) and, when
// unhealthy, error.
func (b *Backend) HealthCheck(ctx context.Context) (bool, map[string]any) {
	start := time.Now()
	n := len(b.c.pools)
	versions := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range b.c.pools {
		wg.Go(func() {
			errs[i] = b.doOn(ctx, i, "health", "", func(c *conn) error {
				resp, err := c.roundTrip(nil, "version", "", "\r\n")
				if err == nil && resp.status != stVersion {
					err = protoErr("version answered with another reply")
				}
				versions[i] = resp.version
				return err
			})
		})
	}
	wg.Wait()
	details := map[string]any{
		backend.DetailBackendType: backendName,
		backend.DetailLatencyMS:   float64(time.Since(start).Microseconds()) / 1000,
		"servers":                 n,
	}
	up := 0
	vs := map[string]string{}
	var firstErr error
	for i, err := range errs {
		if err == nil {
			up++
			vs[b.c.names[i]] = versions[i]
		} else if firstErr == nil {
			firstErr = err
		}
	}
	details["servers_up"] = up
	details["versions"] = vs
	if firstErr != nil {
		details[backend.DetailError] = firstErr.Error()
	}
	return up == n, details
}

// expiration converts a TTL to memcached's exptime: 0 for none, seconds
// (rounded up) up to 30 days, an absolute unix time beyond that.
func expiration(ttl time.Duration, now time.Time) (int64, error) {
	if ttl < 0 {
		return 0, fmt.Errorf("negative TTL %v", ttl)
	}
	if ttl == 0 {
		return 0, nil
	}
	secs := int64(ttl / time.Second)
	if ttl%time.Second != 0 {
		secs++
	}
	if secs <= maxRelativeExpiry {
		return secs, nil
	}
	return min(now.Unix()+secs, math.MaxInt32), nil
}

// ErrItemTooLarge reports a value above Options.MaxItemSize or the server's
// item size limit; the *backend.Error carrying it is Permanent.
var ErrItemTooLarge = errors.New("memcached: item too large")

// do runs fn on a connection to the server that holds wk.
func (b *Backend) do(ctx context.Context, op, key, wk string, fn func(*conn) error) error {
	return b.doOn(ctx, pickServer(b.c.names, wk), op, key, fn)
}

// doOn runs fn on a connection to server i, bounded by ctx and the backend's
// timeout. When a connection from the idle list turns out to be closed by the
// server (after a server restart), the idle list is dropped and the operation
// runs once more on a fresh connection.
func (b *Backend) doOn(ctx context.Context, i int, op, key string, fn func(*conn) error) error {
	if err := ctx.Err(); err != nil {
		return b.ctxError(op, key, err, err)
	}
	// A caller's deadline within the timeout already bounds the operation.
	if dl, ok := ctx.Deadline(); b.timeout > 0 && (!ok || time.Until(dl) > b.timeout) {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, b.timeout)
		defer cancel()
	}
	p := b.c.pools[i]
	for attempt := 0; ; attempt++ {
		c, err := p.get(ctx)
		if err != nil {
			if errors.Is(err, errPoolClosed) {
				return backend.NewError(backend.Permanent, backendName, op, key, err)
			}
			return b.classify(ctx, op, key, err)
		}
		reusable, err := runOn(ctx, c, fn)
		p.put(c, reusable)
		if err == nil {
			return nil
		}
		b.c.log.LogAttrs(ctx, slog.LevelDebug, "memcached: connection discarded",
			slog.String("server", p.addr), slog.String("op", op), slog.String("key", key), slog.String("error", err.Error()))
		if c.reused && attempt == 0 && stale(err) && ctx.Err() == nil {
			p.dropIdle()
			continue
		}
		if timedOut(ctx, err) {
			// A connection that went silent (a hung server, a blackholed
			// path) says the idle ones, on the same path, most likely
			// are silent too and would stay so after the path heals;
			// each would cost a later operation its whole timeout, one
			// after another. Dropping them costs a dial each if they
			// were fine.
			p.dropIdle()
		}
		return b.classify(ctx, op, key, err)
	}
}

// runOn runs fn with c's deadline set from ctx; cancelling ctx interrupts the
// I/O at once by moving the deadline into the past. reusable is false when
// fn failed or the context ended while fn ran (the connection's state is
// then uncertain even if fn got its answer).
func runOn(ctx context.Context, c *conn, fn func(*conn) error) (reusable bool, err error) {
	if d, ok := ctx.Deadline(); ok {
		if err := c.nc.SetDeadline(d); err != nil {
			return false, err
		}
	}
	stop := context.AfterFunc(ctx, func() { _ = c.nc.SetDeadline(time.Unix(1, 0)) })
	err = fn(c)
	interrupted := !stop()
	return err == nil && !interrupted, err
}

// timedOut reports an operation that ran out of time (its deadline, or the
// socket's deadline set from it), as opposed to one its caller cancelled.
func timedOut(ctx context.Context, err error) bool {
	var ne net.Error
	return errors.Is(ctx.Err(), context.DeadlineExceeded) || (ctx.Err() == nil && errors.As(err, &ne) && ne.Timeout())
}

// stale reports an error that a connection closed by the server while idle
// produces on its next use.
func stale(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// ctxError reports an operation stopped by its context: Timeout for an
// expired deadline, Transient (not retried, see backend.IsTransient) for a
// cancellation.
func (b *Backend) ctxError(op, key string, ctxErr, cause error) *backend.Error {
	kind := backend.Timeout
	if errors.Is(ctxErr, context.Canceled) {
		kind = backend.Transient
	}
	err := ctxErr
	if cause != nil && !errors.Is(cause, ctxErr) {
		err = fmt.Errorf("%w: %w", ctxErr, cause)
	}
	return backend.NewError(kind, backendName, op, key, err)
}

// metaOps are the operations that send meta commands; an ERROR reply to
// them means the server does not know meta commands.
var metaOps = map[string]bool{"exists": true, "ttl": true, "unlock": true}

// classify turns a failure into a *backend.Error.
func (b *Backend) classify(ctx context.Context, op, key string, err error) *backend.Error {
	var se *serverError
	var ne net.Error
	switch {
	case ctx.Err() != nil:
		return b.ctxError(op, key, ctx.Err(), err)
	case errors.As(err, &ne) && ne.Timeout():
		// Connection deadlines come only from the context, whose timer may
		// not have fired yet when the socket noticed the same instant.
		return b.ctxError(op, key, context.DeadlineExceeded, err)
	case errors.As(err, &se):
		switch {
		case se.kind == "ERROR" && metaOps[op]:
			return backend.NewError(backend.Permanent, backendName, op, key, fmt.Errorf("%w: %w", ErrMetaUnsupported, err))
		case se.kind == "ERROR":
			return backend.NewError(backend.Permanent, backendName, op, key, err)
		case se.tooLarge():
			return backend.NewError(backend.Permanent, backendName, op, key, fmt.Errorf("%w: %w", ErrItemTooLarge, err))
		case se.kind == "CLIENT_ERROR":
			return backend.NewError(backend.Permanent, backendName, op, key, err)
		}
		return backend.NewError(backend.Transient, backendName, op, key, err)
	case errors.Is(err, ErrProtocol), errors.Is(err, io.ErrUnexpectedEOF), stale(err):
		return backend.NewError(backend.Transient, backendName, op, key, err)
	}
	kind := backend.Classify(err)
	if kind == backend.Unknown {
		kind = backend.Transient
	}
	return backend.NewError(kind, backendName, op, key, err)
}

func (b *Backend) unexpected(op, key string, resp response) *backend.Error {
	return backend.NewError(backend.Transient, backendName, op, key, protoErr("unexpected reply (status %d)", resp.status))
}

// roundTrip writes "<cmd><key><tail>" with tail optionally preceded by num
// (for the numeric argument of touch and md), then reads one response.
func (c *conn) roundTrip(num []byte, cmd, key, tail string) (response, error) {
	c.bw.WriteString(cmd)
	c.bw.WriteString(key)
	c.bw.WriteString(tail)
	if num != nil {
		c.bw.Write(num)
		c.bw.WriteString("\r\n")
	}
	if err := c.bw.Flush(); err != nil {
		return response{}, err
	}
	return readResponse(c.br, MaxValueRead)
}

// store sends "<cmd> <key> 0 <exp> <len>\r\n<data>\r\n" (set or add).
func (c *conn) store(cmd, key string, exp int64, data []byte) (response, error) {
	var num [64]byte
	line := append(num[:0], ' ', '0', ' ')
	line = strconv.AppendInt(line, exp, 10)
	line = append(line, ' ')
	line = strconv.AppendInt(line, int64(len(data)), 10)
	line = append(line, '\r', '\n')
	c.bw.WriteString(cmd)
	c.bw.WriteByte(' ')
	c.bw.WriteString(key)
	c.bw.Write(line)
	c.bw.Write(data)
	c.bw.WriteString("\r\n")
	if err := c.bw.Flush(); err != nil {
		return response{}, err
	}
	return readResponse(c.br, MaxValueRead)
}

// HonoursContext reports that this backend's reads return once their
// context ends (backend.ContextHonourer): every wait is on a connection
// deadline taken from the context (cancelling moves it into the past), or a
// select on the context for a pooled connection (see
// TestWaitForFreeConnectionHonoursContext and the fault tests).
func (b *Backend) HonoursContext() bool { return true }

// ReadBudget is the default read budget the cache gives this backend
// (backend.ReadBudgeter): backend.LocalReadBudget.
func (b *Backend) ReadBudget() time.Duration { return backend.LocalReadBudget }

package redis

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/cachekit-go/cachekit/backend"
)

// backendName is the Backend field of every *backend.Error and the
// backend_type health detail.
const backendName = "redis"

// DetailMode is the health detail naming the deployment: "standalone",
// "cluster" or "sentinel".
const DetailMode = "mode"

// Backend stores cache entries in Redis. It is safe for concurrent use;
// copies made by WithTimeout share its connections.
type Backend struct {
	client   rueidis.Client
	owned    bool // Close closes client
	prefix   string
	timeout  time.Duration // <= 0: none
	refLocks bool
	mode     string
}

// Compile-time checks of the capabilities.
var (
	_ backend.Backend       = (*Backend)(nil)
	_ backend.Locker        = (*Backend)(nil)
	_ backend.TTLInspector  = (*Backend)(nil)
	_ backend.TTLGetter     = (*Backend)(nil)
	_ backend.TimeoutSetter = (*Backend)(nil)
)

// New connects to Redis as opts describes. It fails when the first
// connection cannot be made or authenticated; the error is a *backend.Error
// (Op "connect") whose Kind tells a wrong password (Authentication) from an
// unreachable server (Transient).
func New(opts Options) (*Backend, error) {
	co, err := clientOption(opts)
	if err != nil {
		return nil, err
	}
	client, err := rueidis.NewClient(co)
	if err != nil {
		return nil, wrapErr("connect", "", err)
	}
	b := NewFromClient(client, opts)
	b.owned = true
	return b, nil
}

// NewFromURL is ParseURL followed by New.
func NewFromURL(rawURL string) (*Backend, error) {
	opts, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	return New(opts)
}

// NewFromClient uses an existing rueidis client, for applications that
// already have one. Only the KeyPrefix, Timeout and ReferenceLockKeys fields
// of opts apply; the connection fields are the client's business. Close does
// not close a client passed in here.
func NewFromClient(c rueidis.Client, opts Options) *Backend {
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	return &Backend{
		client:   c,
		prefix:   opts.KeyPrefix,
		timeout:  timeout,
		refLocks: opts.ReferenceLockKeys,
		mode:     string(c.Mode()),
	}
}

// clientOption translates Options into rueidis's ClientOption.
func clientOption(o Options) (rueidis.ClientOption, error) {
	var co rueidis.ClientOption
	mode := o.mode()
	addrs := o.Addrs
	if len(addrs) == 0 {
		port := DefaultPort
		if mode == ModeSentinel {
			port = DefaultSentinelPort
		}
		addrs = []string{net.JoinHostPort(DefaultHost, port)}
	}
	switch mode {
	case ModeStandalone:
		if len(addrs) > 1 {
			return co, fmt.Errorf("%w: standalone mode takes one address, got %d", ErrInvalidOptions, len(addrs))
		}
		co.ForceSingleClient = true
	case ModeCluster:
		if o.DB != 0 {
			return co, fmt.Errorf("%w: a Redis Cluster has only database 0", ErrInvalidOptions)
		}
	case ModeSentinel:
		if o.MasterName == "" {
			return co, fmt.Errorf("%w: sentinel mode needs MasterName", ErrInvalidOptions)
		}
		co.Sentinel = rueidis.SentinelOption{
			MasterSet: o.MasterName,
			Username:  o.SentinelUsername,
			Password:  o.SentinelPassword.Reveal(),
			TLSConfig: o.TLSConfig,
			// Reconcile with the Sentinels now and then, so one missed
			// +switch-master event cannot pin us to a demoted master.
			TopologyRefreshInterval: 5 * time.Second,
		}
	default:
		return co, fmt.Errorf("%w: unknown mode %q", ErrInvalidOptions, mode)
	}
	if o.DB < 0 {
		return co, fmt.Errorf("%w: negative DB", ErrInvalidOptions)
	}
	co.InitAddress = append([]string(nil), addrs...)
	co.Username, co.Password = o.Username, o.Password.Reveal()
	co.SelectDB = o.DB
	co.TLSConfig = o.TLSConfig
	co.ClientName = o.ClientName
	co.Dialer.Timeout = o.DialTimeout
	if co.Dialer.Timeout <= 0 {
		co.Dialer.Timeout = DefaultDialTimeout
	}
	co.Sentinel.Dialer.Timeout = co.Dialer.Timeout
	// The cache keeps its own in-process layer; server-assisted client-side
	// caching would only add CLIENT TRACKING traffic.
	co.DisableCache = true
	return co, nil
}

// Close closes the connections if New or NewFromURL made them (for every
// copy WithTimeout made too). It does nothing for NewFromClient backends.
func (b *Backend) Close() {
	if b.owned {
		b.client.Close()
	}
}

// Client returns the underlying rueidis client, for commands this package
// does not wrap. Keys written through it do not get KeyPrefix.
func (b *Backend) Client() rueidis.Client { return b.client }

// WithTimeout returns a copy of b whose operations are each bounded by d (d
// <= 0: no bound beyond the caller's context). The copy shares b's
// connections; b is unchanged.
func (b *Backend) WithTimeout(d time.Duration) backend.Backend {
	c := *b
	c.timeout = d
	c.owned = false
	return &c
}

// start applies the timeout to ctx and fails fast when ctx is already done,
// before anything is sent.
func (b *Backend) start(ctx context.Context, op, key string) (context.Context, context.CancelFunc, error) {
	if err := ctx.Err(); err != nil {
		return ctx, nil, wrapErr(op, key, err)
	}
	if b.timeout > 0 {
		ctx, cancel := context.WithTimeout(ctx, b.timeout)
		return ctx, cancel, nil
	}
	return ctx, func() {}, nil
}

// Get returns the value stored under key.
func (b *Backend) Get(ctx context.Context, key string) ([]byte, bool, error) {
	ctx, cancel, err := b.start(ctx, "get", key)
	if err != nil {
		return nil, false, err
	}
	defer cancel()
	v, err := b.client.Do(ctx, b.client.B().Get().Key(b.prefix+key).Build()).AsBytes()
	if err != nil {
		if rueidis.IsRedisNil(err) {
			return nil, false, nil
		}
		return nil, false, wrapErr("get", key, err)
	}
	if v == nil {
		v = []byte{}
	}
	return v, true, nil
}

// GetWithTTL returns the value stored under key and its remaining lifetime
// (0: no expiry) in one round trip: GET and PTTL are written together and
// answered together (rueidis DoMulti). Should the key expire between the
// two, the read is a miss. The pair is not a transaction: Redis runs
// commands that arrive in one read back to back, but if another client's
// overwrite slipped in between, remaining would belong to the newer entry;
// the value read is then as stale as an in-process copy taken just before
// that overwrite, which a cache accepts anyway.
func (b *Backend) GetWithTTL(ctx context.Context, key string) ([]byte, time.Duration, bool, error) {
	ctx, cancel, err := b.start(ctx, "get", key)
	if err != nil {
		return nil, 0, false, err
	}
	defer cancel()
	k := b.prefix + key
	res := b.client.DoMulti(ctx, b.client.B().Get().Key(k).Build(), b.client.B().Pttl().Key(k).Build())
	v, err := res[0].AsBytes()
	if err != nil {
		if rueidis.IsRedisNil(err) {
			return nil, 0, false, nil
		}
		return nil, 0, false, wrapErr("get", key, err)
	}
	ms, err := res[1].AsInt64()
	if err != nil {
		return nil, 0, false, wrapErr("get", key, err)
	}
	var rem time.Duration
	switch {
	case ms == -2: // expired (or deleted) right after the GET
		return nil, 0, false, nil
	case ms > 0:
		rem = time.Duration(ms) * time.Millisecond
	case ms == 0: // in its last millisecond: expiring, not "no expiry"
		rem = time.Nanosecond
	}
	if v == nil {
		v = []byte{}
	}
	return v, rem, true, nil
}

// Set stores value under key for ttl (0: no expiry), with SET ... PX.
// Sub-millisecond TTLs are rounded up to 1 ms.
func (b *Backend) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if ttl < 0 {
		return backend.NewError(backend.Permanent, backendName, "set", key, errNegativeTTL)
	}
	ctx, cancel, err := b.start(ctx, "set", key)
	if err != nil {
		return err
	}
	defer cancel()
	// string(value) copies: the command may still sit in the write queue
	// when a cancelled Do returns, and must not see the caller's later edits.
	cmd := b.client.B().Set().Key(b.prefix + key).Value(string(value))
	var err2 error
	if ttl > 0 {
		err2 = b.client.Do(ctx, cmd.PxMilliseconds(millis(ttl)).Build()).Error()
	} else {
		err2 = b.client.Do(ctx, cmd.Build()).Error()
	}
	if err2 != nil {
		return wrapErr("set", key, err2)
	}
	return nil
}

// Delete removes key and reports whether it existed.
func (b *Backend) Delete(ctx context.Context, key string) (bool, error) {
	ctx, cancel, err := b.start(ctx, "delete", key)
	if err != nil {
		return false, err
	}
	defer cancel()
	n, err := b.client.Do(ctx, b.client.B().Del().Key(b.prefix+key).Build()).AsInt64()
	if err != nil {
		return false, wrapErr("delete", key, err)
	}
	return n > 0, nil
}

// Exists reports whether key holds a value.
func (b *Backend) Exists(ctx context.Context, key string) (bool, error) {
	ctx, cancel, err := b.start(ctx, "exists", key)
	if err != nil {
		return false, err
	}
	defer cancel()
	n, err := b.client.Do(ctx, b.client.B().Exists().Key(b.prefix+key).Build()).AsInt64()
	if err != nil {
		return false, wrapErr("exists", key, err)
	}
	return n > 0, nil
}

// HealthCheck sends PING and reports its round trip. details holds
// backend_type "redis", latency_ms, mode and, when unhealthy, error (without
// secrets).
func (b *Backend) HealthCheck(ctx context.Context) (bool, map[string]any) {
	details := map[string]any{
		backend.DetailBackendType: backendName,
		backend.DetailLatencyMS:   0.0,
		DetailMode:                b.mode,
	}
	ctx, cancel, err := b.start(ctx, "health", "")
	if err != nil {
		details[backend.DetailError] = err.Error()
		return false, details
	}
	defer cancel()
	began := time.Now()
	err = b.client.Do(ctx, b.client.B().Ping().Build()).Error()
	details[backend.DetailLatencyMS] = float64(time.Since(began).Microseconds()) / 1000
	if err != nil {
		details[backend.DetailError] = wrapErr("health", "", err).Error()
		return false, details
	}
	return true, details
}

// TTL returns the remaining lifetime of key (PTTL): (0, true) for an entry
// without expiry, (0, false) for a missing key.
func (b *Backend) TTL(ctx context.Context, key string) (time.Duration, bool, error) {
	ctx, cancel, err := b.start(ctx, "ttl", key)
	if err != nil {
		return 0, false, err
	}
	defer cancel()
	ms, err := b.client.Do(ctx, b.client.B().Pttl().Key(b.prefix+key).Build()).AsInt64()
	if err != nil {
		return 0, false, wrapErr("ttl", key, err)
	}
	switch {
	case ms == -2:
		return 0, false, nil
	case ms < 0:
		return 0, true, nil
	default:
		return time.Duration(ms) * time.Millisecond, true, nil
	}
}

// persistScript removes the expiry of an existing key and reports whether it
// existed (PERSIST alone cannot tell "missing" from "had no expiry").
var persistScript = rueidis.NewLuaScript(`
if redis.call("EXISTS", KEYS[1]) == 0 then return 0 end
redis.call("PERSIST", KEYS[1])
return 1`)

// RefreshTTL gives an existing key a new lifetime (PEXPIRE) and reports
// whether it existed. ttl 0 removes the expiry, as it means "no expiry" for
// Set; a negative ttl is an error.
func (b *Backend) RefreshTTL(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if ttl < 0 {
		return false, backend.NewError(backend.Permanent, backendName, "refresh_ttl", key, errNegativeTTL)
	}
	ctx, cancel, err := b.start(ctx, "refresh_ttl", key)
	if err != nil {
		return false, err
	}
	defer cancel()
	var n int64
	if ttl == 0 {
		n, err = persistScript.Exec(ctx, b.client, []string{b.prefix + key}, nil).AsInt64()
	} else {
		n, err = b.client.Do(ctx, b.client.B().Pexpire().Key(b.prefix+key).Milliseconds(millis(ttl)).Build()).AsInt64()
	}
	if err != nil {
		return false, wrapErr("refresh_ttl", key, err)
	}
	return n == 1, nil
}

// errNegativeTTL is the cause of the error for a negative TTL.
var errNegativeTTL = errors.New("negative ttl")

// millis converts d to whole milliseconds, rounding up so that a positive
// duration never becomes 0 (which Redis rejects or treats as "now").
func millis(d time.Duration) int64 {
	ms := int64(d / time.Millisecond)
	if d%time.Millisecond != 0 {
		ms++ // no overflow: d/time.Millisecond is far below MaxInt64
	}
	return ms
}

// newToken returns a random lock id: 128 bits, base32.
func newToken() string { return rand.Text() }

// hasHashTag reports whether Redis Cluster hashes k by a hash tag: a "{"
// followed later by a "}" with at least one byte between the first such
// pair.
func hasHashTag(k string) bool {
	open := strings.IndexByte(k, '{')
	if open < 0 {
		return false
	}
	end := strings.IndexByte(k[open+1:], '}')
	return end > 0
}

// lockKey names the lock of the stored key k (prefix included); see the
// package documentation for the scheme.
func (b *Backend) lockKey(k string) string {
	if b.refLocks || k == "" || hasHashTag(k) || strings.Contains(k, "}") {
		return k + ":lock"
	}
	return "{" + k + "}:lock"
}

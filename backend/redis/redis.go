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
	link     *link
	owned    bool // Close closes the link (false for WithTimeout copies)
	prefix   string
	timeout  time.Duration // <= 0: none
	refLocks bool
}

// Compile-time checks of the capabilities.
var (
	_ backend.Backend       = (*Backend)(nil)
	_ backend.Locker        = (*Backend)(nil)
	_ backend.TTLInspector  = (*Backend)(nil)
	_ backend.TTLGetter     = (*Backend)(nil)
	_ backend.TimeoutSetter = (*Backend)(nil)
	_ backend.MultiSetter   = (*Backend)(nil)
)

// New returns a Backend for the Redis that opts describes. It fails at once
// for Options that cannot work (ErrInvalidOptions), and when the server
// answers the first connection attempt with a refusal that retrying cannot
// fix: wrong credentials (a *backend.Error of Kind Authentication, Op
// "connect"), an unknown database, a failed TLS verification.
//
// It succeeds while Redis is unreachable, refusing connections or hung: the
// connection is then made in the background (retried after 50 ms, doubling
// up to once a second), and until it is made every operation fails at once
// with an error matching ErrNotConnected, of Kind Transient (or
// Authentication, when the server, once reachable, refused the
// credentials). New waits for the first attempt for at most a second, so a
// reachable server is connected when it returns.
func New(opts Options) (*Backend, error) {
	co, err := clientOption(opts)
	if err != nil {
		return nil, err
	}
	l := connectLink(co, opts.mode())
	select {
	case err := <-l.first:
		if err != nil && fatalAtStart(err) {
			l.close()
			return nil, wrapErr("connect", "", err)
		}
	case <-time.After(connectWait):
	}
	b := newBackend(l, opts)
	b.owned = true
	return b, nil
}

// NewFromURL is ParseURL followed by New: a malformed URL fails here, an
// unreachable server does not.
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
	return newBackend(readyLink(c, false), opts)
}

func newBackend(l *link, opts Options) *Backend {
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	return &Backend{
		link:     l,
		prefix:   opts.KeyPrefix,
		timeout:  timeout,
		refLocks: opts.ReferenceLockKeys,
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
	// Fail fast. rueidis retries a read that failed on the network until
	// the context ends (with 5 s of Timeout, a refused connection cost 5 s):
	// one immediate retry is kept, for a command caught on a connection the
	// server just closed, which then succeeds on a fresh one; then the error
	// goes to the cache, which serves without the backend.
	co.RetryDelay = func(attempts int, _ rueidis.Completed, _ error) time.Duration {
		if attempts <= maxRetries {
			return 0
		}
		return -1
	}
	// A connection that stops answering (a hung server, a blackholed
	// network) is PINGed after a second of silence and dropped when the PING
	// gets no answer within ConnTimeout; the next command dials anew.
	co.ConnWriteTimeout = o.ConnTimeout
	if co.ConnWriteTimeout <= 0 {
		co.ConnWriteTimeout = DefaultConnTimeout
	}
	// The cache keeps its own in-process layer; server-assisted client-side
	// caching would only add CLIENT TRACKING traffic.
	co.DisableCache = true
	return co, nil
}

// Close closes the connections if New or NewFromURL made them (for every
// copy WithTimeout made too) and stops connecting in the background. It does
// nothing for NewFromClient backends and for WithTimeout copies.
func (b *Backend) Close() {
	if b.owned {
		b.link.close()
	}
}

// Client returns the underlying rueidis client, for commands this package
// does not wrap, or nil while New is still connecting in the background.
// Keys written through it do not get KeyPrefix.
func (b *Backend) Client() rueidis.Client { return b.link.current() }

// WithTimeout returns a copy of b whose operations are each bounded by d (d
// <= 0: no bound beyond the caller's context). The copy shares b's
// connections; b is unchanged.
func (b *Backend) WithTimeout(d time.Duration) backend.Backend {
	c := *b
	c.timeout = d
	c.owned = false
	return &c
}

// start returns the client and applies the timeout to ctx. It fails fast,
// before anything is sent, when ctx is already done and while there is no
// connection yet.
func (b *Backend) start(ctx context.Context, op, key string) (context.Context, context.CancelFunc, rueidis.Client, error) {
	if err := ctx.Err(); err != nil {
		return ctx, nil, nil, wrapErr(op, key, err)
	}
	c, err := b.link.get(op, key)
	if err != nil {
		return ctx, nil, nil, err
	}
	if b.timeout > 0 && !deadlineWithin(ctx, b.timeout) {
		ctx, cancel := context.WithTimeout(ctx, b.timeout)
		return ctx, cancel, c, nil
	}
	return ctx, noCancel, c, nil
}

func noCancel() {}

// deadlineWithin reports whether ctx already ends within d from now. The
// cache bounds every backend call with its own budget, usually shorter than
// the backend's timeout: a second timer context would change nothing but
// cost a timer and four allocations per call.
func deadlineWithin(ctx context.Context, d time.Duration) bool {
	dl, ok := ctx.Deadline()
	return ok && time.Until(dl) <= d
}

// Get returns the value stored under key.
func (b *Backend) Get(ctx context.Context, key string) ([]byte, bool, error) {
	ctx, cancel, c, err := b.start(ctx, "get", key)
	if err != nil {
		return nil, false, err
	}
	defer cancel()
	v, err := c.Do(ctx, c.B().Get().Key(b.prefix+key).Build()).AsBytes()
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
	ctx, cancel, c, err := b.start(ctx, "get", key)
	if err != nil {
		return nil, 0, false, err
	}
	defer cancel()
	k := b.prefix + key
	res := c.DoMulti(ctx, c.B().Get().Key(k).Build(), c.B().Pttl().Key(k).Build())
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
	ctx, cancel, c, err := b.start(ctx, "set", key)
	if err != nil {
		return err
	}
	defer cancel()
	// string(value) copies: the command may still sit in the write queue
	// when a cancelled Do returns, and must not see the caller's later edits.
	cmd := c.B().Set().Key(b.prefix + key).Value(string(value))
	var err2 error
	if ttl > 0 {
		err2 = c.Do(ctx, cmd.PxMilliseconds(millis(ttl)).Build()).Error()
	} else {
		err2 = c.Do(ctx, cmd.Build()).Error()
	}
	if err2 != nil {
		return wrapErr("set", key, err2)
	}
	return nil
}

// SetMulti stores every item as Set does, in one round trip: the SETs are
// pipelined (rueidis DoMulti; on a Cluster each node gets the commands of
// its slots, one key's in order). It implements backend.MultiSetter. The
// values are copied into one string first, so that a command still in
// rueidis's write queue when a cancelled call returns never sees the
// caller's later edits (one allocation instead of one per value).
func (b *Backend) SetMulti(ctx context.Context, items []backend.SetItem) []error {
	errs := make([]error, len(items))
	if len(items) == 0 {
		return errs
	}
	ctx, cancel, c, err := b.start(ctx, "set", items[0].Key)
	if err != nil {
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	defer cancel()
	total := 0
	for _, it := range items {
		total += len(it.Value)
	}
	var buf strings.Builder
	buf.Grow(total)
	for _, it := range items {
		buf.Write(it.Value)
	}
	all := buf.String()
	cmds := make(rueidis.Commands, 0, len(items))
	sent := make([]int, 0, len(items)) // item of each command
	off := 0
	for i, it := range items {
		v := all[off : off+len(it.Value)]
		off += len(it.Value)
		if it.TTL < 0 {
			errs[i] = backend.NewError(backend.Permanent, backendName, "set", it.Key, errNegativeTTL)
			continue
		}
		cmd := c.B().Set().Key(b.prefix + it.Key).Value(v)
		if it.TTL > 0 {
			cmds = append(cmds, cmd.PxMilliseconds(millis(it.TTL)).Build())
		} else {
			cmds = append(cmds, cmd.Build())
		}
		sent = append(sent, i)
	}
	if len(cmds) == 0 {
		return errs
	}
	for j, r := range c.DoMulti(ctx, cmds...) {
		if err := r.Error(); err != nil {
			i := sent[j]
			errs[i] = wrapErr("set", items[i].Key, err)
		}
	}
	return errs
}

// Delete removes key and reports whether it existed.
func (b *Backend) Delete(ctx context.Context, key string) (bool, error) {
	ctx, cancel, c, err := b.start(ctx, "delete", key)
	if err != nil {
		return false, err
	}
	defer cancel()
	n, err := c.Do(ctx, c.B().Del().Key(b.prefix+key).Build()).AsInt64()
	if err != nil {
		return false, wrapErr("delete", key, err)
	}
	return n > 0, nil
}

// Exists reports whether key holds a value.
func (b *Backend) Exists(ctx context.Context, key string) (bool, error) {
	ctx, cancel, c, err := b.start(ctx, "exists", key)
	if err != nil {
		return false, err
	}
	defer cancel()
	n, err := c.Do(ctx, c.B().Exists().Key(b.prefix+key).Build()).AsInt64()
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
		DetailMode:                b.link.mode,
	}
	if c := b.link.current(); c != nil {
		details[DetailMode] = string(c.Mode())
	}
	ctx, cancel, c, err := b.start(ctx, "health", "")
	if err != nil {
		details[backend.DetailError] = err.Error()
		return false, details
	}
	defer cancel()
	began := time.Now()
	err = c.Do(ctx, c.B().Ping().Build()).Error()
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
	ctx, cancel, c, err := b.start(ctx, "ttl", key)
	if err != nil {
		return 0, false, err
	}
	defer cancel()
	ms, err := c.Do(ctx, c.B().Pttl().Key(b.prefix+key).Build()).AsInt64()
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
	ctx, cancel, c, err := b.start(ctx, "refresh_ttl", key)
	if err != nil {
		return false, err
	}
	defer cancel()
	var n int64
	if ttl == 0 {
		n, err = persistScript.Exec(ctx, c, []string{b.prefix + key}, nil).AsInt64()
	} else {
		n, err = c.Do(ctx, c.B().Pexpire().Key(b.prefix+key).Milliseconds(millis(ttl)).Build()).AsInt64()
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

// HonoursContext reports false (backend.ContextHonourer): rueidis waits for
// a reply on the context, but a command issued while its connection is
// being re-established waits for that dial and handshake (up to
// Options.DialTimeout) whatever its context says. Against a blackholed
// server a 50 ms read then took a second.
func (b *Backend) HonoursContext() bool { return false }

// HonoursContextWhileHealthy reports true
// (backend.HealthyContextHonourer): with its connections up, every read
// waits for its reply on the context (TestHungServerHonoursContext). The
// cache reads inline only while no failure was seen for a while, and
// through a goroutine that bounds the read otherwise.
func (b *Backend) HonoursContextWhileHealthy() bool { return true }

// ReadBudget is the default read budget the cache gives this backend
// (backend.ReadBudgeter): backend.LocalReadBudget.
func (b *Backend) ReadBudget() time.Duration { return backend.LocalReadBudget }

package store

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
)

// DefaultRedisPrefix starts every Redis key the store writes.
const DefaultRedisPrefix = "ckd"

// DefaultRedisTimeout bounds each store operation (its Redis round trips
// together) when the caller's context has no earlier deadline. It is well
// below the SDKs' default request timeout (5 s), so that when Redis stalls a
// client gets cachekitd's 503 (and retries or falls back) instead of timing
// out itself at the moment cachekitd would have answered.
const DefaultRedisTimeout = time.Second

// RedisOptions configure NewRedis.
//
// Layout, for operators: an entry is a hash `<prefix>:{<tenant>:<key>}` with
// fields v (the value) and s (the stale window in ms), whose Redis TTL is the
// fresh TTL plus the stale window (no Redis TTL for an entry stored without
// expiry); its lock is `<prefix>:{<tenant>:<key>}:lock`
// (SET NX PX with a random id, released by a compare-and-delete script). The
// hash tag covers tenant and key, so an entry and its lock share a Cluster
// slot while different keys spread over the cluster. Freshness is computed
// from PTTL and s inside one script (remaining fresh = PTTL - s), so it needs
// no clock shared between replicas, and refreshing a TTL keeps the window.
//
// Per-tenant limits are approximate. With a limit set, each tenant has an
// index in its own slot (`<prefix>:idx:{<tenant>}` write order,
// `<prefix>:exp:{<tenant>}` expiry, `<prefix>:sz:{<tenant>}` sizes and total)
// updated after each write (and TTL refresh); when the tenant is over its
// limit the oldest writes are evicted. The index and the entries live in different slots, so
// they are updated in two steps, expiry in the index uses this replica's
// clock, and concurrent writers may briefly overshoot. Without limits there is
// no index and no extra round trip. Bound the whole instance with Redis'
// maxmemory and an eviction policy.
type RedisOptions struct {
	// Addrs are host:port seeds; a Cluster is detected automatically.
	Addrs    []string
	Username string
	Password string
	// DB selects a database (standalone only).
	DB int
	// TLS, when set, connects over TLS.
	TLS *tls.Config
	// Prefix starts every key (DefaultRedisPrefix when empty).
	Prefix string
	// Tenant limits, enforced approximately (see above).
	Tenant Limits
	// Timeout bounds each operation (DefaultRedisTimeout when 0).
	Timeout time.Duration
	// ClientName, when set, names every connection (CLIENT SETNAME), so
	// that operators (and tests) can tell cachekitd's connections apart in
	// CLIENT LIST.
	ClientName string
}

// Redis is the Redis/Valkey store. Several cachekitd processes pointed at the
// same Redis share entries, TTLs and locks.
type Redis struct {
	c       rueidis.Client
	prefix  string
	lim     Limits
	timeout time.Duration
	evicted atomic.Int64
}

var _ Store = (*Redis)(nil)

// ErrRedis wraps every failure of a Redis round trip.
var ErrRedis = errors.New("store: redis")

// NewRedis connects to Redis and checks the connection.
func NewRedis(ctx context.Context, o RedisOptions) (*Redis, error) {
	if len(o.Addrs) == 0 {
		return nil, fmt.Errorf("%w: no addresses", ErrRedis)
	}
	if o.Prefix == "" {
		o.Prefix = DefaultRedisPrefix
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultRedisTimeout
	}
	c, err := rueidis.NewClient(rueidis.ClientOption{
		InitAddress:  o.Addrs,
		Username:     o.Username,
		Password:     o.Password,
		SelectDB:     o.DB,
		TLSConfig:    o.TLS,
		DisableCache: true,
		ClientName:   o.ClientName,
		// Connecting (dial and handshake) gets the same bound as an
		// operation, so a stalled Redis fails the start just as fast.
		Dialer: net.Dialer{Timeout: o.Timeout, KeepAlive: rueidis.DefaultTCPKeepAlive},
	})
	if err != nil {
		return nil, fmt.Errorf("%w: connect: %w", ErrRedis, err)
	}
	r := &Redis{c: c, prefix: o.Prefix, lim: o.Tenant, timeout: o.Timeout}
	if err := r.Ping(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return r, nil
}

// Name implements Store.
func (r *Redis) Name() string { return "redis" }

func (r *Redis) entryKey(tenant, key string) string {
	return r.prefix + ":{" + tenant + ":" + key + "}"
}
func (r *Redis) lockKey(tenant, key string) string {
	return r.prefix + ":{" + tenant + ":" + key + "}:lock"
}
func (r *Redis) indexKeys(tenant string) []string {
	t := "{" + tenant + "}"
	return []string{r.prefix + ":idx:" + t, r.prefix + ":exp:" + t, r.prefix + ":sz:" + t}
}

func (r *Redis) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	if d, ok := ctx.Deadline(); ok && time.Until(d) < r.timeout {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, r.timeout)
}

func wrap(op string, err error) error { return fmt.Errorf("%w: %s: %w", ErrRedis, op, err) }

var (
	luaGet = rueidis.NewLuaScriptReadOnly(`
local r = redis.call('HMGET', KEYS[1], 'v', 's')
if not r[1] then return nil end
return {r[1], r[2] or '0', redis.call('PTTL', KEYS[1])}`)
	luaStat = rueidis.NewLuaScriptReadOnly(`
if redis.call('EXISTS', KEYS[1]) == 0 then return nil end
local s = redis.call('HGET', KEYS[1], 's') or '0'
return {redis.call('HSTRLEN', KEYS[1], 'v'), s, redis.call('PTTL', KEYS[1])}`)
	// ARGV: value, lifetime ms (0: no expiry), stale window ms.
	luaSet = rueidis.NewLuaScript(`
local existed = redis.call('EXISTS', KEYS[1])
redis.call('HSET', KEYS[1], 'v', ARGV[1], 's', ARGV[3])
if tonumber(ARGV[2]) > 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
else
  redis.call('PERSIST', KEYS[1])
end
return existed`)
	// Returns the entry's stale window in ms, or -1 when it does not exist.
	luaRefresh = rueidis.NewLuaScript(`
local s = redis.call('HGET', KEYS[1], 's')
if not s then return -1 end
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1]) + tonumber(s))
return tonumber(s)`)
	luaRelease = rueidis.NewLuaScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)
	// KEYS: idx (score: write time), exp (score: expiry), sz (sizes, #total).
	// ARGV: member, expireAtMs, size, nowMs, maxEntries, maxBytes.
	luaIndexAdd = rueidis.NewLuaScript(`
local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[4], 'LIMIT', 0, 100)
for _, m in ipairs(gone) do
  local sz = tonumber(redis.call('HGET', KEYS[3], m) or '0')
  redis.call('HDEL', KEYS[3], m)
  redis.call('HINCRBY', KEYS[3], '#total', -sz)
  redis.call('ZREM', KEYS[1], m)
  redis.call('ZREM', KEYS[2], m)
end
local old = tonumber(redis.call('HGET', KEYS[3], ARGV[1]) or '0')
redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
local total = redis.call('HINCRBY', KEYS[3], '#total', tonumber(ARGV[3]) - old)
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
local maxE, maxB = tonumber(ARGV[5]), tonumber(ARGV[6])
local evicted = {}
while (maxE > 0 and redis.call('ZCARD', KEYS[1]) > maxE) or (maxB > 0 and total > maxB) do
  local p = redis.call('ZRANGE', KEYS[1], 0, 0)
  local m = p[1]
  if m == nil or m == ARGV[1] then break end
  local sz = tonumber(redis.call('HGET', KEYS[3], m) or '0')
  redis.call('HDEL', KEYS[3], m)
  total = redis.call('HINCRBY', KEYS[3], '#total', -sz)
  redis.call('ZREM', KEYS[1], m)
  redis.call('ZREM', KEYS[2], m)
  evicted[#evicted + 1] = m
end
return evicted`)
	// KEYS: idx, exp, sz. ARGV: member.
	luaIndexDel = rueidis.NewLuaScript(`
local sz = redis.call('HGET', KEYS[3], ARGV[1])
if sz then
  redis.call('HDEL', KEYS[3], ARGV[1])
  redis.call('HINCRBY', KEYS[3], '#total', -tonumber(sz))
end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1`)
)

// decodeInfo turns the {size-or-value, s, pttl} reply into Info.
func decodeInfo(size int, s string, pttl int64) Info {
	window, _ := strconv.ParseInt(s, 10, 64)
	if pttl < 0 { // -1: no expiry (Set with ttl 0)
		return Info{Size: size, NoExpiry: true}
	}
	in := Info{Size: size, HasStaleWindow: window > 0}
	fresh := pttl - window
	if fresh <= 0 {
		in.Stale = true
	} else {
		in.TTL = time.Duration(fresh) * time.Millisecond
	}
	return in
}

// Get implements Store.
func (r *Redis) Get(ctx context.Context, tenant, key string) (Entry, bool, error) {
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	arr, err := luaGet.Exec(ctx, r.c, []string{r.entryKey(tenant, key)}, nil).ToArray()
	if rueidis.IsRedisNil(err) {
		return Entry{}, false, nil
	}
	if err != nil || len(arr) != 3 {
		return Entry{}, false, wrap("get", errors.Join(err, errShape(len(arr), 3)))
	}
	v, err1 := arr[0].AsBytes()
	s, err2 := arr[1].ToString()
	pttl, err3 := arr[2].AsInt64()
	if err := errors.Join(err1, err2, err3); err != nil {
		return Entry{}, false, wrap("get", err)
	}
	return Entry{Info: decodeInfo(len(v), s, pttl), Value: v}, true, nil
}

func errShape(got, want int) error {
	if got == want {
		return nil
	}
	return fmt.Errorf("unexpected reply of %d elements", got)
}

// Stat implements Store.
func (r *Redis) Stat(ctx context.Context, tenant, key string) (Info, bool, error) {
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	arr, err := luaStat.Exec(ctx, r.c, []string{r.entryKey(tenant, key)}, nil).ToArray()
	if rueidis.IsRedisNil(err) {
		return Info{}, false, nil
	}
	if err != nil || len(arr) != 3 {
		return Info{}, false, wrap("stat", errors.Join(err, errShape(len(arr), 3)))
	}
	size, err1 := arr[0].AsInt64()
	s, err2 := arr[1].ToString()
	pttl, err3 := arr[2].AsInt64()
	if err := errors.Join(err1, err2, err3); err != nil {
		return Info{}, false, wrap("stat", err)
	}
	return decodeInfo(int(size), s, pttl), true, nil
}

func (r *Redis) limited() bool { return r.lim.MaxEntries > 0 || r.lim.MaxBytes > 0 }

// Set implements Store.
func (r *Redis) Set(ctx context.Context, tenant, key string, value []byte, ttl, staleTTL time.Duration) (bool, error) {
	size := EntrySize(len(key), len(value))
	if r.lim.MaxBytes > 0 && size > r.lim.MaxBytes {
		return false, ErrTooLarge
	}
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	ttlMS, staleMS := ttl.Milliseconds(), max(staleTTL, 0).Milliseconds()
	if ttl <= 0 { // no expiry, hence no stale window
		ttlMS, staleMS = 0, 0
	}
	existed, err := luaSet.Exec(ctx, r.c, []string{r.entryKey(tenant, key)},
		[]string{rueidis.BinaryString(value), strconv.FormatInt(ttlMS+staleMS, 10), strconv.FormatInt(staleMS, 10)}).AsInt64()
	if err != nil {
		return false, wrap("set", err)
	}
	if r.limited() {
		now := time.Now().UnixMilli()
		expireAt := "+inf"
		if ttlMS > 0 {
			expireAt = strconv.FormatInt(now+ttlMS+staleMS, 10)
		}
		evicted, err := luaIndexAdd.Exec(ctx, r.c, r.indexKeys(tenant), []string{key,
			expireAt, strconv.FormatInt(size, 10), strconv.FormatInt(now, 10),
			strconv.FormatInt(r.lim.MaxEntries, 10), strconv.FormatInt(r.lim.MaxBytes, 10)}).AsStrSlice()
		if err != nil {
			return false, wrap("set: tenant index", err)
		}
		if len(evicted) > 0 {
			cmds := make(rueidis.Commands, 0, len(evicted))
			for _, k := range evicted {
				cmds = append(cmds, r.c.B().Del().Key(r.entryKey(tenant, k)).Build())
			}
			for _, res := range r.c.DoMulti(ctx, cmds...) {
				if err := res.Error(); err != nil {
					return false, wrap("set: evict", err)
				}
			}
			r.evicted.Add(int64(len(evicted)))
		}
	}
	return existed == 0, nil
}

// Delete implements Store.
func (r *Redis) Delete(ctx context.Context, tenant, key string) (bool, error) {
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	n, err := r.c.Do(ctx, r.c.B().Del().Key(r.entryKey(tenant, key)).Build()).AsInt64()
	if err != nil {
		return false, wrap("delete", err)
	}
	if r.limited() {
		if err := luaIndexDel.Exec(ctx, r.c, r.indexKeys(tenant), []string{key}).Error(); err != nil {
			return false, wrap("delete: tenant index", err)
		}
	}
	return n > 0, nil
}

// RefreshTTL implements Store.
func (r *Redis) RefreshTTL(ctx context.Context, tenant, key string, ttl time.Duration) (bool, error) {
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	ttlMS := ttl.Milliseconds()
	window, err := luaRefresh.Exec(ctx, r.c, []string{r.entryKey(tenant, key)}, []string{strconv.FormatInt(ttlMS, 10)}).AsInt64()
	if err != nil {
		return false, wrap("refresh ttl", err)
	}
	if window < 0 {
		return false, nil
	}
	if r.limited() {
		// Move the entry's expiry in the tenant index too, or the index
		// would drop it (and stop counting its bytes) at the old expiry
		// while the entry lives on. XX: never re-add a member evicted
		// meanwhile.
		exp := r.indexKeys(tenant)[1]
		at := float64(time.Now().UnixMilli() + ttlMS + window)
		if err := r.c.Do(ctx, r.c.B().Zadd().Key(exp).Xx().ScoreMember().ScoreMember(at, key).Build()).Error(); err != nil {
			return false, wrap("refresh ttl: tenant index", err)
		}
	}
	return true, nil
}

// AcquireLock implements Store.
func (r *Redis) AcquireLock(ctx context.Context, tenant, key string, hold time.Duration) (string, bool, error) {
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	id := rand.Text()
	err := r.c.Do(ctx, r.c.B().Set().Key(r.lockKey(tenant, key)).Value(id).Nx().PxMilliseconds(max(hold.Milliseconds(), 1)).Build()).Error()
	if rueidis.IsRedisNil(err) {
		return "", false, nil
	}
	if err != nil {
		return "", false, wrap("lock", err)
	}
	return id, true, nil
}

// ReleaseLock implements Store.
func (r *Redis) ReleaseLock(ctx context.Context, tenant, key, lockID string) (bool, error) {
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	n, err := luaRelease.Exec(ctx, r.c, []string{r.lockKey(tenant, key)}, []string{lockID}).AsInt64()
	if err != nil {
		return false, wrap("unlock", err)
	}
	return n == 1, nil
}

// Ping implements Store.
func (r *Redis) Ping(ctx context.Context) error {
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	if err := r.c.Do(ctx, r.c.B().Ping().Build()).Error(); err != nil {
		return wrap("ping", err)
	}
	return nil
}

// Stats implements Store. Entry and byte counts are unknown (-1); evictions
// are those this process performed.
func (r *Redis) Stats() Stats {
	return Stats{Entries: -1, Bytes: -1, Evictions: r.evicted.Load(), Expired: -1}
}

// Close implements Store.
func (r *Redis) Close() error {
	r.c.Close()
	return nil
}

// Package redis is the Redis backend of cachekit-go: standalone servers,
// Redis Cluster and Sentinel-managed masters behind one constructor. It
// implements backend.Backend and the optional backend.Locker,
// backend.TTLInspector, backend.TTLGetter, backend.TimeoutSetter,
// backend.PrefixDeleter, backend.Invalidator and backend.KeyLister (for
// operators' tools such as `cachekit scan`: SCAN over every master, DBSIZE
// for the total).
//
// # Connecting
//
// Build an Options value, or parse a URL with ParseURL (NewFromURL does both):
//
//	redis://localhost:6379/0                               standalone, database 0
//	rediss://user:secret@cache.example.com:6380            TLS, ACL user and password
//	redis://10.0.0.1:7000,10.0.0.2:7000,10.0.0.3:7000      cluster (several seeds)
//	redis://10.0.0.1:7000?cluster=true                     cluster (one seed)
//	redis://:secret@s1:26379,s2:26379/0?master_set=mymaster  sentinel
//
// The comma list of hosts follows common Redis client practice; repeated
// addr= parameters (rueidis's form) work too. Sentinel URLs use rueidis's
// master_set parameter, and list the Sentinels as hosts; the user and
// password are those of the data nodes, sentinel_username and
// sentinel_password those of the Sentinels. Options.String and every error
// leave passwords out, and ParseURL never echoes the URL in an error.
//
// Applications that already have a rueidis.Client pass it to NewFromClient.
//
// # When Redis is down
//
// New (and NewFromURL) succeed while Redis is unreachable, refusing
// connections or hung, so a service can start without it: the connection is
// made in the background (retried after 50 ms, doubling up to once a
// second), and until then every operation fails at once with a Transient
// error matching ErrNotConnected, which the cache treats as a miss. A
// misconfiguration still fails New: a malformed URL or inconsistent Options
// always, and wrong credentials, an unknown database or a failed TLS
// verification when the server is reachable at start; when it becomes
// reachable only later, the operations report wrong credentials as
// Authentication errors.
//
// Once connected, a dead server costs milliseconds, not the operation's
// timeout: a read that fails on the network is retried once, at once, on a
// fresh connection (rueidis would otherwise retry it until the context ends),
// then the error is returned. A connection that stops answering (a hung
// server, a blackholed network) is PINGed after a second of silence and
// dropped when the PING goes unanswered for Options.ConnTimeout
// (DefaultConnTimeout, 1 s); dials are bounded by Options.DialTimeout
// (DefaultDialTimeout, 1 s), which is also how long a command can wait for a
// dial that other commands share. Operations on a hung connection end with
// their context or Options.Timeout, whichever comes first. After the server
// returns, the next command reconnects.
//
// # Why rueidis
//
// github.com/redis/rueidis pipelines automatically: concurrent commands from
// many goroutines share a few connections and are flushed together, so a
// cache under load sends many GETs per write system call instead of checking
// a connection out of a pool for each. It also follows Cluster redirects and
// Sentinel failovers by itself. Its server-assisted client-side caching is
// turned off: cachekit-go keeps its own in-process layer.
//
// # Invalidations between processes
//
// The backend carries cachekit's L1 invalidation messages
// (backend.Invalidator) over Redis Pub/Sub: one channel per key prefix,
// InvalidationChannelPrefix + Options.KeyPrefix, so caches with different
// prefixes (tenants, namespaces) never hear each other. A message is a small
// JSON object with the sender's id, its sequence number and the changed keys
// (or a cleared prefix), never values. On a Cluster it uses sharded Pub/Sub
// (SPUBLISH/SSUBSCRIBE, Redis 7.0 or later): a message then travels only
// within the shard that owns the channel's slot instead of being broadcast
// over the whole cluster bus. Each subscribing cache holds one dedicated
// connection, redialed with backoff when it breaks; a break is reported at
// once (the cache then bounds its L1 entries and flushes L1 when the
// subscription is back).
//
// Why Pub/Sub and not RESP3 client-side caching (CLIENT TRACKING, which
// rueidis supports): tracking reports every key the server sees modified,
// but it cannot carry the sender (a cache would evict the entry it just
// stored, unless every write went over the tracking connection) nor a
// sequence number, it needs per-node BCAST registrations and redirection
// handling on a Cluster, and it notifies in the server's key space, with the
// prefix, which is the backend's business rather than the cache's. Pub/Sub
// is one channel and one connection with explicit messages; the cost is that
// only cachekit-go writers announce their changes (a write by another
// client, such as cachekit-py, is seen when the L1 copy expires).
//
// # Keys and locks
//
// Every key gets Options.KeyPrefix in front (ReferenceKeyPrefix, "t:default:",
// is where cachekit-py's default provider keeps its entries).
//
// A lock is a separate key holding a random 128-bit token, taken with
// SET <lock> <token> NX PX <hold>; release (and ExtendLock) run a Lua script
// that acts only while the key still holds the caller's token, so a holder
// whose lock expired cannot release its successor's lock. The lock of stored
// key K (prefix included) is named:
//
//   - "{K}:lock" when K has no hash tag and no "}": the hash tag is all of K,
//     so Redis Cluster puts the lock in K's slot;
//   - "K:lock" when K already has a hash tag (a "{" followed later by a "}"
//     with something between): Cluster hashes only the tag, which appending
//     ":lock" does not change, so again the same slot;
//   - "K:lock" when K contains a "}" without forming a tag. No lock name can
//     share K's slot then (a tag cannot contain "}"); such keys never come
//     from cachekit's key builders, and the lock works all the same, only in
//     another slot.
//
// cachekit-py names every lock "K:lock" (redis-py's Lock under
// "<scoped key>:lock"). That agrees with the scheme above for tagged keys
// only; set Options.ReferenceLockKeys (URL: reference_lock_keys=true) when Go
// and Python processes share a Redis and must exclude each other, at the
// price of locks landing in other Cluster slots than their values. The
// scheme maps "{x}" and "x" to the same lock "{x}:lock"; that only makes the
// two keys contend for one lock, it never breaks exclusion.
//
// # Deleting by prefix
//
// DeletePrefix (what cachekit's per-function Clear uses) walks the keyspace
// with SCAN MATCH <KeyPrefix+prefix>* and removes each round's keys with
// UNLINK, never KEYS (which blocks the server for the whole keyspace) and
// never a Lua loop (which blocks it for the whole deletion). Glob characters
// in the prefix (* ? [ ] \) are escaped, so it matches only itself. In
// Cluster mode every master is scanned (replicas hold nothing their master
// lacks) and each key is unlinked through the cluster client, which routes it
// to its slot; keys of one function share no slot unless their prefix has a
// hash tag. Keys ending in ":lock" are skipped: a held lock must stay held.
// The walk is not atomic; see DeletePrefix.
//
// # TTLs and timeouts
//
// TTLs are sent in milliseconds (SET PX, PEXPIRE, PTTL), sub-millisecond
// durations rounded up. GetWithTTL (what the cache reads an L2 hit with)
// sends GET and PTTL in one pipelined write and reads both answers: one round
// trip, two commands. A Lua script doing both would be one command but costs
// the server about four times the CPU (EVALSHA's script call: 4.0 us per call
// against 0.2 us for PTTL, measured with INFO commandstats), and MULTI/EXEC
// would add two commands to make atomic what needs no atomicity here. TTL reports an entry without expiry as (0, true) and a
// missing key as (0, false). RefreshTTL with ttl 0 removes the expiry, the
// same meaning ttl 0 has for Set. Every operation is bounded by
// Options.Timeout (DefaultTimeout when zero) on top of the caller's context;
// WithTimeout makes a copy with another bound that shares the connections.
//
// # Errors
//
// Failures are *backend.Error values (Backend "redis") with a Kind: server
// replies are classified by their error code (NOAUTH, WRONGPASS, NOPERM:
// Authentication; LOADING, BUSY, TRYAGAIN, CLUSTERDOWN, MASTERDOWN,
// READONLY, OOM and similar: Transient; WRONGTYPE, ERR and the rest:
// Permanent), network failures are Transient, deadlines are Timeout, and a
// cancelled context stays matchable with errors.Is(err, context.Canceled).
package redis

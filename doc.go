// Package cachekit is a two-tier cache for Go functions, wire-compatible with
// the CacheKit Python and Rust SDKs.
//
// A Cache has an in-process tier (L1) in front of an optional shared backend
// (L2: Redis, memcached, a directory, the CacheKit API, or anything that
// implements backend.Backend). Wrapping a function is the Go form of Python's
// @cache decorator:
//
//	c, err := cachekit.New()                                  // in-process only
//	getUser, err := cachekit.Wrap1(c, getUserFromDB, cachekit.TTL(5*time.Minute))
//	u, err := getUser.Call(ctx, 42)
//
// # Creating a cache
//
// New with no options caches in process only: no backend, no network, no
// warning, and nothing is read from the environment (New is hermetic; only
// encryption without an explicit tenant reads the deployment UUID, see
// Encryption). FromEnv resolves the backend from the environment like the
// other SDKs (see FromEnv for the order and the conflict rule) and also
// applies CACHEKIT_DEFAULT_TTL, CACHEKIT_MAX_VALUE_SIZE and
// CACHEKIT_MASTER_KEY (encryption). Presets (Minimal,
// Production, Secure, Dev, Test, IO) are plain Options bundling other
// options; options apply left to right, so anything after a preset overrides
// it.
//
// # Wrappers
//
// Wrap0..Wrap4 wrap functions of zero to four arguments after a
// context.Context that return (R, error). They return a handle (*Func1 and
// so on) rather than a bare function value, because the per-function
// controls need one: Call runs the function through the cache, Fn returns
// Call as a plain function value, Invalidate removes one argument list's
// entry, Clear removes all of the function's entries, Info returns its
// counters and Key shows the key of an argument list. Everything that can be
// wrong with a wrapper (an invalid option, a function without a stable
// identity) is reported by Wrap, once, never per call; MustWrap0..MustWrap4
// panic instead, for package-level setup.
//
// A function's identity (the "func:" key segment) is its Go symbol, import
// path and name, e.g. "github.com/acme/app/users.GetUser". Closures and
// generic functions have no stable symbol (closures are numbered by position,
// generic instantiations all read "F[...]"), so Wrap refuses them with
// ErrUnnamedFunction instead of guessing: pass Name("..."). A method value
// (store.Get) hides its receiver, so Wrap refuses it too; under Name alone
// every receiver shares the entries, which suits a single store. With more
// than one, wrap each with Receiver("...") naming the receiver (us.Get with
// Receiver("us"), eu.Get with Receiver("eu")): the identity is then the
// method's symbol (or the Name) plus the receiver. (A method expression such as
// (*Store).Get takes the receiver as its first argument and does not match
// the Wrap signatures.) Functions in interop mode or with a KeyFunc do not
// need an identity.
//
// Per-function options: TTL, Namespace, Interop (cross-SDK keys and values),
// Name, Receiver, KeyFunc (the returned key is used as-is), Keywords (trailing
// arguments hashed as Python keyword arguments), Integrity,
// StaleWhileRevalidate, L1, BypassAlways and CacheError (cache a chosen error
// result, such as "not found", for its own TTL). Bypass(ctx) skips the cache for one call.
//
// # Keys and values
//
// Auto-mode keys come from protocol/key: "ns:<ns>:func:<identity>:args:
// <blake2b of the MessagePack arguments>:1s" (":0s" with integrity off), the
// args hash identical to Python's for the same arguments, and the whole key
// identical when the identity is the Python function's "module.qualname"
// (Name). WithPythonLayout stores auto-mode keys under Python's provider
// prefix "t:default:" and interop keys bare, as a Python service does, so one
// Cache shares both with it (docs/python.md). Values are written
// as Python writes them: a CK v3 frame around a ByteStorage envelope (LZ4 +
// xxHash3-64) around MessagePack, or raw MessagePack in the frame with
// integrity off, so Python reads an entry under a shared key. Readers accept
// frames, bare envelopes (Rust) and raw MessagePack. Interop mode uses
// protocol/interop keys ("<ns>:<operation>:<hash>") and one plain MessagePack
// document, readable by Python and Rust interop callers.
//
// # The in-process tier
//
// L1 is byte-bounded (WithL1Size, DefaultL1Size), sharded, with S3-FIFO
// eviction and a TTL per entry. It is charged the serialized size of each
// value. By default it keeps DECODED values: a hit costs a map lookup and a
// type assertion, and every caller receives the same value, so callers must
// not mutate results (slices, maps, pointers). WithL1Bytes keeps the
// MessagePack bytes instead and decodes a fresh copy on every hit. A hit
// takes no lock, and checks expiry against a coarse clock that a goroutine
// refreshes every 2 ms while L1 is being read (it stops after 100 ms
// without reads, so an idle process has no wakeups); only entries within a
// second of their expiry are checked against the precise clock, so expiry
// is as exact as before. An entry
// loaded from the backend is kept in L1 for the backend entry's REMAINING
// lifetime when the backend can report it (backend.TTLGetter, in the same
// round trip as the value, or backend.TTLInspector), so an L1
// copy never outlives the backend entry (an entry stored without expiry is
// kept for the function's TTL); otherwise for min(TTL, WithL1MaxTTL). A TTL
// so long that it ends after the year 2262 means no expiry.
// Without a backend, L1 is the whole cache.
//
// # Misses, stampedes and failures
//
// Concurrent misses of one key in a process run the function once
// (internal/flight), including a caller that missed just as the previous
// shared load finished (the shared load checks L1 again first). The shared
// call reads the backend and, on a miss, runs
// the function on a context detached from every caller (it keeps the first
// caller's values, not its cancellation) bounded by WithLoaderTimeout; each
// caller waits on its own context. (A first caller whose context can never
// end runs the shared call in its own goroutine: it would wait for it
// anyway.) Its result or error reaches every waiter;
// a panic is recovered into a *PanicError for all of them (its stack is
// logged). Calls made outside the shared path (Bypass, uncacheable
// arguments) run the function directly on the caller's goroutine, where a
// panic stays a panic. Errors are never cached; nil and zero results are.
//
// The cache fails open: a backend error is counted (Info.BackendErrors),
// logged at a limited rate (the first failure, then one summary line per
// FailureLogInterval; keys, never values) and treated as a miss, and the
// function's result is still returned. The cache never makes a call slower
// or less available than the function alone by more than a small budget
// (docs/reliability.md): the backend read of a miss gets at most the read
// budget (WithReadBudget; DefaultLocalReadBudget for Redis and memcached,
// DefaultHTTPReadBudget for the HTTP API; never more than
// ReadBudgetDeadlineShare of the caller's remaining deadline); a circuit
// breaker per backend (WithCircuitBreaker) skips a failing backend in
// microseconds until a probe succeeds; waiters get the result as soon as
// the function returns and L1 is filled at once, while the backend write
// goes through a bounded write-behind queue (WithWriteQueue; Flush waits
// for it, Close drains it within WithDrainTimeout); backend operations and
// detached loads are bounded (WithBackpressure). With a backend that
// implements backend.Locker, a miss takes a cross-process lock so that one
// process runs the function and the others read its result
// (WithStampedeLock; the lock can delay a call, never fail it). FromEnv
// starts even when Redis or memcached is unreachable and connects in the
// background. Info.Resilience shows all of it. Arguments the key layer cannot encode make the
// call run uncached (logged once per function); results that cannot be
// serialized or exceed WithMaxValueSize (DefaultMaxValueSize, counted on the
// serialized value and on the bytes the backend would store) are returned
// but not stored. A stored entry that cannot be decoded is a miss and is
// overwritten (entries that fail decryption follow the encryption's failure
// policy, see Encryption). The direct API (Get, Set, Delete, Exists) returns
// errors instead, since its caller asked for the cache itself; Get applies
// the encryption's failure policy too (by default a rejected entry is
// deleted and reported missing).
//
// # Stale-while-revalidate
//
// With a ratio r (WithStaleWhileRevalidate, StaleWhileRevalidate), an entry
// older than ttl*r (+/- RefreshJitter) is still returned and one background
// refresh of it starts. Refreshes are deduplicated per key (and with misses),
// at most MaxConcurrentRefreshes run at once, and they are bounded by the
// loader timeout. A failed refresh (or one whose result cannot be stored)
// keeps the old value serving until it expires, retrying after a backoff.
// Close waits for running refreshes and shared loads. The age of an entry read from another
// process is known only with TTL inspection.
//
// # Invalidation
//
// Invalidate, Clear and Delete bump a generation counter (keys are striped
// over numStripes counters) before deleting. A load or refresh records the
// generation when it starts and stores its result only if the generation is
// unchanged, checked under a lock that Invalidate waits for, so an
// invalidation is never undone by a computation that was already running in
// this process; callers arriving after the invalidation start a new load
// instead of joining (and receiving the result of) such a computation. Another process may still write an older result after the
// delete; closing that race needs versioned writes in the backend.
//
// # Encryption
//
// WithEncryption (or CACHEKIT_MASTER_KEY under FromEnv, or the Secure
// preset with either) encrypts every value with AES-256-GCM in this process
// before it reaches the backend, which then stores only ciphertext; the
// entries are those of Python's @cache.secure (a CK frame marked encrypted
// around the encrypted envelope) and, for interop functions, the interop
// encryption every SDK reads (nonce || ciphertext || tag over the plain
// MessagePack, 4-component AAD). The key and the tenant are bound into each
// ciphertext, so an entry copied to another key or tenant does not decrypt.
// The master key is hex, at least 32 bytes, never logged or put in an error;
// CACHEKIT_PREVIOUS_MASTER_KEYS (or Encryption.PreviousKeys) keeps up to 3
// old keys readable during a rotation, and Info.Encryption.Reads shows which
// key serves the reads. FromEnv turns encryption on when CACHEKIT_MASTER_KEY
// is set and says so once in the log; an explicit WithEncryption or
// WithoutEncryption wins over the environment. New reads no key from the
// environment, but without an explicit tenant it resolves the single tenant
// from the deployment UUID chain that every SDK uses
// (CACHEKIT_DEPLOYMENT_UUID, then ~/.cachekit/deployment_uuid).
//
// Single-tenant caches keep their keys, so Python shares their entries.
// With Encryption.TenantFunc every call's tenant comes from its context; the
// backend key, the L1 key, shared loads, Invalidate, Delete and the direct
// API all use "t:{tenant}:{key}", so tenants never share an entry. Key still
// returns the logical key. A tenant function that fails fails the call
// (ErrTenant) without running the function.
//
// L1 under encryption holds plaintext (decoded values, or MessagePack with
// WithL1Bytes, which Secure sets) in process memory, inside the trust
// boundary encryption protects: an L1 hit decrypts nothing. It is keyed by
// the tenant-prefixed key, never by the logical key.
//
// An entry that fails decryption (tampered, moved, written with an unknown
// key or for another tenant, unencrypted, malformed) is counted by reason
// in Info.Encryption.Failures. By default it is a miss: the entry is deleted
// and the function recomputes it, as Python does. With
// Encryption.FailClosed the call returns an error matching ErrDecrypt and
// the reason's sentinel (ErrDecryptTamper, ErrDecryptWrongKey,
// ErrDecryptPlaintext, ErrDecryptWrongTenant, ErrDecryptCorrupt), the
// function does not run and the entry stays in the backend as evidence.
// docs/encryption.md has the threat model.
package cachekit

// Package cachekitio is the cachekit-go backend for the CacheKit HTTP API:
// the managed service at https://api.cachekit.io, or a self-hosted cachekitd.
//
// Build one with New (explicit Options) or FromEnv (the CACHEKIT_* variables
// the other CacheKit SDKs read), share it, and Close it at shutdown. It
// implements backend.Backend, backend.Locker, backend.TTLInspector,
// backend.TTLGetter and backend.TimeoutSetter, plus GetEntry and SetWithStale for
// stale-while-revalidate.
//
// # Decisions
//
// Transport. One net/http Transport per Backend (shared by the Backends
// WithTimeout derives), HTTP/2 over TLS 1.2+ negotiated by ALPN, at most
// Options.PoolSize connections. Proxies from the environment are ignored and
// redirects are never followed: either would send the request, and the
// bearer token, to a host the SSRF checks did not see.
//
// Dead connections and start-up. New contacts nothing, so it succeeds while
// the server is down; operations then fail with Transient errors until it is
// up. A pooled HTTP/2 connection that receives no frame for a second is
// PINGed and closed when the PING is not answered within another second
// (and closed when it accepts no written byte for two), so a connection
// whose path went silent is replaced about two seconds after it did, instead
// of carrying every request into its deadline; each request also ends with
// its context.
//
// One round trip per hit. GetWithTTL reads the remaining freshness from the
// GET answer's X-CacheKit-Fresh-For header (cachekitd sends it), so the
// cache needs no second request for the TTL.
//
// Deadlines and retries. Options.Timeout bounds an operation as a whole,
// retries and backoff included, because a cache call that blocks for
// attempts x timeout is worse than a miss. Transient failures (connection
// errors, 408, 429, 5xx) are retried up to MaxRetries times with full-jitter
// exponential backoff (RetryBaseDelay doubling up to RetryMaxDelay), waiting
// at least what Retry-After asks; when the next wait would pass the deadline
// the operation stops at once with the last failure instead of timing out
// later. Bodies are re-sent from the caller's byte slice. 400, 401, 403, 413
// and other 4xx are never retried. 404 is a miss, not an error.
//
// Errors. Every failure is a *backend.Error (Backend "cachekitio") whose
// Kind is Authentication for 401/403, Permanent for other 4xx and for
// answers the API does not allow (ErrProtocol: an unexpected status, a
// malformed or oversized body; a value body is read up to 64 MiB, never
// further), Transient for 408/429/5xx and connection errors, Timeout for a
// passed deadline. Its cause
// is a *StatusError (status, Retry-After) or the transport error; sentinels
// (ErrValueTooLarge, ErrInvalidKey, ErrInvalidTTL, ErrBlockedAddress, ...)
// work with errors.Is. Response bodies are not copied into errors.
//
// The API key. It is held as a Secret (secret.String, the redacting type
// every cachekit-go secret uses), which prints as "[redacted]" through
// fmt, slog and encoders, and it is written only into the Authorization
// header. It never appears in an error, a log record or a panic; errors are
// scrubbed of it as a last line of defence.
//
// SSRF. The URL must be https, without credentials, query or fragment, and
// its host must be api.cachekit.io, api.staging.cachekit.io or a subdomain
// unless AllowCustomHost is set. Addresses are parsed with net/netip, never
// matched as strings: loopback, private, CGNAT, link-local (cloud metadata),
// unspecified, multicast, documentation, ULA and other reserved ranges are
// refused, IPv4-mapped IPv6 is unmapped first, NAT64/6to4 forms are judged
// by the IPv4 address inside, and numeric forms that resolvers disagree on
// (127.1, 0x7f.0.0.1, 2130706433) are refused. The check runs twice: on the
// URL at New, and at dial time on every address the name resolves to; the
// connection then goes to the checked address, not to the name again, so
// DNS rebinding has no window. Self-hosters on an internal network opt in
// with AllowPrivateNetworks (CACHEKIT_ALLOW_PRIVATE_NETWORKS), which admits
// loopback, private, CGNAT and ULA addresses and nothing else: https,
// certificate verification, the allowlist (unless AllowCustomHost) and the
// ban on link-local, unspecified and reserved addresses stay on.
//
// Keys. A key is sent as one percent-encoded path segment (everything
// outside A-Za-z0-9-._~ encoded), so no key can change the route; the keys
// "", ".", "..", "health", "ttl" and "lock" are refused before any request.
//
// TTLs. Set with ttl 0 sends no TTL header, and the API gives such a write
// the tenant's default lifetime. The backend contract means "no expiry" by
// ttl 0; a cachekitd started with --default-ttl 0 (or a tenant with
// default_ttl=0) stores exactly that, and TTL then reports (0, true). A
// server with a finite default (cachekitd's is one hour) expires the entry
// after it. Negative and above-30-day TTLs are refused client-side;
// sub-second and fractional TTLs round up to whole seconds, so nothing is
// ever sent as 0, which the API refuses.
//
// Metrics headers. Every request carries X-CacheKit-L1-Status ("disabled"
// unless statistics are attached), and, unless DisableMetricsHeaders, a
// random per-Backend X-CacheKit-Session-ID, X-CacheKit-Session-Start and the
// hit/miss counters from Options.Stats or AttachStats.
package cachekitio

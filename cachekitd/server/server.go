// Package server is the engine of cachekitd, a self-hosted server for the
// CacheKit HTTP API (the API cachekit.io serves; PROTOCOL.md section 7): the
// HTTP handler (a Go 1.22 http.ServeMux with method and wildcard patterns,
// and middleware stages for metrics, authentication, key validation and the
// per-key rate limit; see routes.go), plus helpers to run it (an http.Server with safe
// timeouts, TLS with HTTP/2 or cleartext h2c, a development certificate).
// Storage lives behind store.Store.
//
// Decisions, and why:
//
//   - Keys in paths are read from the escaped path and unescaped per segment
//     (the mux's {key} wildcard), so raw `:` (the Python SDK) and `%3A` (the
//     Rust SDK) name the same entry, and an encoded `/` can never split a
//     key. Keys must match [A-Za-z0-9_.:-]{1,400} without `..` and must not be
//     `.`; anything else is a 400.
//   - Authentication is a Bearer API key (any 20..256 bearer-token
//     characters; ck_live_, ck_test_, ck_sdk_... by convention) mapped to a
//     tenant through a Keyring that holds only SHA-256 digests. The tenant,
//     never the client, picks the store namespace, so no request can reach
//     another tenant's entries, locks or TTLs. Health answers without a key
//     (load balancers probe it) but checks a key that is presented (401 for
//     an unknown one); everything under /v1/cache/{key} needs one.
//   - TTL headers follow the API text: X-CacheKit-TTL wins over the
//     deprecated X-TTL; 0, negative, non-integer or > 2592000 is a 400; no
//     header means the tenant's default. X-CacheKit-Stale-TTL (0..2592000)
//     keeps an entry servable as stale for that long after its TTL, and GET,
//     HEAD and TTL reads then say X-CacheKit-Freshness: fresh or stale.
//     Reads of an entry with an expiry also carry X-CacheKit-Fresh-For, the
//     remaining fresh seconds rounded down (0 when stale), so an SDK bounds
//     its local copy from the GET alone.
//   - The default TTL may be NoExpiry: PUTs without a TTL header then store
//     entries that never expire, which is what SDK backends mean by "ttl 0"
//     (a TTL header of 0 stays a 400, as the API text says). TTL reads answer
//     {"ttl": null} for such an entry, the form SDKs read as "no expiry".
//     The default stays one hour, so a client that forgets its TTL does not
//     fill the store forever unless the operator chose that.
//   - A contested lock answers 200 {"lock_id": null} (the current text), and
//     releases take the id from X-CacheKit-Lock-Id or the older ?lock_id=.
//   - A query string on a key route is a 400 (except ?lock_id= on a lock
//     release): a client that sends keys unencoded would otherwise cut a key
//     at its '?' and make two keys share an entry.
//   - Defaults follow the managed service where its SDK suites pin them: a
//     creating PUT answers 200 (Config.CreatedStatus for 201), values up to
//     25 MiB. An oversized value is answered so that HTTP/1.1 clients which
//     send the whole body first can read the 413 (Config.MaxDiscardBytes).
//   - A request whose client went away is a cancellation (code 499 in the
//     metrics, a debug log), never a 503 store error that pages someone.
//   - Transport guards live below the handler (GuardListener, NewHTTPServer):
//     request smuggling refused, connections capped with idle ones evicted.
//   - Errors are JSON {"error": "..."} with fixed messages that never echo a
//     value, a key or a credential.
//   - JSON bodies (lock timeouts, TTL refresh) are small and strict: at most
//     MaxJSONBody bytes, unknown fields, wrong types, non-integers and
//     trailing data are 400s. Values are bounded by MaxValueBytes (413) and
//     never inspected.
//   - The per-key rate limit is a token bucket per (tenant, key) in this
//     process. Behind a load balancer each replica limits its own share; a
//     shared limiter would cost a store round trip on every request.
//   - Metrics are a small hand-written Prometheus text exposition (see
//     Metrics; checked with Prometheus's own parser in the tests), off the
//     API listener by default, rather than prometheus/client_golang: the series are few and
//     fixed, atomics keep the hot path allocation-free, and the module keeps
//     a single dependency (the Redis client).
//   - Replicas over one shared store relay each write's invalidation event
//     (tenant, sender, key) through the store when it offers a relay
//     (store.Relay: Redis Pub/Sub), so every replica's streams carry every
//     write of the tenant. Relaying happens off the request path through a
//     bounded queue: a write never waits for it or fails because of it.
//     Whatever may have lost events (a full queue, a failed publish, a lost
//     subscription) ends the streams concerned, because a client that
//     reconnects flushes its copies; see relay.go.
//   - Access logs are structured (log/slog), at debug level, so the hot path
//     pays nothing unless asked. Store failures are logged at warn level with
//     the tenant and operation, never with keys or values.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cachekit-go/cachekit/cachekitd/store"
)

// API limits and defaults.
const (
	// APIVersion is what GET health reports as "version".
	APIVersion = "1.0.0"
	// MaxTTL is the largest TTL (and stale window) the API accepts: 30 days.
	MaxTTL = 2592000 * time.Second
	// DefaultTTL applies to PUTs without a TTL header when neither the tenant
	// nor the server configures another default.
	DefaultTTL = time.Hour
	// NoExpiry as Config.DefaultTTL or Tenant.DefaultTTL stores PUTs without
	// a TTL header with no expiry at all.
	NoExpiry time.Duration = -1
	// MaxKeyLen is the longest cache key, in bytes.
	MaxKeyLen = 400
	// DefaultMaxValueBytes bounds a PUT body (413 beyond): 25 MiB, what the
	// managed service accepts.
	DefaultMaxValueBytes = 25 << 20
	// DefaultLockTimeout is the lease of a lock request without timeout_ms.
	DefaultLockTimeout = 30 * time.Second
	// DefaultMaxLockTimeout is the longest lease a client may ask for.
	DefaultMaxLockTimeout = time.Hour
	// DefaultMaxDiscardBytes is how much of an oversized HTTP/1.1 body the
	// server reads and throws away before answering 413 (see Config).
	DefaultMaxDiscardBytes = 64 << 20
	// DiscardTimeout bounds the time spent discarding an oversized body.
	DiscardTimeout = 10 * time.Second
	// MaxJSONBody bounds the JSON bodies of lock and TTL requests.
	MaxJSONBody = 1024
	// MaxLockIDLen bounds the lock id a release may present.
	MaxLockIDLen = 128
	// CachePrefix is the path every keyed route lives under.
	CachePrefix = "/v1/cache/"
)

// Config configures New. Store and Keys are required; the zero value of every
// other field selects the documented default.
type Config struct {
	// Store keeps entries and locks.
	Store store.Store
	// Keys maps API keys to tenants.
	Keys *Keyring
	// DefaultTTL for PUTs without a TTL header, unless the tenant has its own
	// (DefaultTTL when 0; NoExpiry for entries that never expire).
	DefaultTTL time.Duration
	// MaxValueBytes bounds a value (DefaultMaxValueBytes when 0).
	MaxValueBytes int64
	// MaxDiscardBytes: an HTTP/1.1 client that sends its whole body before
	// reading (Python's requests does) cannot see a 413 sent while it is
	// still uploading, because the connection is closed under it. So for an
	// oversized value without Expect: 100-continue the server first reads
	// and discards the rest of the body, up to MaxDiscardBytes
	// (DefaultMaxDiscardBytes when 0; negative: never) and for at most
	// DiscardTimeout, then answers 413 and closes the connection. A client
	// that sent Expect: 100-continue gets the 413 before sending its body.
	MaxDiscardBytes int64
	// CreatedStatus answers a PUT that creates an entry: 200 when 0, as the
	// managed service does (and its SDK suites assert), or 201
	// (http.StatusCreated), which the API text also allows. A PUT that
	// replaces an entry always answers 200.
	CreatedStatus int
	// DefaultLockTimeout is the lease when a lock request names none
	// (DefaultLockTimeout when 0).
	DefaultLockTimeout time.Duration
	// MaxLockTimeout is the longest lease (DefaultMaxLockTimeout when 0).
	MaxLockTimeout time.Duration
	// RateLimit is requests per second allowed per (tenant, key); 0 turns the
	// limit off.
	RateLimit float64
	// RateBurst is the bucket size (ceil(RateLimit), at least 1, when 0).
	RateBurst int
	// ServeMetrics also answers GET /metrics on this handler, unauthenticated.
	// Off by default: serve Metrics.Handler on a separate, private listener
	// instead (cachekitd --metrics-addr).
	ServeMetrics bool
	// DisableRelay turns off relaying invalidation events between replicas
	// when the store offers it (store.Relay: the Redis store), for a single
	// replica on Redis, which needs none. See relay.go.
	DisableRelay bool
	// RelayQueue is how many write events may wait to be relayed before
	// new ones are dropped (DefaultRelayQueue when 0).
	RelayQueue int
	// Metrics receives the counters (a new set when nil; see Server.Metrics).
	Metrics *Metrics
	// Logger receives structured logs (slog.Default() when nil).
	Logger *slog.Logger
	// Version is reported by health (APIVersion when empty).
	Version string
	// Now is the clock for the rate limiter (time.Now when nil).
	Now func() time.Time
}

// ErrConfig is wrapped by New's errors about its configuration.
var ErrConfig = errors.New("cachekitd: invalid configuration")

// Server is the CacheKit HTTP API as an http.Handler.
type Server struct {
	mux     *http.ServeMux
	unclean http.Handler
	cfg     Config
	log     *slog.Logger
	metrics *Metrics
	limiter *limiter
	now     func() time.Time
	events  *events // the invalidation streams (events.go)
	relay   *relay  // events to and from the other replicas (relay.go); nil without
}

// New checks cfg, fills its defaults and returns the handler. With a store
// that relays events between replicas (store.Relay), it subscribes to the
// relay (waiting up to 2 s for the subscription); call Close when done.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.Keys == nil {
		return nil, errors.Join(ErrConfig, errors.New("the store and the keyring are required"))
	}
	if cfg.DefaultTTL == 0 {
		cfg.DefaultTTL = DefaultTTL
	}
	if cfg.DefaultTTL != NoExpiry && (cfg.DefaultTTL < time.Second || cfg.DefaultTTL > MaxTTL || cfg.DefaultTTL%time.Second != 0) {
		return nil, errors.Join(ErrConfig, errors.New("default TTL must be NoExpiry or whole seconds between 1s and 720h"))
	}
	if cfg.MaxValueBytes == 0 {
		cfg.MaxValueBytes = DefaultMaxValueBytes
	}
	if cfg.MaxDiscardBytes == 0 {
		cfg.MaxDiscardBytes = DefaultMaxDiscardBytes
	}
	if cfg.DefaultLockTimeout == 0 {
		cfg.DefaultLockTimeout = DefaultLockTimeout
	}
	if cfg.MaxLockTimeout == 0 {
		cfg.MaxLockTimeout = DefaultMaxLockTimeout
	}
	if cfg.RelayQueue == 0 {
		cfg.RelayQueue = DefaultRelayQueue
	}
	if cfg.RelayQueue < 0 || cfg.MaxValueBytes < 0 || cfg.DefaultLockTimeout < time.Millisecond || cfg.MaxLockTimeout < cfg.DefaultLockTimeout || cfg.RateLimit < 0 || cfg.RateBurst < 0 {
		return nil, errors.Join(ErrConfig, errors.New("limits must be positive and the default lock timeout at most the maximum"))
	}
	if cfg.Version == "" {
		cfg.Version = APIVersion
	}
	switch cfg.CreatedStatus {
	case 0:
		cfg.CreatedStatus = http.StatusOK
	case http.StatusOK, http.StatusCreated:
	default:
		return nil, errors.Join(ErrConfig, errors.New("CreatedStatus must be 200 or 201"))
	}
	s := &Server{cfg: cfg, log: cfg.Logger, metrics: cfg.Metrics, now: cfg.Now, events: newEvents()}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.metrics == nil {
		s.metrics = NewMetrics()
	}
	s.metrics.store = cfg.Store
	s.metrics.version = cfg.Version
	if s.now == nil {
		s.now = time.Now
	}
	if cfg.RateLimit > 0 {
		s.limiter = newLimiter(cfg.RateLimit, cfg.RateBurst)
	}
	s.mux = s.routes()
	s.unclean = s.uncleanHandler()
	if rs, ok := cfg.Store.(store.Relay); ok && !cfg.DisableRelay {
		s.relay = newRelay(s, rs)
	}
	return s, nil
}

// Metrics returns the server's counters (to serve them on another listener).
func (s *Server) Metrics() *Metrics { return s.metrics }

// Shared header values (net/http only reads them).
var (
	hdrOctet   = []string{"application/octet-stream"}
	hdrJSON    = []string{"application/json"}
	hdrNosniff = []string{"nosniff"}
	hdrFresh   = []string{"fresh"}
	hdrStale   = []string{"stale"}
)

// Canonical header names (as net/http stores them).
const (
	hTTL       = "X-Cachekit-Ttl"
	hTTLOld    = "X-Ttl"
	hStaleTTL  = "X-Cachekit-Stale-Ttl"
	hFreshness = "X-Cachekit-Freshness"
	hFreshFor  = "X-Cachekit-Fresh-For"
	hLockID    = "X-Cachekit-Lock-Id"
)

// ValidKey reports whether key is a cache key the server accepts:
// 1..MaxKeyLen characters of [A-Za-z0-9_.:-], no "..", and not "." (a path
// segment of its own that URL handling removes).
func ValidKey(key string) bool {
	if key == "" || key == "." || len(key) > MaxKeyLen || strings.Contains(key, "..") {
		return false
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (*Tenant, int) {
	h := r.Header.Get("Authorization")
	scheme, key, ok := strings.Cut(h, " ")
	if ok && strings.EqualFold(scheme, "Bearer") {
		if t, found := s.cfg.Keys.Lookup(strings.TrimSpace(key)); found {
			return t, 0
		}
	}
	s.metrics.authFailures.Add(1)
	w.Header().Set("WWW-Authenticate", `Bearer realm="cachekitd"`)
	return nil, writeError(w, http.StatusUnauthorized, "missing or unknown API key")
}

// writeError writes {"error": msg} with code and returns code.
func writeError(w http.ResponseWriter, code int, msg string) int {
	b, _ := json.Marshal(struct {
		Error string `json:"error"`
	}{msg})
	return writeJSONBytes(w, code, b)
}

func writeJSONBytes(w http.ResponseWriter, code int, b []byte) int {
	h := w.Header()
	h["Content-Type"] = hdrJSON
	h["X-Content-Type-Options"] = hdrNosniff
	h["Content-Length"] = []string{strconv.Itoa(len(b))}
	w.WriteHeader(code)
	_, _ = w.Write(b)
	return code
}

func writeJSON(w http.ResponseWriter, code int, v any) int {
	b, err := json.Marshal(v)
	if err != nil {
		return writeError(w, http.StatusInternalServerError, "internal error")
	}
	return writeJSONBytes(w, code, b)
}

// StatusClientClosedRequest is what the metrics and logs record for a request
// its client cancelled (or whose connection went away) before the answer:
// the convention nginx started. Nobody reads the answer itself.
const StatusClientClosedRequest = 499

// clientGone reports whether the request's client went away, and if so
// counts and logs it as a cancellation (at debug level: it pages nobody).
func (s *Server) clientGone(r *http.Request, o op, t *Tenant) bool {
	if r.Context().Err() == nil {
		return false
	}
	s.metrics.cancelled.Add(1)
	if s.log.Enabled(r.Context(), slog.LevelDebug) {
		tenant := ""
		if t != nil {
			tenant = t.ID
		}
		s.log.LogAttrs(r.Context(), slog.LevelDebug, "request cancelled by the client",
			slog.String("op", opNames[o]), slog.String("tenant", tenant))
	}
	return true
}

// storeFailed answers a store error: 413 for a value that can never fit, 429
// for too many locks, 499 (recorded, not sent) when the client went away,
// 503 otherwise (transient for clients).
func (s *Server) storeFailed(w http.ResponseWriter, r *http.Request, o op, t *Tenant, err error) int {
	if s.clientGone(r, o, t) {
		w.WriteHeader(StatusClientClosedRequest)
		return StatusClientClosedRequest
	}
	switch {
	case errors.Is(err, store.ErrTooLarge):
		return writeError(w, http.StatusRequestEntityTooLarge, "value too large for the storage limits")
	case errors.Is(err, store.ErrTooManyLocks):
		w.Header().Set("Retry-After", "1")
		return writeError(w, http.StatusTooManyRequests, "too many live locks for this tenant")
	}
	s.metrics.storeErrors.Add(1)
	s.log.LogAttrs(r.Context(), slog.LevelWarn, "store operation failed",
		slog.String("op", opNames[o]), slog.String("tenant", t.ID), slog.String("store", s.cfg.Store.Name()), slog.String("error", err.Error()))
	return writeError(w, http.StatusServiceUnavailable, "store unavailable")
}

// setFreshness writes what a value read says about the entry's lifetime:
// X-CacheKit-Freshness for entries with a stale window, and
// X-CacheKit-Fresh-For (remaining fresh whole seconds, rounded down; 0 when
// stale) for every entry with an expiry, so a client can bound its local copy
// without a second round trip for the TTL. Rounding down keeps a client's copy
// from outliving the entry; an entry without expiry gets no Fresh-For.
func setFreshness(h http.Header, in store.Info) {
	if !in.NoExpiry {
		secs := int64(0)
		if !in.Stale {
			secs = min(int64(in.TTL/time.Second), int64(MaxTTL/time.Second))
		}
		h[hFreshFor] = []string{strconv.FormatInt(max(secs, 0), 10)}
	}
	if !in.HasStaleWindow {
		return
	}
	if in.Stale {
		h[hFreshness] = hdrStale
	} else {
		h[hFreshness] = hdrFresh
	}
}

// health answers liveness without a key (load balancers probe it) and checks
// a key when one is presented, so an SDK's health check with a wrong key
// fails (401) instead of reporting a healthy server it cannot use.
func (s *Server) health(w http.ResponseWriter, r *http.Request, q *request) int {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		return writeError(w, http.StatusMethodNotAllowed, "method not allowed")
	}
	if _, presented := r.Header["Authorization"]; presented {
		t, code := s.authenticate(w, r)
		if t == nil {
			return code
		}
		q.tenant = t
	}
	type health struct {
		Version string `json:"version"`
		Status  string `json:"status"`
		Store   string `json:"store"`
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.cfg.Store.Ping(ctx); err != nil {
		s.log.LogAttrs(r.Context(), slog.LevelWarn, "health: store ping failed", slog.String("store", s.cfg.Store.Name()), slog.String("error", err.Error()))
		return writeJSON(w, http.StatusServiceUnavailable, health{s.cfg.Version, "store unavailable", s.cfg.Store.Name()})
	}
	return writeJSON(w, http.StatusOK, health{s.cfg.Version, "ok", s.cfg.Store.Name()})
}

func (s *Server) get(w http.ResponseWriter, r *http.Request, t *Tenant, key string) int {
	e, found, err := s.cfg.Store.Get(r.Context(), t.ID, key)
	if err != nil {
		return s.storeFailed(w, r, opGet, t, err)
	}
	if !found {
		return writeError(w, http.StatusNotFound, "not found")
	}
	h := w.Header()
	h["Content-Type"] = hdrOctet
	h["Content-Length"] = []string{strconv.Itoa(len(e.Value))}
	setFreshness(h, e.Info)
	w.WriteHeader(http.StatusOK)
	n, _ := w.Write(e.Value)
	s.metrics.bytesOut.Add(uint64(n))
	return http.StatusOK
}

func (s *Server) head(w http.ResponseWriter, r *http.Request, t *Tenant, key string) int {
	in, found, err := s.cfg.Store.Stat(r.Context(), t.ID, key)
	if err != nil {
		return s.storeFailed(w, r, opHead, t, err)
	}
	if !found {
		w.WriteHeader(http.StatusNotFound)
		return http.StatusNotFound
	}
	h := w.Header()
	h["Content-Type"] = hdrOctet
	h["Content-Length"] = []string{strconv.Itoa(in.Size)}
	setFreshness(h, in)
	w.WriteHeader(http.StatusOK)
	return http.StatusOK
}

// parseTTLSeconds parses a whole number of seconds in 1..MaxTTL.
func parseTTLSeconds(v string) (time.Duration, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return 0, errors.New("TTL must be an integer number of seconds")
	}
	if n < 1 || n > int64(MaxTTL/time.Second) {
		return 0, errors.New("TTL must be between 1 and 2592000 seconds")
	}
	return time.Duration(n) * time.Second, nil
}

func (s *Server) put(w http.ResponseWriter, r *http.Request, t *Tenant, key string) int {
	ttl := t.DefaultTTL
	if ttl == 0 {
		ttl = s.cfg.DefaultTTL
	}
	if v, ok := r.Header[hTTL]; ok {
		d, err := parseTTLSeconds(v[0])
		if err != nil {
			return writeError(w, http.StatusBadRequest, "invalid X-CacheKit-TTL: "+err.Error())
		}
		ttl = d
	} else if v, ok := r.Header[hTTLOld]; ok {
		d, err := parseTTLSeconds(v[0])
		if err != nil {
			return writeError(w, http.StatusBadRequest, "invalid X-TTL: "+err.Error())
		}
		ttl = d
	}
	var stale time.Duration
	if v, ok := r.Header[hStaleTTL]; ok {
		n, err := strconv.ParseInt(strings.TrimSpace(v[0]), 10, 64)
		if err != nil || n < 0 || n > int64(MaxTTL/time.Second) {
			return writeError(w, http.StatusBadRequest, "invalid X-CacheKit-Stale-TTL: must be an integer number of seconds between 0 and 2592000")
		}
		stale = time.Duration(n) * time.Second
	}
	if ttl == NoExpiry {
		ttl, stale = 0, 0 // the store's "no expiry"; such an entry is never stale
	}
	if r.ContentLength > s.cfg.MaxValueBytes {
		return s.valueTooLarge(w, r, r.ContentLength)
	}
	value, err := readBody(w, r, s.cfg.MaxValueBytes)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return s.valueTooLarge(w, r, -1)
		}
		// A body that stopped arriving (the read timeout) is the client's
		// fault and gets its 400; a connection that went away is a
		// cancellation. net/http cancels the context on both.
		var ne net.Error
		if !(errors.As(err, &ne) && ne.Timeout()) && s.clientGone(r, opPut, t) {
			w.WriteHeader(StatusClientClosedRequest)
			return StatusClientClosedRequest
		}
		return writeError(w, http.StatusBadRequest, "could not read the request body")
	}
	created, err := s.cfg.Store.Set(r.Context(), t.ID, key, value, ttl, stale)
	if err != nil {
		return s.storeFailed(w, r, opPut, t, err)
	}
	s.announce(t.ID, r, key)
	s.metrics.bytesIn.Add(uint64(len(value)))
	code := http.StatusOK
	if created {
		code = s.cfg.CreatedStatus
	}
	w.Header()["Content-Length"] = []string{"0"}
	w.WriteHeader(code)
	return code
}

// valueTooLarge answers 413 to an oversized value so that HTTP/1.1 clients
// which send the whole body before reading can read it: without Expect:
// 100-continue, it first discards what is left of the body (declared bytes
// remaining; -1 when unknown), within MaxDiscardBytes and DiscardTimeout,
// and closes the connection after the answer. A body larger than the bound
// is not read at all: that client sees the connection close.
func (s *Server) valueTooLarge(w http.ResponseWriter, r *http.Request, remaining int64) int {
	if r.ProtoMajor == 1 {
		w.Header().Set("Connection", "close")
		limit := s.cfg.MaxDiscardBytes
		// Expect: 100-continue with nothing read yet: no 100 was sent, so the
		// client waits for this answer without sending its body.
		waiting := remaining >= 0 && strings.EqualFold(r.Header.Get("Expect"), "100-continue")
		if limit > 0 && remaining <= limit && !waiting {
			_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(DiscardTimeout))
			_, _ = io.CopyN(io.Discard, r.Body, limit)
		}
	}
	return writeError(w, http.StatusRequestEntityTooLarge, "value too large")
}

// readBody reads the whole body, at most limit bytes (a *http.MaxBytesError
// beyond), allocating by the declared length only when it is within limit.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	body := http.MaxBytesReader(w, r.Body, limit)
	size := int64(512)
	if r.ContentLength > 0 && r.ContentLength <= limit {
		size = r.ContentLength + 1 // +1 so the final read sees EOF without growing
	}
	buf := make([]byte, 0, size)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

func (s *Server) delete(w http.ResponseWriter, r *http.Request, t *Tenant, key string) int {
	deleted, err := s.cfg.Store.Delete(r.Context(), t.ID, key)
	if err != nil {
		return s.storeFailed(w, r, opDelete, t, err)
	}
	s.announce(t.ID, r, key)
	if !deleted {
		return writeError(w, http.StatusNotFound, "not found")
	}
	w.WriteHeader(http.StatusNoContent)
	return http.StatusNoContent
}

// decodeJSON strictly decodes a small JSON object body into v: bounded size,
// no unknown fields, no trailing data. An empty body leaves v untouched and
// reports empty.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) (empty bool, code int, msg string) {
	if r.ContentLength > MaxJSONBody {
		return false, http.StatusRequestEntityTooLarge, "JSON body too large"
	}
	b, err := readBody(w, r, MaxJSONBody)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return false, http.StatusRequestEntityTooLarge, "JSON body too large"
		}
		return false, http.StatusBadRequest, "could not read the request body"
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return true, 0, ""
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return false, http.StatusBadRequest, "malformed JSON body"
	}
	if _, err := dec.Token(); err != io.EOF {
		return false, http.StatusBadRequest, "malformed JSON body: trailing data"
	}
	return false, 0, ""
}

func (s *Server) lock(w http.ResponseWriter, r *http.Request, t *Tenant, key string) int {
	var body struct {
		TimeoutMS *int64 `json:"timeout_ms"`
	}
	_, code, msg := decodeJSON(w, r, &body)
	if code != 0 {
		return writeError(w, code, msg)
	}
	hold := s.cfg.DefaultLockTimeout
	if body.TimeoutMS != nil {
		ms := *body.TimeoutMS
		if ms < 1 || ms > s.cfg.MaxLockTimeout.Milliseconds() {
			return writeError(w, http.StatusBadRequest, "timeout_ms must be between 1 and "+strconv.FormatInt(s.cfg.MaxLockTimeout.Milliseconds(), 10))
		}
		hold = time.Duration(ms) * time.Millisecond
	}
	id, ok, err := s.cfg.Store.AcquireLock(r.Context(), t.ID, key, hold)
	if err != nil {
		return s.storeFailed(w, r, opLock, t, err)
	}
	var resp struct {
		LockID *string `json:"lock_id"`
	}
	if ok {
		resp.LockID = &id
	}
	return writeJSON(w, http.StatusOK, resp)
}

func (s *Server) unlock(w http.ResponseWriter, r *http.Request, t *Tenant, key string) int {
	id := r.Header.Get(hLockID)
	if id == "" {
		id = r.URL.Query().Get("lock_id")
	}
	if id == "" || len(id) > MaxLockIDLen {
		return writeError(w, http.StatusBadRequest, "missing or invalid lock id (X-CacheKit-Lock-Id)")
	}
	released, err := s.cfg.Store.ReleaseLock(r.Context(), t.ID, key, id)
	if err != nil {
		return s.storeFailed(w, r, opUnlock, t, err)
	}
	if !released {
		return writeError(w, http.StatusNotFound, "no such lock held with this id")
	}
	w.WriteHeader(http.StatusNoContent)
	return http.StatusNoContent
}

func (s *Server) ttlGet(w http.ResponseWriter, r *http.Request, t *Tenant, key string) int {
	in, found, err := s.cfg.Store.Stat(r.Context(), t.ID, key)
	if err != nil {
		return s.storeFailed(w, r, opTTLGet, t, err)
	}
	if !found {
		return writeError(w, http.StatusNotFound, "not found")
	}
	if in.NoExpiry {
		return writeJSONBytes(w, http.StatusOK, []byte(`{"ttl":null}`))
	}
	setFreshness(w.Header(), in)
	secs := int64(math.Ceil(in.TTL.Seconds()))
	return writeJSON(w, http.StatusOK, struct {
		TTL int64 `json:"ttl"`
	}{secs})
}

func (s *Server) ttlRefresh(w http.ResponseWriter, r *http.Request, t *Tenant, key string) int {
	var body struct {
		TTL json.RawMessage `json:"ttl"`
	}
	empty, code, msg := decodeJSON(w, r, &body)
	if code != 0 {
		return writeError(w, code, msg)
	}
	if empty || len(body.TTL) == 0 {
		return writeError(w, http.StatusBadRequest, `missing "ttl"`)
	}
	ttl, err := parseTTLSeconds(string(body.TTL)) // a JSON string, float or null fails here
	if err != nil {
		return writeError(w, http.StatusBadRequest, "invalid ttl: "+err.Error())
	}
	found, err := s.cfg.Store.RefreshTTL(r.Context(), t.ID, key, ttl)
	if err != nil {
		return s.storeFailed(w, r, opTTLRefresh, t, err)
	}
	if !found {
		return writeError(w, http.StatusNotFound, "not found")
	}
	w.WriteHeader(http.StatusNoContent)
	return http.StatusNoContent
}

package server

import (
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Routing is a Go 1.22 http.ServeMux with method and wildcard patterns; the
// cross-cutting concerns (metrics and access logs, authentication, key
// validation, the per-key rate limit) are middleware stages around
// handlers that only do their operation.
//
// Two things the mux would do on its own are not what the API says, so they
// are handled before or beside it:
//   - The mux redirects unclean paths ("//", "/./", "/../") to their cleaned
//     form; an API client must instead get the same 400 or 404 as for any
//     other bad key or route, so ServeHTTP answers them itself.
//   - The mux answers a wrong method with a plain-text 405 before anything
//     else; the API authenticates first and answers JSON with its own Allow
//     list, so each route has a method-less fallback pattern.

// request is what the stages learn about one request on the way to its
// handler.
type request struct {
	op     op
	tenant *Tenant
	key    string
}

// requestPool recycles request states: a stage gets a pointer, which would
// otherwise cost an allocation per request.
var requestPool = sync.Pool{New: func() any { return new(request) }}

// stage serves a request, or refuses it, and returns the status it wrote.
type stage func(w http.ResponseWriter, r *http.Request, q *request) int

// middleware wraps a stage with one concern.
type middleware func(stage) stage

// chain applies mws to h, the first one outermost.
func chain(h stage, mws ...middleware) stage {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}

// keyHandler is an operation on a validated key of an authenticated tenant.
type keyHandler func(w http.ResponseWriter, r *http.Request, t *Tenant, key string) int

func (h keyHandler) stage(w http.ResponseWriter, r *http.Request, q *request) int {
	return h(w, r, q.tenant, q.key)
}

// Allow lists of the keyed routes.
const (
	allowEntry = "GET, HEAD, PUT, DELETE"
	allowLock  = "POST, DELETE"
	allowTTL   = "GET, PATCH"
)

func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	handle := func(pattern string, o op, h stage) { mux.Handle(pattern, s.instrument(o, h)) }
	guarded := func(h keyHandler) stage {
		return chain(h.stage, s.authenticated, s.validKey, noQuery(""), s.rateLimited)
	}
	keyed := func(pattern string, o op, h keyHandler) { handle(pattern, o, guarded(h)) }
	notAllowed := func(pattern, allow string) {
		handle(pattern, opOther, chain(methodNotAllowed(allow), s.authenticated, s.validKey))
	}

	// A GET pattern also matches HEAD, and "HEAD /v1/cache/{key}" beside
	// "GET /v1/cache/health" would be a conflict the mux refuses.
	get, head := guarded(s.get), guarded(s.head)
	handle("GET /v1/cache/{key}", opGet, func(w http.ResponseWriter, r *http.Request, q *request) int {
		if r.Method == http.MethodHead {
			q.op = opHead
			return head(w, r, q)
		}
		return get(w, r, q)
	})
	keyed("PUT /v1/cache/{key}", opPut, s.put)
	keyed("DELETE /v1/cache/{key}", opDelete, s.delete)
	keyed("POST /v1/cache/{key}/lock", opLock, s.lock)
	handle("DELETE /v1/cache/{key}/lock", opUnlock, chain(keyHandler(s.unlock).stage, s.authenticated, s.validKey, noQuery("lock_id"), s.rateLimited))
	keyed("GET /v1/cache/{key}/ttl", opTTLGet, s.ttlGet)
	keyed("PATCH /v1/cache/{key}/ttl", opTTLRefresh, s.ttlRefresh)
	notAllowed("/v1/cache/{key}/lock", allowLock)
	notAllowed("/v1/cache/{key}/ttl", allowTTL)

	// The key "health" is the health check for every method the entry
	// routes know (GET covers HEAD); other methods reach the entry
	// fallback, which sends them here too.
	health := stage(s.health)
	for _, m := range []string{"GET", "PUT", "DELETE", "POST", "PATCH"} {
		handle(m+" /v1/cache/health", opHealth, health)
	}
	handle("/v1/health", opHealth, health)
	handle("/health", opHealth, health)
	entryFallback := chain(methodNotAllowed(allowEntry), s.authenticated, s.validKey)
	handle("/v1/cache/{key}", opOther, func(w http.ResponseWriter, r *http.Request, q *request) int {
		if r.PathValue("key") == "health" {
			q.op = opHealth
			return health(w, r, q)
		}
		return entryFallback(w, r, q)
	})

	if s.cfg.ServeMetrics {
		mh := s.metrics.Handler()
		handle("/metrics", opOther, func(w http.ResponseWriter, r *http.Request, _ *request) int {
			mh.ServeHTTP(w, r)
			return http.StatusOK
		})
	}

	handle("GET "+EventsPath, opOther, chain(s.stream, s.authenticated))

	emptyKey := chain(invalidKey, s.authenticated)
	handle("/", opOther, func(w http.ResponseWriter, r *http.Request, q *request) int {
		if r.URL.EscapedPath() == CachePrefix {
			return emptyKey(w, r, q)
		}
		return notFound(w, r, q)
	})
	return mux
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if p := r.URL.EscapedPath(); r.Method != http.MethodConnect && !cleanPath(p) {
		s.unclean.ServeHTTP(w, r)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// uncleanHandler answers paths with empty, "." or ".." segments, which the
// mux would redirect: under the cache prefix a path of a keyed route's shape
// names an invalid key (400 once authenticated), anything else is no route.
func (s *Server) uncleanHandler() http.Handler {
	badKey := chain(invalidKey, s.authenticated)
	return s.instrument(opOther, func(w http.ResponseWriter, r *http.Request, q *request) int {
		rest, ok := strings.CutPrefix(r.URL.EscapedPath(), CachePrefix)
		if !ok {
			return notFound(w, r, q)
		}
		if _, sub, slash := strings.Cut(rest, "/"); slash && sub != "lock" && sub != "ttl" {
			return notFound(w, r, q)
		}
		return badKey(w, r, q)
	})
}

// cleanPath reports whether p is absolute and has no empty, "." or ".."
// segment (a trailing slash is an empty last segment the mux keeps, so it
// counts as clean).
func cleanPath(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	for seg := range strings.SplitSeq(p[1:], "/") {
		if seg == "." || seg == ".." {
			return false
		}
	}
	return !strings.Contains(p, "//")
}

// instrument is the outermost stage of every route: the in-flight gauge, the
// request counter and latency histogram by operation and status, and the
// debug access log.
func (s *Server) instrument(o op, h stage) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		s.metrics.inflight.Add(1)
		q := requestPool.Get().(*request)
		*q = request{op: o}
		defer requestPool.Put(q)
		code := h(w, r, q)
		d := time.Since(start)
		s.metrics.inflight.Add(-1)
		s.metrics.record(q.op, code, d)
		if s.log.Enabled(r.Context(), slog.LevelDebug) {
			tenant := ""
			if q.tenant != nil {
				tenant = q.tenant.ID
			}
			s.log.LogAttrs(r.Context(), slog.LevelDebug, "request",
				slog.String("op", opNames[q.op]), slog.String("method", r.Method), slog.String("tenant", tenant),
				slog.Int("status", code), slog.Duration("duration", d), slog.String("remote", r.RemoteAddr), slog.String("proto", r.Proto))
		}
	})
}

// authenticated resolves the Bearer API key to a tenant, or answers 401.
func (s *Server) authenticated(next stage) stage {
	return func(w http.ResponseWriter, r *http.Request, q *request) int {
		t, code := s.authenticate(w, r)
		if t == nil {
			return code
		}
		q.tenant = t
		return next(w, r, q)
	}
}

// validKey takes the key from the {key} wildcard (the mux has unescaped that
// one segment, so an encoded "/" stays inside it) and answers 400 unless it
// is a valid key.
func (s *Server) validKey(next stage) stage {
	return func(w http.ResponseWriter, r *http.Request, q *request) int {
		key := r.PathValue("key")
		if !ValidKey(key) {
			return invalidKey(w, r, q)
		}
		q.key = key
		return next(w, r, q)
	}
}

// rateLimited applies the per-(tenant, key) token bucket, when configured.
func (s *Server) rateLimited(next stage) stage {
	if s.limiter == nil {
		return next
	}
	return func(w http.ResponseWriter, r *http.Request, q *request) int {
		if ok, wait := s.limiter.allow(q.tenant.ID, q.key, s.now()); !ok {
			s.metrics.rateLimited.Add(1)
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(max(wait, time.Second).Seconds()))))
			return writeError(w, http.StatusTooManyRequests, "rate limit exceeded for this key")
		}
		return next(w, r, q)
	}
}

// noQuery answers 400 to a query string on a key route, except a single
// parameter named allowed (when not empty). A client that sends keys
// unencoded (the Python SDK) would otherwise store a key containing '?'
// under the part before it, and two keys would share one entry.
func noQuery(allowed string) middleware {
	return func(next stage) stage {
		return func(w http.ResponseWriter, r *http.Request, q *request) int {
			if r.URL.RawQuery != "" || r.URL.ForceQuery {
				name, _, _ := strings.Cut(r.URL.RawQuery, "=")
				if allowed == "" || name != allowed || strings.ContainsAny(r.URL.RawQuery, "&;") {
					return writeError(w, http.StatusBadRequest, "query strings are not part of the API: percent-encode '?' in keys")
				}
			}
			return next(w, r, q)
		}
	}
}

func methodNotAllowed(allow string) stage {
	return func(w http.ResponseWriter, _ *http.Request, _ *request) int {
		w.Header().Set("Allow", allow)
		return writeError(w, http.StatusMethodNotAllowed, "method not allowed")
	}
}

func invalidKey(w http.ResponseWriter, _ *http.Request, _ *request) int {
	return writeError(w, http.StatusBadRequest, "invalid key: want 1..400 characters of [A-Za-z0-9_.:-] without '..'")
}

func notFound(w http.ResponseWriter, _ *http.Request, _ *request) int {
	return writeError(w, http.StatusNotFound, "no such route")
}

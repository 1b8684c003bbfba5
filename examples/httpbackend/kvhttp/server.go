package kvhttp

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Server is an in-memory kvhttp service: the other half of the example. It
// is an http.Handler; serve it with net/http.
type Server struct {
	// MaxValueSize bounds a PUT body (default DefaultMaxValueSize); larger
	// values get 413.
	MaxValueSize int64

	mu   sync.Mutex
	data map[string]entry
	puts int
}

type entry struct {
	value   []byte
	expires time.Time // zero = never
}

// NewServer returns an empty Server.
func NewServer() *Server {
	return &Server{MaxValueSize: DefaultMaxValueSize, data: map[string]entry{}}
}

// ServeHTTP answers GET, PUT, DELETE and HEAD on /kv/{key}. The key is the
// percent-decoded rest of the path, so it may contain any byte.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.EscapedPath(), "/kv/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	key, err := url.PathUnescape(rest)
	if err != nil {
		http.Error(w, "bad key encoding", http.StatusBadRequest)
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		v, ok := s.get(key)
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.Itoa(len(v)))
		if r.Method == http.MethodGet {
			_, _ = w.Write(v)
		}
	case http.MethodPut:
		var expires time.Time
		if h := r.Header.Get(TTLHeader); h != "" {
			ms, err := strconv.ParseInt(h, 10, 64)
			if err != nil || ms <= 0 {
				http.Error(w, "bad "+TTLHeader, http.StatusBadRequest)
				return
			}
			expires = time.Now().Add(time.Duration(ms) * time.Millisecond)
		}
		v, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.MaxValueSize))
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				http.Error(w, "value too large", http.StatusRequestEntityTooLarge)
				return
			}
			http.Error(w, "reading the body failed", http.StatusBadRequest)
			return
		}
		s.put(key, entry{value: v, expires: expires})
		w.WriteHeader(http.StatusNoContent)
	case http.MethodDelete:
		if !s.delete(key) {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		w.Header().Set("Allow", "GET, PUT, DELETE, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

func (s *Server) get(key string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.data[key]
	if ok && !e.expires.IsZero() && !time.Now().Before(e.expires) {
		delete(s.data, key)
		return nil, false
	}
	return e.value, ok
}

func (s *Server) put(key string, e entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.data[key] = e
	// Expired entries go when read, and in a sweep every 1024 writes.
	if s.puts++; s.puts%1024 == 0 {
		now := time.Now()
		for k, e := range s.data {
			if !e.expires.IsZero() && !now.Before(e.expires) {
				delete(s.data, k)
			}
		}
	}
}

func (s *Server) delete(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.data[key]
	delete(s.data, key)
	return ok && (e.expires.IsZero() || time.Now().Before(e.expires))
}

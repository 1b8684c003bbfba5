// Package kvhttp is an example of a custom cachekit-go backend: a Backend over
// a plain HTTP key/value service, in about 200 lines. Copy it as a starting
// point for your own store.
//
// The service speaks four requests on /kv/{key}:
//
//	GET    200 + value bytes, or 404
//	PUT    body = value, optional header X-TTL-Ms (milliseconds, absent = no expiry); 204
//	DELETE 204 when the key existed, 404 when not
//	HEAD   200 or 404
//
// What a backend has to get right, and where this one does it:
//
//   - A miss is (nil, false, nil) and deleting a missing key is (false, nil):
//     404 is an answer, not an error (Get, Delete).
//   - Failures are *backend.Error with a Kind the cache layer can act on:
//     408, 429 and 5xx and network errors are Transient, 401/403
//     Authentication, other 4xx Permanent, a passed deadline Timeout
//     (statusError, requestError).
//   - Every request carries the caller's context, so deadlines and
//     cancellation reach the network; the cancellation error wraps
//     context.Canceled (requestError).
//   - The backend never retains the caller's slice after Set, and never reads
//     an unbounded body (MaxValueSize).
//   - Values and secrets never appear in errors.
//
// Locks, TTL inspection and per-operation timeouts are optional interfaces
// (backend.Locker, backend.TTLInspector, backend.TimeoutSetter); this example
// implements none of them, and the conformance suite skips their checks. Run
// backendtest.Run against your backend to check it, as kvhttp_test.go does.
//
// Server is the matching service (in memory), small enough to read in one
// sitting; the example program and the tests run it in-process.
package kvhttp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cachekit-go/cachekit/backend"
)

// DefaultMaxValueSize bounds the values Backend reads and Server stores.
const DefaultMaxValueSize = 16 << 20

// TTLHeader carries a PUT's lifetime in milliseconds.
const TTLHeader = "X-TTL-Ms"

const name = "kvhttp"

// Backend talks to a kvhttp service. It is safe for concurrent use.
type Backend struct {
	base   string // "http://host:port", no trailing slash
	client *http.Client
	// MaxValueSize bounds the value Get reads (default DefaultMaxValueSize).
	MaxValueSize int64
}

var _ backend.Backend = (*Backend)(nil)

// New returns a Backend for the service at baseURL (e.g.
// "http://127.0.0.1:8080"). client may be nil for http.DefaultClient.
func New(baseURL string, client *http.Client) (*Backend, error) {
	if !strings.HasPrefix(baseURL, "http://") && !strings.HasPrefix(baseURL, "https://") {
		return nil, fmt.Errorf("kvhttp: base URL %q is not http(s)", baseURL)
	}
	if client == nil {
		client = http.DefaultClient
	}
	return &Backend{base: strings.TrimRight(baseURL, "/"), client: client, MaxValueSize: DefaultMaxValueSize}, nil
}

// Get returns the value under key.
func (b *Backend) Get(ctx context.Context, key string) ([]byte, bool, error) {
	resp, err := b.do(ctx, http.MethodGet, key, nil, nil)
	if err != nil {
		return nil, false, requestError(ctx, "get", key, err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		v, err := io.ReadAll(io.LimitReader(resp.Body, b.MaxValueSize+1))
		if err != nil {
			return nil, false, requestError(ctx, "get", key, err)
		}
		if int64(len(v)) > b.MaxValueSize {
			return nil, false, backend.NewError(backend.Permanent, name, "get", key,
				fmt.Errorf("value larger than MaxValueSize (%d bytes)", b.MaxValueSize))
		}
		return v, true, nil
	case http.StatusNotFound:
		return nil, false, nil
	}
	return nil, false, statusError("get", key, resp)
}

// Set stores value under key for ttl (0 = no expiry).
func (b *Backend) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if ttl < 0 {
		return backend.NewError(backend.Permanent, name, "set", key, errors.New("negative TTL"))
	}
	h := http.Header{}
	if ttl > 0 {
		ms := (ttl + time.Millisecond - 1) / time.Millisecond // round up: 1ns is 1ms, not 0 (= forever)
		h.Set(TTLHeader, strconv.FormatInt(int64(ms), 10))
	}
	// bytes.NewReader reads value during the request only: nothing is
	// retained once Set returns.
	resp, err := b.do(ctx, http.MethodPut, key, h, value)
	if err != nil {
		return requestError(ctx, "set", key, err)
	}
	defer drain(resp)
	if resp.StatusCode/100 == 2 {
		return nil
	}
	return statusError("set", key, resp)
}

// Delete removes key.
func (b *Backend) Delete(ctx context.Context, key string) (bool, error) {
	return b.probe(ctx, http.MethodDelete, "delete", key)
}

// Exists reports whether key holds a value.
func (b *Backend) Exists(ctx context.Context, key string) (bool, error) {
	return b.probe(ctx, http.MethodHead, "exists", key)
}

// HealthCheck asks for a key that does not exist: any answer means the
// service is up.
func (b *Backend) HealthCheck(ctx context.Context) (bool, map[string]any) {
	start := time.Now()
	_, err := b.Exists(ctx, "__health__")
	details := map[string]any{
		backend.DetailBackendType: name,
		backend.DetailLatencyMS:   float64(time.Since(start).Microseconds()) / 1000,
	}
	if err != nil {
		details[backend.DetailError] = err.Error()
		return false, details
	}
	return true, details
}

// probe sends a body-less request whose answer is 2xx (true) or 404 (false).
func (b *Backend) probe(ctx context.Context, method, op, key string) (bool, error) {
	resp, err := b.do(ctx, method, key, nil, nil)
	if err != nil {
		return false, requestError(ctx, op, key, err)
	}
	defer drain(resp)
	switch {
	case resp.StatusCode/100 == 2:
		return true, nil
	case resp.StatusCode == http.StatusNotFound:
		return false, nil
	}
	return false, statusError(op, key, resp)
}

func (b *Backend) do(ctx context.Context, method, key string, h http.Header, body []byte) (*http.Response, error) {
	var rd io.Reader
	if method == http.MethodPut {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, b.base+"/kv/"+EscapeKey(key), rd)
	if err != nil {
		return nil, err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	return b.client.Do(req)
}

// drain reads a little of an unread body so the connection can be reused.
func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	_ = resp.Body.Close()
}

// EscapeKey percent-encodes every byte of key outside A-Z a-z 0-9 - _ ~ so
// that any key, "." and ".." and "/" included, is one opaque path segment.
func EscapeKey(key string) string {
	var sb strings.Builder
	for i := 0; i < len(key); i++ {
		c := key[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '~' {
			sb.WriteByte(c)
			continue
		}
		fmt.Fprintf(&sb, "%%%02X", c)
	}
	return sb.String()
}

// requestError classifies a failure to get an answer at all.
func requestError(ctx context.Context, op, key string, err error) *backend.Error {
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		return backend.NewError(backend.Transient, name, op, key, ctx.Err()) // wraps context.Canceled
	case ctx.Err() != nil:
		return backend.NewError(backend.Timeout, name, op, key, ctx.Err())
	}
	kind := backend.Classify(err) // net timeouts -> Timeout, other net errors -> Transient
	if kind == backend.Unknown {
		kind = backend.Transient
	}
	return backend.NewError(kind, name, op, key, err)
}

// statusError classifies an HTTP error status.
func statusError(op, key string, resp *http.Response) *backend.Error {
	kind := backend.Permanent
	switch code := resp.StatusCode; {
	case code == http.StatusRequestTimeout, code == http.StatusTooManyRequests, code >= 500:
		kind = backend.Transient
	case code == http.StatusUnauthorized, code == http.StatusForbidden:
		kind = backend.Authentication
	}
	return backend.NewError(kind, name, op, key, fmt.Errorf("HTTP %s", resp.Status))
}

package cachekitio

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cachekit-go/cachekit/backend"
)

// Response size limits: a value (the API stores at most 25 MB) and a JSON
// answer. Larger bodies are refused rather than buffered.
const (
	maxValueBody = 64 << 20
	maxJSONBody  = 64 << 10
)

// maxRetryAfter caps what a server can ask for; the deadline normally caps
// it much sooner.
const maxRetryAfter = time.Hour

// call describes one API operation.
type call struct {
	op      string // backend.Error Op
	key     string // cache key ("" for health)
	method  string
	u       *url.URL
	body    []byte // re-sent from the slice on every attempt
	ctype   string
	header  func(http.Header)
	accept  func(code int) bool // statuses that end the operation successfully
	bodyMax int64
	retry   bool // false: a single attempt (health probes)
}

// response is a fully read answer.
type response struct {
	code   int
	header http.Header
	body   []byte
	proto  string
}

// opError builds the *backend.Error for a failed operation.
func (b *Backend) opError(kind backend.Kind, c *call, err error) error {
	return &backend.Error{Kind: kind, Backend: backendName, Op: c.op, Key: c.key, Err: b.c.scrub(err)}
}

// do runs c with retries inside the operation's deadline.
func (b *Backend) do(ctx context.Context, c *call) (*response, error) {
	if b.c.closed.Load() {
		return nil, b.opError(backend.Permanent, c, ErrClosed)
	}
	if ctx == nil {
		return nil, b.opError(backend.Permanent, c, errors.New("nil context"))
	}
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()

	attempts := 1
	if c.retry {
		attempts += b.c.maxRetries
	}
	var lastErr error
	var lastKind backend.Kind
	for attempt := 0; attempt < attempts; attempt++ {
		if attempt > 0 {
			wait := backoff(attempt - 1)
			var se *StatusError
			if errors.As(lastErr, &se) && se.RetryAfter > wait {
				wait = se.RetryAfter
			}
			if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= wait {
				// Sleeping would pass the deadline: give up now with the
				// last failure rather than time out later.
				if se != nil && se.RetryAfter > 0 && se.RetryAfter >= time.Until(dl) {
					lastErr = fmt.Errorf("%w: %w", ErrRetryAfterTooLong, lastErr)
				}
				break
			}
			b.c.log.LogAttrs(ctx, slog.LevelDebug, "cachekitio: retrying",
				slog.String("op", c.op), slog.String("key", c.key),
				slog.Int("attempt", attempt+1), slog.Duration("wait", wait),
				slog.String("cause", lastErr.Error()))
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, b.opError(ctxKind(ctx), c, ctx.Err())
			case <-t.C:
			}
		}
		resp, err := b.attempt(ctx, c)
		if err == nil {
			if c.accept(resp.code) {
				return resp, nil
			}
			se := &StatusError{StatusCode: resp.code}
			if resp.code == http.StatusTooManyRequests || resp.code == http.StatusServiceUnavailable {
				se.RetryAfter = parseRetryAfter(resp.header.Get("Retry-After"), time.Now())
			}
			lastErr, lastKind = se, kindOfStatus(resp.code)
			if lastKind == backend.Unknown {
				lastKind = backend.Permanent
				lastErr = fmt.Errorf("%w: %w", ErrProtocol, se)
			}
		} else {
			lastErr, lastKind = err, kindOfTransportError(err)
			if ctx.Err() != nil {
				// The operation's deadline or the caller's cancellation:
				// report that, not whatever the transport made of it.
				return nil, b.opError(ctxKind(ctx), c, ctx.Err())
			}
		}
		if !retryable(lastKind) {
			break
		}
	}
	return nil, b.opError(lastKind, c, lastErr)
}

// ctxKind is Timeout for a passed deadline and Unknown for a cancellation.
func ctxKind(ctx context.Context) backend.Kind {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return backend.Timeout
	}
	return backend.Unknown
}

// attempt sends c once and reads the whole answer.
func (b *Backend) attempt(ctx context.Context, c *call) (*response, error) {
	var body io.Reader
	if c.body != nil {
		body = bytes.NewReader(c.body)
	}
	req, err := http.NewRequestWithContext(ctx, c.method, c.u.String(), body)
	if err != nil {
		return nil, err
	}
	b.c.authorize(req.Header)
	req.Header.Set("User-Agent", userAgent)
	if c.ctype != "" {
		req.Header.Set("Content-Type", c.ctype)
	}
	b.c.setMetricsHeaders(req.Header)
	if id := backend.InvalidationSender(ctx); id != "" {
		req.Header.Set("X-CacheKit-Sender", id) // names the writer in cachekitd's invalidation stream (events.go)
	}
	if c.header != nil {
		c.header(req.Header)
	}
	resp, err := b.c.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			// url.Error repeats method and URL, which the backend.Error
			// already names; keep the cause.
			err = fmt.Errorf("%s: %w", strings.ToLower(c.method), ue.Err)
		}
		return nil, err
	}
	defer resp.Body.Close()
	if b.c.onResponse != nil {
		b.c.onResponse(resp)
	}
	if c.method == http.MethodHead {
		// No body; Content-Length is the size of the entry, not of this
		// answer, so it must not meet the body limits.
		return &response{code: resp.StatusCode, header: resp.Header, proto: resp.Proto}, nil
	}
	limit := c.bodyMax
	if limit == 0 {
		limit = maxJSONBody
	}
	if resp.ContentLength > limit {
		return nil, fmt.Errorf("%w: response body of %d bytes exceeds %d", ErrProtocol, resp.ContentLength, limit)
	}
	data, err := readLimited(resp.Body, resp.ContentLength, limit)
	if err != nil {
		return nil, err
	}
	return &response{code: resp.StatusCode, header: resp.Header, body: data, proto: resp.Proto}, nil
}

// maxPrealloc bounds what a declared Content-Length alone can make the
// client allocate before the bytes arrive.
const maxPrealloc = 1 << 20

// readLimited reads a whole body of at most limit bytes; a longer one is
// ErrProtocol, found after reading at most limit+1 bytes. A body whose length
// is declared and at most maxPrealloc takes exactly one allocation, one byte
// larger than the body so the final read sees EOF without growing the buffer
// (bytes.Buffer.ReadFrom would double it there). Larger or undeclared bodies
// grow by doubling as their bytes arrive, so memory follows what the server
// actually sent, never what it merely announced.
func readLimited(r io.Reader, declared, limit int64) ([]byte, error) {
	end := limit + 1 // capacity that is never exceeded
	if declared >= 0 && declared < limit {
		end = declared + 1
	}
	size := int64(512)
	if declared >= 0 {
		size = min(end, maxPrealloc+1)
	}
	buf := make([]byte, 0, size)
	for {
		if len(buf) == cap(buf) {
			if int64(cap(buf)) >= end {
				// limit+1 bytes read, or more than the declared length.
				return nil, fmt.Errorf("%w: response body exceeds %d bytes", ErrProtocol, end-1)
			}
			grown := make([]byte, len(buf), min(2*int64(cap(buf)), end))
			copy(grown, buf)
			buf = grown
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			if int64(len(buf)) > limit {
				return nil, fmt.Errorf("%w: response body exceeds %d bytes", ErrProtocol, limit)
			}
			return buf, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading response: %w", err)
		}
	}
}

const userAgent = "cachekit-go"

// setMetricsHeaders adds X-CacheKit-L1-Status (always: the API requires it
// for ck_sdk_ keys) and, unless disabled, the session and statistics headers.
func (c *client) setMetricsHeaders(h http.Header) {
	var st *Stats
	if f := c.stats.Load(); f != nil && *f != nil {
		s := (*f)()
		st = &s
	}
	status := "disabled"
	if st != nil {
		switch st.L1Status {
		case "hit", "miss", "disabled":
			status = st.L1Status
		default:
			status = "miss"
		}
	}
	h.Set("X-CacheKit-L1-Status", status)
	if !c.metrics {
		return
	}
	h.Set("X-CacheKit-Session-ID", c.sessionID)
	h.Set("X-CacheKit-Session-Start", c.sessionStart)
	if st != nil {
		h.Set("X-CacheKit-L1-Hits", strconv.FormatUint(st.L1Hits, 10))
		h.Set("X-CacheKit-L2-Hits", strconv.FormatUint(st.L2Hits, 10))
		h.Set("X-CacheKit-Misses", strconv.FormatUint(st.Misses, 10))
		h.Set("X-CacheKit-L1-Hit-Rate", hitRate(*st))
	}
}

// backoff returns the wait before retry n (0-based): full jitter over an
// exponentially growing, capped window.
func backoff(n int) time.Duration {
	window := RetryMaxDelay
	if n < 16 {
		if w := RetryBaseDelay << n; w < window {
			window = w
		}
	}
	return rand.N(window + 1)
}

// parseRetryAfter reads Retry-After as delta-seconds or an HTTP-date (RFC
// 9110 10.2.3). Absent, malformed or past values give 0; values are capped
// at maxRetryAfter.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if v[0] >= '0' && v[0] <= '9' {
		n, err := strconv.ParseUint(v, 10, 64)
		switch {
		case errors.Is(err, strconv.ErrRange), err == nil && n > uint64(maxRetryAfter/time.Second):
			return maxRetryAfter
		case err != nil:
			return 0
		}
		return time.Duration(n) * time.Second
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	d := t.Sub(now)
	switch {
	case d < 0:
		return 0
	case d > maxRetryAfter:
		return maxRetryAfter
	}
	return d
}

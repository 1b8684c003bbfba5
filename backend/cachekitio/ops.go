package cachekitio

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/cachekit-go/cachekit/backend"
)

func codeIn(codes ...int) func(int) bool {
	return func(code int) bool {
		for _, c := range codes {
			if code == c {
				return true
			}
		}
		return false
	}
}

// keyCall prepares a call on key, or returns the error for a key that can
// not be sent.
func (b *Backend) keyCall(op, method, key, suffix string) (*call, error) {
	c := &call{op: op, key: key, method: method, retry: true}
	esc, err := escapeKey(key)
	if err != nil {
		return nil, b.opError(backend.Permanent, c, err)
	}
	c.u = b.c.requestURL(key, esc, suffix)
	return c, nil
}

// Entry is a value read with GetEntry, with what the server said about its
// freshness (stale-while-revalidate).
type Entry struct {
	Value []byte
	// Stale is true when the server served the entry from its stale-grace
	// window (X-CacheKit-Freshness: stale, or an unrecognised label). The
	// caller should serve it and revalidate in the background.
	Stale bool
	// FreshFor is the remaining freshness the server reported
	// (X-CacheKit-Fresh-For); HasFreshFor is false when it reported none,
	// which means no server-side bound (a no-expiry entry or an older
	// server). A local copy must not outlive FreshFor, and a stale entry must
	// not be copied locally at all.
	FreshFor    time.Duration
	HasFreshFor bool
}

// Get returns the value stored under key. Entries in their stale-grace
// window are returned as hits; use GetEntry to tell them apart.
func (b *Backend) Get(ctx context.Context, key string) ([]byte, bool, error) {
	e, found, err := b.GetEntry(ctx, key)
	return e.Value, found, err
}

// GetWithTTL returns the value stored under key and how long a copy of it may
// live. With cachekitd that is one GET: the X-CacheKit-Fresh-For header of the
// answer (whole seconds). An answer without the header is ambiguous (an entry
// without expiry, or a server that does not send the header, such as the
// managed API or an older cachekitd), so the remaining lifetime is then asked
// for with a second request (GET {key}/ttl); if that fails the value is still
// returned, with a nanosecond to live. An entry in its stale-grace window, or
// fresh for less than a second, reports a nanosecond: it is served, but must
// not be kept.
func (b *Backend) GetWithTTL(ctx context.Context, key string) ([]byte, time.Duration, bool, error) {
	e, found, err := b.GetEntry(ctx, key)
	if !found || err != nil {
		return nil, 0, false, err
	}
	if e.Stale || e.HasFreshFor {
		return e.Value, max(e.FreshFor, time.Nanosecond), true, nil
	}
	rem, ok, err := b.TTL(ctx, key)
	if err != nil || !ok {
		// Unknown lifetime (or the entry went meanwhile): serve, don't keep.
		return e.Value, time.Nanosecond, true, nil
	}
	return e.Value, rem, true, nil
}

// GetEntry returns the value stored under key with its freshness.
func (b *Backend) GetEntry(ctx context.Context, key string) (Entry, bool, error) {
	c, err := b.keyCall("get", http.MethodGet, key, "")
	if err != nil {
		return Entry{}, false, err
	}
	c.accept = codeIn(http.StatusOK, http.StatusNotFound)
	c.bodyMax = b.c.maxValue
	resp, err := b.do(ctx, c)
	if err != nil {
		return Entry{}, false, err
	}
	if resp.code == http.StatusNotFound {
		return Entry{}, false, nil
	}
	e := Entry{Value: resp.body}
	if e.Value == nil {
		e.Value = []byte{}
	}
	switch f := resp.header.Values("X-CacheKit-Freshness"); {
	case len(f) == 0, len(f) == 1 && f[0] == "fresh":
	default:
		e.Stale = true // "stale", or anything unrecognised: revalidate
	}
	fv, present := resp.header["X-Cachekit-Fresh-For"]
	var v string
	if present && len(fv) == 1 {
		v = fv[0]
	}
	e.FreshFor, e.HasFreshFor = parseFreshFor(v, present)
	if e.Stale {
		e.FreshFor = 0
	}
	return e, true, nil
}

// Set stores value under key. ttl == 0 sends no TTL header: the server
// applies the tenant's default lifetime, which is no expiry on a cachekitd
// started with --default-ttl 0 and the configured default otherwise
// (cachekitd: one hour). Sub-second TTLs round up to one second; a negative
// TTL or one above MaxTTL is ErrInvalidTTL.
func (b *Backend) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	return b.set(ctx, key, value, ttl, 0)
}

// SetWithStale stores value like Set and asks the server to keep serving it,
// marked stale, for staleTTL after ttl has passed (stale-while-revalidate).
// It needs a positive ttl, and ttl+staleTTL must not exceed MaxTTL. A
// staleTTL of 0 is the same as Set.
func (b *Backend) SetWithStale(ctx context.Context, key string, value []byte, ttl, staleTTL time.Duration) error {
	return b.set(ctx, key, value, ttl, staleTTL)
}

func (b *Backend) set(ctx context.Context, key string, value []byte, ttl, staleTTL time.Duration) error {
	c, err := b.keyCall("set", http.MethodPut, key, "")
	if err != nil {
		return err
	}
	var ttlHeader, staleHeader string
	switch {
	case ttl < 0:
		return b.opError(backend.Permanent, c, fmt.Errorf("%w: %s is negative", ErrInvalidTTL, ttl))
	case ttl > 0:
		s, err := ttlSeconds(ttl)
		if err != nil {
			return b.opError(backend.Permanent, c, err)
		}
		ttlHeader = strconv.FormatInt(s, 10)
		switch {
		case staleTTL < 0:
			return b.opError(backend.Permanent, c, fmt.Errorf("%w: stale TTL %s is negative", ErrInvalidTTL, staleTTL))
		case staleTTL > 0:
			ss, err := ttlSeconds(staleTTL)
			if err != nil || s+ss > maxTTLSeconds {
				return b.opError(backend.Permanent, c, fmt.Errorf("%w: TTL plus stale TTL exceeds the 30-day maximum", ErrInvalidTTL))
			}
			staleHeader = strconv.FormatInt(ss, 10)
		}
	case staleTTL != 0:
		return b.opError(backend.Permanent, c, fmt.Errorf("%w: a stale TTL needs a TTL", ErrInvalidTTL))
	}
	if value == nil {
		value = []byte{}
	}
	c.body = value
	c.ctype = "application/octet-stream"
	c.header = func(h http.Header) {
		if ttlHeader != "" {
			h.Set("X-CacheKit-TTL", ttlHeader)
		}
		if staleHeader != "" {
			h.Set("X-CacheKit-Stale-TTL", staleHeader)
		}
	}
	c.accept = codeIn(http.StatusOK, http.StatusCreated, http.StatusNoContent)
	_, err = b.do(ctx, c)
	return err
}

// Delete removes key. It reports true when the server answered 200/204 and
// false for 404. (api.cachekit.io answers 200 whether or not the key
// existed; a self-hosted cachekitd answers 404 for a missing key.)
func (b *Backend) Delete(ctx context.Context, key string) (bool, error) {
	c, err := b.keyCall("delete", http.MethodDelete, key, "")
	if err != nil {
		return false, err
	}
	c.accept = codeIn(http.StatusOK, http.StatusNoContent, http.StatusNotFound)
	resp, err := b.do(ctx, c)
	if err != nil {
		return false, err
	}
	return resp.code != http.StatusNotFound, nil
}

// Exists reports whether key holds a value (HEAD). An entry in its
// stale-grace window exists.
func (b *Backend) Exists(ctx context.Context, key string) (bool, error) {
	c, err := b.keyCall("exists", http.MethodHead, key, "")
	if err != nil {
		return false, err
	}
	c.accept = codeIn(http.StatusOK, http.StatusNotFound)
	resp, err := b.do(ctx, c)
	if err != nil {
		return false, err
	}
	return resp.code == http.StatusOK, nil
}

// AcquireLock tries once to take the lock on key for hold (sent as
// timeout_ms, rounded up to a millisecond). A contested lock is
// ("", false, nil), whether the server says so with {"lock_id": null} or
// with 409.
//
// Transient failures are retried like every operation; if an earlier
// attempt took the lock but its answer was lost, the retry sees the lock
// contested and the lock simply expires after hold.
func (b *Backend) AcquireLock(ctx context.Context, key string, hold time.Duration) (string, bool, error) {
	c, err := b.keyCall("lock", http.MethodPost, key, "/lock")
	if err != nil {
		return "", false, err
	}
	ms, err := holdMillis(hold)
	if err != nil {
		return "", false, b.opError(backend.Permanent, c, err)
	}
	c.body = []byte(`{"timeout_ms":` + strconv.FormatInt(ms, 10) + `}`)
	c.ctype = "application/json"
	c.accept = codeIn(http.StatusOK, http.StatusCreated, http.StatusConflict)
	resp, err := b.do(ctx, c)
	if err != nil {
		return "", false, err
	}
	if resp.code == http.StatusConflict {
		return "", false, nil
	}
	id, err := decodeLockID(resp.body)
	if err != nil {
		return "", false, b.opError(backend.Permanent, c, err)
	}
	return id, id != "", nil
}

// ReleaseLock releases the lock on key if lockID holds it. It reports false
// when the server answers 404 or 409 (not held, expired, or another
// holder's), and for an empty or malformed lockID, which can not hold any
// lock.
func (b *Backend) ReleaseLock(ctx context.Context, key, lockID string) (bool, error) {
	c, err := b.keyCall("unlock", http.MethodDelete, key, "/lock")
	if err != nil {
		return false, err
	}
	if !validLockID(lockID) {
		return false, nil
	}
	c.header = func(h http.Header) { h.Set("X-CacheKit-Lock-Id", lockID) }
	c.accept = codeIn(http.StatusOK, http.StatusNoContent, http.StatusNotFound, http.StatusConflict)
	resp, err := b.do(ctx, c)
	if err != nil {
		return false, err
	}
	return resp.code == http.StatusOK || resp.code == http.StatusNoContent, nil
}

// TTL returns the remaining lifetime of key as the server reports it, in
// whole seconds (cachekitd reports the remaining fresh time, rounded up, and
// 0 once the entry is in its stale window). An entry without expiry
// ({"ttl": null}) is (0, true, nil); a missing key (0, false, nil).
func (b *Backend) TTL(ctx context.Context, key string) (time.Duration, bool, error) {
	c, err := b.keyCall("ttl", http.MethodGet, key, "/ttl")
	if err != nil {
		return 0, false, err
	}
	c.accept = codeIn(http.StatusOK, http.StatusNotFound)
	resp, err := b.do(ctx, c)
	if err != nil {
		return 0, false, err
	}
	if resp.code == http.StatusNotFound {
		return 0, false, nil
	}
	d, err := decodeTTL(resp.body)
	if err != nil {
		return 0, false, b.opError(backend.Permanent, c, err)
	}
	return d, true, nil
}

// RefreshTTL gives key a new lifetime of ttl (rounded up to whole seconds;
// zero, negative and above MaxTTL are ErrInvalidTTL). It reports false for
// 404. cachekitd keeps the entry's stale window and refreshes an entry that
// is already stale (it turns fresh again); a server that refuses that with
// 409 gives a Permanent error.
func (b *Backend) RefreshTTL(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	c, err := b.keyCall("refresh_ttl", http.MethodPatch, key, "/ttl")
	if err != nil {
		return false, err
	}
	s, err := ttlSeconds(ttl)
	if err != nil {
		return false, b.opError(backend.Permanent, c, err)
	}
	c.body = []byte(`{"ttl":` + strconv.FormatInt(s, 10) + `}`)
	c.ctype = "application/json"
	c.accept = codeIn(http.StatusOK, http.StatusNoContent, http.StatusNotFound)
	resp, err := b.do(ctx, c)
	if err != nil {
		return false, err
	}
	return resp.code != http.StatusNotFound, nil
}

// HealthCheck probes GET /v1/cache/health once (no retries, within the
// timeout). details holds backend_type ("saas"), latency_ms, api_url,
// http_protocol (the negotiated protocol, "HTTP/2.0" normally), the server's
// version when it reports one, and error on failure.
func (b *Backend) HealthCheck(ctx context.Context) (bool, map[string]any) {
	details := map[string]any{
		backend.DetailBackendType: "saas",
		"api_url":                 b.c.apiURL,
	}
	u := *b.c.base.base
	u.Path += "/v1/cache/health"
	c := &call{op: "health", method: http.MethodGet, u: &u, accept: codeIn(http.StatusOK)}
	start := time.Now()
	resp, err := b.do(ctx, c)
	details[backend.DetailLatencyMS] = float64(time.Since(start).Microseconds()) / 1000
	if err != nil {
		details[backend.DetailError] = err.Error()
		return false, details
	}
	details["http_protocol"] = resp.proto
	var h struct {
		Version string `json:"version"`
		Status  string `json:"status"`
	}
	if json.Unmarshal(resp.body, &h) == nil {
		if v := printable(h.Version, 64); v != "" {
			details["version"] = v
		}
		if s := printable(h.Status, 32); s != "" {
			details["status"] = s
		}
	}
	return true, details
}

// decodeLockID reads {"lock_id": "<id>"} or {"lock_id": null}; an absent or
// empty lock_id is contested too.
func decodeLockID(body []byte) (string, error) {
	var v struct {
		LockID *string `json:"lock_id"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return "", fmt.Errorf("%w: lock answer is not JSON", ErrProtocol)
	}
	if v.LockID == nil || *v.LockID == "" {
		return "", nil
	}
	if !validLockID(*v.LockID) {
		return "", fmt.Errorf("%w: lock_id is not a short printable token", ErrProtocol)
	}
	return *v.LockID, nil
}

// validLockID accepts 1..256 visible ASCII characters, so an id can always
// travel in a header.
func validLockID(id string) bool {
	if len(id) == 0 || len(id) > 256 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return false
		}
	}
	return true
}

// decodeTTL reads {"ttl": n} (whole seconds, n >= 0) or {"ttl": null} (no
// expiry, returned as 0).
func decodeTTL(body []byte) (time.Duration, error) {
	var v struct {
		TTL *json.Number `json:"ttl"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return 0, fmt.Errorf("%w: ttl answer is not JSON", ErrProtocol)
	}
	if v.TTL == nil {
		return 0, nil
	}
	f, err := v.TTL.Float64()
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > float64(100*maxTTLSeconds) {
		return 0, fmt.Errorf("%w: ttl is not a non-negative number of seconds", ErrProtocol)
	}
	return time.Duration(math.Ceil(f)) * time.Second, nil
}

// printable keeps s only if it is at most max visible ASCII characters (and
// spaces): the server's version string goes into health details.
func printable(s string, max int) string {
	if len(s) > max {
		return ""
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return ""
		}
	}
	return s
}

// ReadBudget is the default read budget the cache gives this backend
// (backend.ReadBudgeter): backend.HTTPReadBudget.
func (b *Backend) ReadBudget() time.Duration { return backend.HTTPReadBudget }

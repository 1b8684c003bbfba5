package cachekitio

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/cachekit-go/cachekit/backend"
)

// ErrClosed is returned by operations on a Backend after Close.
var ErrClosed = errors.New("cachekitio: backend closed")

// Backend is a backend.Backend over the CacheKit HTTP API. It also
// implements backend.Locker, backend.TTLInspector, backend.TTLGetter and
// backend.TimeoutSetter.
// It is safe for concurrent use; create one and share it.
type Backend struct {
	c       *client
	timeout time.Duration
}

// client is the state every Backend derived by WithTimeout shares: one HTTP
// transport (connection pool), one session.
type client struct {
	http      *http.Client
	transport *http.Transport
	base      *checkedURL
	apiURL    string
	// The API key lives only inside these closures: fmt and other
	// reflection-based printers show a func as an address, never its
	// captured values.
	authorize  func(http.Header)
	scrub      func(error) error
	maxRetries int
	log        *slog.Logger
	metrics    bool

	stats  atomic.Pointer[func() Stats]
	closed atomic.Bool

	sessionID    string
	sessionStart string

	// maxValue bounds a value read by GET (maxValueBody; tests lower it).
	maxValue int64

	// onResponse, when set (tests only), sees every response received.
	onResponse func(*http.Response)
}

var (
	_ backend.Backend       = (*Backend)(nil)
	_ backend.Locker        = (*Backend)(nil)
	_ backend.TTLInspector  = (*Backend)(nil)
	_ backend.TTLGetter     = (*Backend)(nil)
	_ backend.TimeoutSetter = (*Backend)(nil)
)

// Health checks of pooled HTTP/2 connections: a connection that received no
// frame for http2PingAfter is PINGed and closed when the answer has not come
// within http2PingTimeout, so a dead connection is replaced about two
// seconds after it went silent; one that accepts no written byte for
// http2WriteTimeout is closed too.
const (
	http2PingAfter    = time.Second
	http2PingTimeout  = time.Second
	http2WriteTimeout = 2 * time.Second
)

// New validates opts (including the SSRF rules on the URL) and returns a
// Backend. It does not contact the server; use HealthCheck for that.
func New(opts Options) (*Backend, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	cu, err := checkURL(opts.URL, opts.AllowCustomHost, opts.AllowPrivateNetworks)
	if err != nil {
		return nil, err
	}
	resolver := opts.Resolver
	if resolver == nil {
		resolver = net.DefaultResolver
	}
	gd := &guardedDialer{
		resolver:     resolver,
		allowPrivate: opts.AllowPrivateNetworks,
		dialer:       net.Dialer{Timeout: opts.Timeout, KeepAlive: 30 * time.Second},
	}
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	protocols.SetHTTP2(true)
	tr := &http.Transport{
		Proxy:       nil, // a proxy would hide the address actually dialled from the SSRF check
		DialContext: gd.DialContext,
		TLSClientConfig: &tls.Config{
			MinVersion: tls.VersionTLS12,
			RootCAs:    opts.RootCAs,
		},
		ForceAttemptHTTP2:     true,
		Protocols:             protocols,
		MaxConnsPerHost:       opts.PoolSize,
		MaxIdleConns:          opts.PoolSize,
		MaxIdleConnsPerHost:   opts.PoolSize,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   opts.Timeout,
		ResponseHeaderTimeout: 0, // bounded by the operation's context
		DisableCompression:    true,
		// A pooled HTTP/2 connection that goes silent (a blackholed path, a
		// vanished peer) would otherwise carry every request into its
		// deadline for as long as the kernel keeps the socket: PING it
		// after a second without any frame, drop it when the PING is not
		// answered within another, and the next request dials anew.
		HTTP2: &http.HTTP2Config{
			SendPingTimeout:  http2PingAfter,
			PingTimeout:      http2PingTimeout,
			WriteByteTimeout: http2WriteTimeout,
		},
	}
	hc := &http.Client{
		Transport: tr,
		// Never follow redirects: a redirect could lead the bearer token and
		// the request to a host the SSRF rules never saw.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	c := &client{
		http:         hc,
		transport:    tr,
		base:         &cu,
		apiURL:       cu.base.String(),
		authorize:    authorizer(opts.APIKey),
		scrub:        scrubber(opts.APIKey),
		maxRetries:   opts.MaxRetries,
		log:          opts.Logger,
		metrics:      !opts.DisableMetricsHeaders,
		sessionID:    newSessionID(),
		sessionStart: strconv.FormatInt(time.Now().UnixMilli(), 10),
		maxValue:     maxValueBody,
	}
	if opts.Stats != nil {
		f := opts.Stats
		c.stats.Store(&f)
	}
	return &Backend{c: c, timeout: opts.Timeout}, nil
}

func authorizer(key Secret) func(http.Header) {
	v := "Bearer " + string(key)
	return func(h http.Header) { h.Set("Authorization", v) }
}

func scrubber(key Secret) func(error) error {
	return func(err error) error { return scrub(err, key) }
}

// Format prints the Backend as its URL and timeout, never its internals.
func (b Backend) Format(f fmt.State, _ rune) {
	if b.c == nil {
		_, _ = io.WriteString(f, "cachekitio.Backend(nil)")
		return
	}
	_, _ = fmt.Fprintf(f, "cachekitio.Backend(%s, timeout %s)", b.c.apiURL, b.timeout)
}

// newSessionID returns a random RFC 4122 version 4 UUID.
func newSessionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}

// WithTimeout returns a Backend that bounds every operation by d and shares
// the receiver's connection pool and session. A d of zero or less keeps the
// receiver's timeout.
func (b *Backend) WithTimeout(d time.Duration) backend.Backend {
	if d <= 0 {
		d = b.timeout
	}
	return &Backend{c: b.c, timeout: d}
}

// Timeout returns the bound on each operation.
func (b *Backend) Timeout() time.Duration { return b.timeout }

// URL returns the API base URL in use.
func (b *Backend) URL() string { return b.c.apiURL }

// SessionID returns the random id sent as X-CacheKit-Session-ID.
func (b *Backend) SessionID() string { return b.c.sessionID }

// AttachStats sets (or, with nil, removes) the function that fills the
// metrics headers. A cache built on this backend calls it with its own
// statistics; it affects every Backend sharing this one's pool.
func (b *Backend) AttachStats(f func() Stats) {
	if f == nil {
		b.c.stats.Store(nil)
		return
	}
	b.c.stats.Store(&f)
}

// Close releases the connection pool. Operations on this Backend, and on
// every Backend derived from it by WithTimeout, then fail with ErrClosed.
func (b *Backend) Close() error {
	b.c.closed.Store(true)
	b.c.transport.CloseIdleConnections()
	return nil
}

// requestURL builds base + "/v1/cache/" + key + suffix, sending the key
// percent-encoded (RawPath) so "/", "?" or "%" inside a key can never change
// the route.
func (c *client) requestURL(key, escapedKey, suffix string) *url.URL {
	u := *c.base.base
	rawPrefix := u.EscapedPath()
	u.Path += "/v1/cache/" + key + suffix
	u.RawPath = rawPrefix + "/v1/cache/" + escapedKey + suffix
	return &u
}

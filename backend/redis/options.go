package redis

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cachekit-go/cachekit/secret"
)

// Defaults used when an Options field is left zero.
const (
	// DefaultHost is the host of a URL or Options without one.
	DefaultHost = "localhost"
	// DefaultPort is the port of a Redis address without one.
	DefaultPort = "6379"
	// DefaultSentinelPort is the port of a Sentinel address without one.
	DefaultSentinelPort = "26379"
	// DefaultTimeout bounds every operation when Options.Timeout is zero, so
	// a stuck server fails a cache call instead of hanging it. It matches the
	// 5 s default request timeout of the reference SDKs.
	DefaultTimeout = 5 * time.Second
	// DefaultDialTimeout bounds connecting (TCP, TLS and AUTH/HELLO, each)
	// when Options.DialTimeout is zero. Commands wait for a connection being
	// dialed regardless of their context (rueidis dials once for all of
	// them), so this also bounds how long a command can be held up by a
	// server that accepts connections but does not answer.
	DefaultDialTimeout = time.Second
	// DefaultConnTimeout is Options.ConnTimeout when zero.
	// One second: a connection that lived through a blackhole is replaced
	// about 2 s after it went silent (a second to the PING, a second for
	// its answer), within the 2 s of healing the cache promises.
	DefaultConnTimeout = time.Second
	// ReferenceKeyPrefix is the prefix under which cachekit-py's default
	// Redis provider stores every entry (tenant "default"). Set
	// Options.KeyPrefix to it to share entries with Python processes that
	// use that provider. Python keeps interop entries unprefixed; to share
	// both kinds over one backend use cachekit.WithPythonLayout instead.
	ReferenceKeyPrefix = "t:default:"
)

// Mode selects the Redis deployment the backend talks to.
type Mode string

// Modes.
const (
	// ModeStandalone is one Redis server (or a proxy in front of several).
	ModeStandalone Mode = "standalone"
	// ModeCluster is a Redis Cluster; Addrs are seed nodes, the topology is
	// discovered and followed (MOVED/ASK) by the client.
	ModeCluster Mode = "cluster"
	// ModeSentinel is a master watched by Sentinels; Addrs are the Sentinels
	// and MasterName names the master. The client follows failovers.
	ModeSentinel Mode = "sentinel"
)

// Options configures a Backend. The zero value connects to a standalone
// server on localhost:6379 without authentication; every zero field takes the
// default named in its comment.
type Options struct {
	// Addrs are host:port addresses: the server (standalone), seed nodes
	// (cluster) or Sentinels (sentinel). Empty means DefaultHost:DefaultPort.
	Addrs []string
	// Mode picks the deployment. Empty means ModeSentinel when MasterName is
	// set, ModeCluster when there is more than one address, else
	// ModeStandalone. A single cluster seed needs ModeCluster explicitly.
	Mode Mode
	// MasterName is the Sentinel master set name (sentinel mode only).
	MasterName string

	// Username and Password authenticate to Redis (ACL user, or only a
	// password for requirepass). The passwords are secret.String: they print
	// as "[redacted]" however Options is printed, logged or marshalled.
	Username string
	Password secret.String
	// SentinelUsername and SentinelPassword authenticate to the Sentinels,
	// which often have no or other credentials than the data nodes.
	SentinelUsername string
	SentinelPassword secret.String

	// DB selects the logical database (standalone and sentinel; a cluster
	// has only database 0).
	DB int
	// TLSConfig enables TLS when non-nil (rediss:// URLs set it). In
	// sentinel mode it is used for the Sentinels and the data nodes alike.
	TLSConfig *tls.Config

	// KeyPrefix is put in front of every key, value and lock alike. Use it
	// to share one database between applications, or set it to
	// ReferenceKeyPrefix to read and write the entries of cachekit-py's
	// default provider.
	KeyPrefix string
	// Timeout bounds every operation (on top of the caller's context).
	// Zero means DefaultTimeout; a negative value disables it.
	Timeout time.Duration
	// DialTimeout bounds connecting. Zero means DefaultDialTimeout.
	DialTimeout time.Duration
	// ConnTimeout is how long a connection may leave a PING unanswered
	// before it is dropped and redialed; a PING is sent after a second
	// without any answer. It bounds how long a dead connection (a hung
	// server, a blackholed network) lingers, and must exceed the time the
	// largest value takes to transfer. Zero means DefaultConnTimeout.
	ConnTimeout time.Duration
	// ClientName is sent with CLIENT SETNAME, to find connections in
	// CLIENT LIST. Empty sends none.
	ClientName string
	// ReferenceLockKeys names every lock key exactly like cachekit-py does,
	// "<key>:lock", so Go and Python processes sharing one Redis exclude
	// each other. The default hash-tags the key instead ("{<key>}:lock") so
	// the lock always lives in the same Cluster slot as its value; see the
	// package documentation.
	ReferenceLockKeys bool
}

// String describes o without its secrets, so Options can be printed or
// logged safely.
func (o Options) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "redis.Options{Mode: %q, Addrs: %q", o.mode(), o.Addrs)
	if o.MasterName != "" {
		fmt.Fprintf(&b, ", MasterName: %q", o.MasterName)
	}
	if o.Username != "" {
		fmt.Fprintf(&b, ", Username: %q", o.Username)
	}
	if o.Password != "" {
		b.WriteString(", Password: " + secret.Redacted)
	}
	if o.SentinelPassword != "" {
		b.WriteString(", SentinelPassword: " + secret.Redacted)
	}
	fmt.Fprintf(&b, ", DB: %d, TLS: %v, KeyPrefix: %q}", o.DB, o.TLSConfig != nil, o.KeyPrefix)
	return b.String()
}

// GoString is String, so %#v does not print secrets either.
func (o Options) GoString() string { return o.String() }

// LogValue makes slog print Options without secrets.
func (o Options) LogValue() slog.Value { return slog.StringValue(o.String()) }

// mode returns the effective Mode.
func (o Options) mode() Mode {
	switch {
	case o.Mode != "":
		return o.Mode
	case o.MasterName != "":
		return ModeSentinel
	case len(o.Addrs) > 1:
		return ModeCluster
	default:
		return ModeStandalone
	}
}

// ErrInvalidURL is matched (errors.Is) by every error ParseURL returns. The
// messages name the offending part but never echo the URL, which may hold a
// password.
var ErrInvalidURL = errors.New("redis: invalid URL")

// ErrInvalidOptions is matched by errors New returns for inconsistent
// Options.
var ErrInvalidOptions = errors.New("redis: invalid options")

func urlError(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidURL}, args...)...)
}

// ParseURL turns a URL into Options. Forms:
//
//	redis://[[user]:password@]host[:port][/db][?param=value&...]   standalone
//	rediss://...                                                  the same over TLS
//	redis://h1:p1,h2:p2,h3:p3                                     cluster (several seeds)
//	redis://h1:p1?cluster=true                                    cluster (one seed)
//	redis://[user:password@]s1:26379,s2:26379/db?master_set=name  sentinel: hosts are Sentinels
//
// Seeds may also be given as repeated addr=host:port parameters (as rueidis
// does). User and password must be percent-encoded where they contain
// reserved characters (":", "@", "/", "?", "#", "%"). A port defaults to 6379,
// or 26379 for Sentinels.
//
// Parameters: db (instead of the path), cluster (true/false), master_set,
// sentinel_username, sentinel_password, timeout, dial_timeout and
// conn_timeout (Go durations like "500ms"), key_prefix, client_name, reference_lock_keys
// (true/false) and, for rediss only, skip_verify (true/false). Unknown
// parameters are an error, so a typo does not silently change nothing.
func ParseURL(rawURL string) (Options, error) {
	var o Options
	scheme, rest, ok := strings.Cut(rawURL, "://")
	if !ok {
		return o, urlError("missing scheme (want redis:// or rediss://)")
	}
	switch strings.ToLower(scheme) {
	case "redis":
	case "rediss":
		o.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	default:
		// Not echoed: a mangled URL may have the password there.
		return o, urlError("unsupported scheme (want redis or rediss)")
	}
	if strings.ContainsFunc(rawURL, func(r rune) bool { return r < 0x20 || r == 0x7f || r == ' ' }) {
		return o, urlError("contains spaces or control characters")
	}

	authority := rest
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority, rest = rest[:i], rest[i:]
	} else {
		rest = ""
	}
	if i := strings.LastIndexByte(authority, '@'); i >= 0 {
		userinfo := authority[:i]
		authority = authority[i+1:]
		user, pass, hasPass := strings.Cut(userinfo, ":")
		var err error
		if o.Username, err = url.PathUnescape(user); err != nil {
			return Options{}, urlError("invalid percent-encoding in the user name")
		}
		if hasPass {
			p, err := url.PathUnescape(pass)
			if err != nil {
				return Options{}, urlError("invalid percent-encoding in the password")
			}
			o.Password = secret.String(p)
		}
	}

	path, query, _ := strings.Cut(rest, "?")
	query, _, _ = strings.Cut(query, "#")
	path, _, _ = strings.Cut(path, "#")
	params, err := url.ParseQuery(query)
	if err != nil {
		return Options{}, urlError("malformed query string")
	}
	if err := applyParams(&o, params); err != nil {
		return Options{}, err
	}
	if p := strings.TrimPrefix(path, "/"); p != "" {
		if strings.Contains(p, "/") {
			return Options{}, urlError("path must be empty or /<db>")
		}
		if params.Has("db") {
			return Options{}, urlError("database given both in the path and as db=")
		}
		if o.DB, err = parseDB(p); err != nil {
			return Options{}, err
		}
	}

	defaultPort := DefaultPort
	if o.MasterName != "" {
		defaultPort = DefaultSentinelPort
	}
	var hosts []string
	if authority != "" {
		hosts = strings.Split(authority, ",")
	}
	hosts = append(hosts, params["addr"]...)
	for _, h := range hosts {
		addr, err := normalizeAddr(h, defaultPort)
		if err != nil {
			return Options{}, err
		}
		o.Addrs = append(o.Addrs, addr)
	}
	if len(o.Addrs) == 0 {
		o.Addrs = []string{net.JoinHostPort(DefaultHost, defaultPort)}
	}
	if o.TLSConfig != nil {
		host, _, _ := net.SplitHostPort(o.Addrs[0])
		o.TLSConfig.ServerName = host
	}

	if c := params.Get("cluster"); c != "" {
		cluster, err := strconv.ParseBool(c)
		if err != nil {
			return Options{}, urlError("cluster must be true or false")
		}
		switch {
		case cluster && o.MasterName != "":
			return Options{}, urlError("cluster=true and master_set exclude each other")
		case cluster:
			o.Mode = ModeCluster
		case len(o.Addrs) > 1 && o.MasterName == "":
			return Options{}, urlError("cluster=false with several addresses (use master_set for Sentinels)")
		default:
			o.Mode = ModeStandalone
		}
	}
	if o.mode() == ModeCluster && o.DB != 0 {
		return Options{}, urlError("a Redis Cluster has only database 0")
	}
	return o, nil
}

// knownParams are the query parameters ParseURL understands.
var knownParams = map[string]bool{
	"addr": true, "db": true, "cluster": true, "master_set": true,
	"sentinel_username": true, "sentinel_password": true,
	"timeout": true, "dial_timeout": true, "conn_timeout": true, "key_prefix": true, "client_name": true,
	"reference_lock_keys": true, "skip_verify": true,
}

// applyParams copies the query parameters (other than addr and cluster,
// which need the addresses) into o.
func applyParams(o *Options, params url.Values) error {
	for name, vals := range params {
		if !knownParams[name] {
			if len(name) > 32 {
				name = name[:32] + "..."
			}
			return urlError("unknown parameter %q", name)
		}
		if name != "addr" && len(vals) > 1 {
			return urlError("parameter %q given more than once", name)
		}
	}
	var err error
	if params.Has("db") {
		if o.DB, err = parseDB(params.Get("db")); err != nil {
			return err
		}
	}
	o.MasterName = params.Get("master_set")
	if params.Has("master_set") && o.MasterName == "" {
		return urlError("master_set is empty")
	}
	o.SentinelUsername = params.Get("sentinel_username")
	o.SentinelPassword = secret.String(params.Get("sentinel_password"))
	o.KeyPrefix = params.Get("key_prefix")
	o.ClientName = params.Get("client_name")
	for name, dst := range map[string]*time.Duration{"timeout": &o.Timeout, "dial_timeout": &o.DialTimeout, "conn_timeout": &o.ConnTimeout} {
		if v := params.Get(name); v != "" {
			if *dst, err = time.ParseDuration(v); err != nil || *dst < 0 {
				return urlError("%s must be a non-negative Go duration like 500ms", name)
			}
		}
	}
	if v := params.Get("reference_lock_keys"); v != "" {
		if o.ReferenceLockKeys, err = strconv.ParseBool(v); err != nil {
			return urlError("reference_lock_keys must be true or false")
		}
	}
	if v := params.Get("skip_verify"); v != "" {
		if o.TLSConfig == nil {
			return urlError("skip_verify needs a rediss:// URL")
		}
		if o.TLSConfig.InsecureSkipVerify, err = strconv.ParseBool(v); err != nil {
			return urlError("skip_verify must be true or false")
		}
	}
	return nil
}

func parseDB(s string) (int, error) {
	db, err := strconv.Atoi(s)
	if err != nil || db < 0 {
		return 0, urlError("database must be a non-negative integer")
	}
	return db, nil
}

// normalizeAddr checks host[:port] and adds the default port.
func normalizeAddr(h, defaultPort string) (string, error) {
	if h == "" {
		return "", urlError("empty host in the address list")
	}
	host, port := h, defaultPort
	if strings.HasPrefix(h, "[") || strings.Count(h, ":") == 1 {
		var err error
		if host, port, err = net.SplitHostPort(h); err != nil {
			if !strings.HasSuffix(h, "]") {
				return "", urlError("malformed host:port")
			}
			host, port = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]"), defaultPort
		}
	} else if strings.Contains(h, ":") {
		return "", urlError("IPv6 addresses must be in brackets")
	}
	if host == "" {
		host = DefaultHost
	}
	if strings.ContainsAny(host, "@/?#[]%") {
		return "", urlError("malformed host")
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return "", urlError("port must be a number from 1 to 65535")
	}
	return net.JoinHostPort(host, port), nil
}

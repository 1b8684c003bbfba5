package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/cachekit-go/cachekit/backend"
	"github.com/cachekit-go/cachekit/backend/cachekitio"
	"github.com/cachekit-go/cachekit/backend/file"
	"github.com/cachekit-go/cachekit/backend/memcached"
	"github.com/cachekit-go/cachekit/backend/redis"
	"github.com/cachekit-go/cachekit/protocol/envelope"
	"github.com/cachekit-go/cachekit/protocol/frame"
)

// inspectTimeout bounds the whole inspection (connect, read, TTL).
const inspectTimeout = 10 * time.Second

// openBackend connects to the backend a URL names:
//
//	redis://... rediss://...        Redis (standalone, Cluster, Sentinel: see backend/redis.ParseURL)
//	memcached://host:port,host:port memcached
//	file:///path/to/dir             the file backend's directory
//	https://...                     the CacheKit HTTP API (CACHEKIT_API_KEY and the other CACHEKIT_* settings apply)
func openBackend(raw string) (backend.Backend, func(), error) {
	noop := func() {}
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return nil, noop, fmt.Errorf("--backend %q is not a URL (redis://, memcached://, file://, https://)", redactURL(raw))
	}
	switch strings.ToLower(scheme) {
	case "redis", "rediss":
		b, err := redis.NewFromURL(raw)
		if err != nil {
			return nil, noop, err
		}
		return b, b.Close, nil
	case "memcached":
		servers, err := memcached.ParseServers(strings.TrimSuffix(rest, "/"))
		if err != nil {
			return nil, noop, err
		}
		b, err := memcached.New(memcached.Options{Servers: servers})
		if err != nil {
			return nil, noop, err
		}
		return b, func() { _ = b.Close() }, nil
	case "file":
		if rest == "" {
			return nil, noop, errors.New("file:// needs a directory, e.g. file:///var/cache/cachekit")
		}
		b, err := file.New(file.Options{Dir: rest})
		return b, noop, err
	case "https":
		opts, err := cachekitio.OptionsFromEnv()
		if err != nil {
			return nil, noop, err
		}
		opts.URL = raw
		b, err := cachekitio.New(opts)
		if err != nil {
			return nil, noop, err
		}
		return b, func() { _ = b.Close() }, nil
	}
	return nil, noop, fmt.Errorf("unsupported backend scheme %q (redis, rediss, memcached, file, https)", scheme)
}

// redactURL hides a password in a URL so it never reaches an error message.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	return u.Redacted()
}

func cmdInspect(args []string, stdin io.Reader, out, _ io.Writer) error {
	fs, pf := newPipelineFlags("inspect")
	backendURL := fs.String("backend", "", "where the entry is stored: redis://, memcached://, file://, https://")
	rawOut := fs.Bool("raw", false, "print the stored bytes as hex instead of decoding them")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("expected exactly one KEY argument")
	}
	if err := required(fs, "backend"); err != nil {
		return err
	}
	key := pos[0]
	*pf.key = key
	b, closeBackend, err := openBackend(*backendURL)
	if err != nil {
		return err
	}
	defer closeBackend()
	ctx, cancel := context.WithTimeout(context.Background(), inspectTimeout)
	defer cancel()

	stored, found, err := b.Get(ctx, key)
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("key %q not found", key)
	}
	if *rawOut {
		return printHex(out, stored)
	}
	line := func(name, format string, a ...any) {
		fmt.Fprintf(out, "%-8s %s\n", name, fmt.Sprintf(format, a...))
	}
	line("key", "%s", key)
	line("stored", "%d bytes", len(stored))
	line("ttl", "%s", describeTTL(ctx, b, key))
	line("shape", "%s", describeShape(stored))

	p, scope, err := pf.pipeline(nil)
	if err != nil {
		return err
	}
	js, err := decodeStored(p, scope, key, stored)
	if err != nil {
		return err
	}
	line("value", "%s", js)
	return nil
}

func describeTTL(ctx context.Context, b backend.Backend, key string) string {
	in, ok := b.(backend.TTLInspector)
	if !ok {
		return "unknown (this backend cannot report TTLs)"
	}
	rem, found, err := in.TTL(ctx, key)
	switch {
	case err != nil:
		return "unknown (" + err.Error() + ")"
	case !found:
		return "expired"
	case rem == 0:
		return "no expiry"
	}
	return rem.Round(time.Millisecond).String()
}

// describeShape says which of the stored forms PROTOCOL.md lists the bytes
// have, with the frame's plain metadata.
func describeShape(b []byte) string {
	switch frame.Classify(b) {
	case frame.KindFrame:
		h, _, err := frame.Decode(b)
		if err != nil {
			return "CK frame (unreadable header: " + err.Error() + ")"
		}
		s := fmt.Sprintf("CK v3 frame: serializer=%s format=%s compressed=%t", h.Serializer, h.Format, h.Compressed)
		if h.Encrypted {
			s += fmt.Sprintf(" encrypted=true tenant=%s algorithm=%s key_fingerprint=%s", h.TenantID, h.EncryptionAlgorithm, h.KeyFingerprint)
		}
		return s
	case frame.KindEnvelope:
		return "bare ByteStorage envelope (LZ4 + xxHash3-64), as Rust writes"
	case frame.KindRawMsgpack:
		if envelope.IsShape(b) {
			return "envelope-shaped MessagePack"
		}
		return "plain MessagePack (interop mode, or a raw value)"
	}
	return "unknown"
}

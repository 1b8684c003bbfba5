package main

import (
	"context"
	"encoding/hex"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/backend"
	"github.com/cachekit-go/cachekit/backend/file"
	"github.com/cachekit-go/cachekit/backend/memcached"
	"github.com/cachekit-go/cachekit/backend/redis"
	"github.com/cachekit-go/cachekit/internal/testenv"
)

// inspectTarget is a real backend the CLI reads from, and the URL that names it.
type inspectTarget struct {
	name string
	url  string
	open func(t *testing.T) backend.Backend
}

func inspectTargets(t *testing.T) []inspectTarget {
	dir := t.TempDir()
	return []inspectTarget{
		{"file", "file://" + dir, func(t *testing.T) backend.Backend {
			b, err := file.New(file.Options{Dir: dir})
			if err != nil {
				t.Fatal(err)
			}
			return b
		}},
		{"redis", "", func(t *testing.T) backend.Backend {
			b, err := redis.NewFromURL("redis://" + testenv.Require(t, "CACHEKIT_TEST_REDIS_ADDR"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(b.Close)
			return b
		}},
		{"memcached", "", func(t *testing.T) backend.Backend {
			servers, err := memcached.ParseServers(testenv.Require(t, "CACHEKIT_TEST_MEMCACHED_SERVERS"))
			if err != nil {
				t.Fatal(err)
			}
			b, err := memcached.New(memcached.Options{Servers: servers})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = b.Close() })
			return b
		}},
	}
}

func TestInspectRealBackends(t *testing.T) {
	for _, target := range inspectTargets(t) {
		t.Run(target.name, func(t *testing.T) {
			b := target.open(t)
			url := target.url
			switch target.name {
			case "redis":
				url = "redis://" + testenv.Require(t, "CACHEKIT_TEST_REDIS_ADDR")
			case "memcached":
				url = "memcached://" + testenv.Require(t, "CACHEKIT_TEST_MEMCACHED_SERVERS")
			}
			ctx := context.Background()
			key := "cli-inspect:" + target.name + ":" + time.Now().Format("150405.000000000")
			value := `{"name": "alice", "tags": ["a", "b"]}`
			stored, _ := hex.DecodeString(ok(t, "", "encode", "--key", key, "--value", value))
			if err := b.Set(ctx, key, stored, time.Minute); err != nil {
				t.Fatal(err)
			}
			out := ok(t, "", "inspect", "--backend", url, key)
			for _, want := range []string{"stored   " + itoa(len(stored)) + " bytes", "CK v3 frame: serializer=default format=msgpack compressed=true", "value    " + value} {
				if !strings.Contains(out, want) {
					t.Errorf("inspect output lacks %q:\n%s", want, out)
				}
			}
			// Every backend here reports TTLs: the entry was stored for a minute.
			if !ttlLine.MatchString(out) {
				t.Errorf("inspect output lacks a TTL of at most a minute:\n%s", out)
			}
			if raw := ok(t, "", "inspect", "--raw", "--backend", url, key); raw != hex.EncodeToString(stored) {
				t.Errorf("--raw printed %s, want the stored bytes", raw)
			}

			// A corrupted entry is reported, exit 1, and nothing is printed as its value.
			bad := append([]byte(nil), stored...)
			bad[len(bad)-12] ^= 0xff
			if err := b.Set(ctx, key, bad, time.Minute); err != nil {
				t.Fatal(err)
			}
			r := cli(t, "", "inspect", "--backend", url, key)
			if r.code != 1 || strings.Contains(r.stdout, "value    ") || r.stderr == "" {
				t.Errorf("corrupted entry: exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
			}
			fails(t, "not found", "", "inspect", "--backend", url, key+":missing")
		})
	}
}

func TestInspectInvalidBackend(t *testing.T) {
	fails(t, "not a URL", "", "inspect", "--backend", "localhost:6379", "k")
	fails(t, "unsupported backend scheme", "", "inspect", "--backend", "ftp://x", "k")
	fails(t, "--backend is required", "", "inspect", "k")
	r := cli(t, "", "inspect", "--backend", "redis://user:s3cret-pw@127.0.0.1:1/0?bogus=1", "k")
	if r.code != 1 || strings.Contains(r.stderr, "s3cret-pw") {
		t.Errorf("bad redis URL: exit %d, stderr %q must not contain the password", r.code, r.stderr)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

var ttlLine = regexp.MustCompile(`(?m)^ttl +(1m0s|[0-5]?[0-9](\.[0-9]+)?s)$`)

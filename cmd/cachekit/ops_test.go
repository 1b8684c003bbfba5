package main

import (
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/backend/cachekitio"
	"github.com/cachekit-go/cachekit/internal/testenv"
	"github.com/cachekit-go/cachekit/internal/testenv/cachekitdtest"
)

// opsTarget is a real backend the CLI talks to: its URL and the
// environment the CLI needs for it.
type opsTarget struct {
	name     string
	url      func(t *testing.T) (string, []string)
	listable bool
}

var opsTargets = []opsTarget{
	{"file", func(t *testing.T) (string, []string) { return "file://" + t.TempDir(), nil }, false},
	{"redis", func(t *testing.T) (string, []string) {
		return "redis://" + testenv.Require(t, "CACHEKIT_TEST_REDIS_ADDR"), nil
	}, true},
	{"memcached", func(t *testing.T) (string, []string) {
		return "memcached://" + testenv.Require(t, "CACHEKIT_TEST_MEMCACHED_SERVERS"), nil
	}, false},
	{"cachekitd", func(t *testing.T) (string, []string) {
		d := cachekitdtest.Start(t, cachekitdtest.Config{})
		return d.IPURL(), []string{
			cachekitio.EnvAPIKey + "=" + d.APIKey(),
			cachekitio.EnvAllowCustomHost + "=true",
			cachekitio.EnvAllowPrivateNetworks + "=true",
			cachekitio.EnvCAFile + "=" + d.CAFile(),
		}
	}, false},
}

func TestOpsRealBackends(t *testing.T) {
	for _, target := range opsTargets {
		t.Run(target.name, func(t *testing.T) {
			url, env := target.url(t)
			run := func(args ...string) result { return cliEnv(t, env, "", args...) }
			must := func(args ...string) string {
				t.Helper()
				r := run(args...)
				if r.code != 0 {
					t.Fatalf("cachekit %v: exit %d, stderr %q", args, r.code, r.stderr)
				}
				return r.stdout
			}
			out := must("health", "--backend", url)
			if !strings.Contains(out, "status   ok") || !regexp.MustCompile(`(?m)^latency +[0-9.]+[µm]?s$`).MatchString(out) {
				t.Errorf("health output:\n%s", out)
			}

			uniq := strings.ReplaceAll(time.Now().Format("150405.000000000"), ".", "")
			key := "cli-ops:" + target.name + ":" + uniq
			value := `{"id": 7, "name": "ada"}`
			if out := must("set", "--backend", url, "--ttl", "1m", "--value", value, key); !strings.HasPrefix(out, "stored ") {
				t.Errorf("set printed %q", out)
			}
			if got := must("get", "--backend", url, key); got != value {
				t.Errorf("get printed %q, want %q", got, value)
			}
			// What set wrote is what inspect (and so any SDK) reads.
			if out := must("inspect", "--backend", url, key); !strings.Contains(out, "value    "+value) || !ttlLine.MatchString(out) {
				t.Errorf("inspect after set:\n%s", out)
			}

			if target.listable {
				for i := range 3 {
					must("set", "--backend", url, "--value", `"x"`, key+":more:"+string(rune('a'+i)))
				}
				r := run("scan", "--backend", url, "--match", key+":more:*")
				lines := strings.Split(r.stdout, "\n")
				if r.code != 0 || len(lines) != 3 {
					t.Fatalf("scan: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
				}
				for _, l := range lines {
					if !strings.HasPrefix(l, key+":more:") || !strings.Contains(l, "ttl ") || !strings.Contains(l, "CK v3 frame") {
						t.Errorf("scan line %q", l)
					}
				}
				// Not a terminal: plain progress lines, then a summary.
				if !strings.Contains(r.stderr, "keys examined") || !strings.Contains(r.stderr, "scan: done") || strings.Contains(r.stderr, "\r") {
					t.Errorf("scan progress %q", r.stderr)
				}
				bar := run("scan", "--backend", url, "--match", key, "--progress", "bar")
				if bar.code != 0 || bar.stdout == "" || !strings.Contains(bar.stderr, "[####") || !strings.Contains(bar.stderr, "%") {
					t.Errorf("scan with a bar: exit %d, stdout %q, stderr %q", bar.code, bar.stdout, bar.stderr)
				}
			} else {
				r := run("scan", "--backend", url, "--match", "*")
				if r.code != 1 || !strings.Contains(r.stderr, "cannot list its keys") {
					t.Errorf("scan on %s: exit %d, stderr %q", target.name, r.code, r.stderr)
				}
			}

			if out := must("delete", "--backend", url, key); out != "deleted" {
				t.Errorf("delete printed %q", out)
			}
			if out := must("delete", "--backend", url, key); out != "not found" {
				t.Errorf("second delete printed %q", out)
			}
			if r := run("get", "--backend", url, key); r.code != 1 || !strings.Contains(r.stderr, "not found") {
				t.Errorf("get after delete: exit %d, stderr %q", r.code, r.stderr)
			}
		})
	}
}

// A backend that does not answer: health exits 1 with a one-line reason.
func TestHealthBackendDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	fails(t, "connection refused", "", "health", "--backend", "redis://"+addr)
	fails(t, "--backend is required", "", "health")
}

func TestGlob(t *testing.T) {
	for _, tc := range []struct {
		glob, key string
		want      bool
	}{
		{"*", "anything:at:all", true},
		{"users:*", "users:42", true},
		{"users:*", "orders:42", false},
		{"user?:1", "users:1", true},
		{"[ab]:*", "b:x", true},
		{"[^ab]:*", "b:x", false},
		{`a\*b`, "a*b", true},
		{`a\*b`, "axb", false},
		{"a.b", "axb", false},
	} {
		re, err := globRegexp(tc.glob)
		if err != nil {
			t.Fatal(tc.glob, err)
		}
		if got := re.MatchString(tc.key); got != tc.want {
			t.Errorf("glob %q on %q = %v, want %v", tc.glob, tc.key, got, tc.want)
		}
	}
	if _, err := globRegexp("[abc"); err == nil {
		t.Error("unclosed [ accepted")
	}
}

package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/cachekit-go/cachekit/cachekitd/server"
)

func envMap(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestHelpDocumentsEveryFlagAndItsVariable(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if code := run(context.Background(), []string{"--help"}, nil, io.Discard, &out, envMap(nil)); code != 0 {
		t.Fatalf("--help exit %d", code)
	}
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	flags(fs)
	n := 0
	fs.VisitAll(func(f *flag.Flag) {
		n++
		if !strings.Contains(out.String(), "--"+f.Name) || !strings.Contains(out.String(), envName(f.Name)) {
			t.Errorf("--help does not document --%s / %s", f.Name, envName(f.Name))
		}
	})
	if n < 30 {
		t.Errorf("only %d flags", n)
	}
}

func TestConfigFromEnvironment(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
		check   func(*config) bool
	}{
		{"env sets", nil, map[string]string{"CACHEKITD_RATE_LIMIT": "5", "CACHEKITD_MEMORY_MAX_BYTES": "64MiB", "CACHEKITD_H2C": "true"},
			"", func(c *config) bool { return c.rateLimit == 5 && c.memoryMaxBytes == 64<<20 && c.h2c }},
		{"flag wins", []string{"--rate-limit", "7"}, map[string]string{"CACHEKITD_RATE_LIMIT": "5"},
			"", func(c *config) bool { return c.rateLimit == 7 }},
		{"defaults", nil, nil, "", func(c *config) bool {
			return c.storeKind == "memory" && c.defaultTTL == server.DefaultTTL && c.maxHeaderBytes == server.DefaultMaxHeaderBytes
		}},
		{"bad env value names the variable only", nil, map[string]string{"CACHEKITD_REDIS_DB": "s3cret-not-a-number"}, "CACHEKITD_REDIS_DB", nil},
		{"redis needs addrs", []string{"--store", "redis"}, nil, "--redis-addrs", nil},
		{"unknown store", []string{"--store", "disk"}, nil, "--store", nil},
		{"tls pair", []string{"--tls-cert", "c.pem"}, nil, "--tls-key", nil},
		{"bad size", []string{"--max-value-bytes", "lots"}, nil, "size", nil},
		{"header limit", []string{"--max-header-bytes", "10"}, nil, "max-header-bytes", nil},
		{"stray argument", []string{"serve"}, nil, "unexpected argument", nil},
		{"default ttl 0 is no expiry", []string{"--default-ttl", "0"}, nil, "", func(c *config) bool { return c.serverDefaultTTL() == server.NoExpiry }},
		{"default ttl from env", nil, map[string]string{"CACHEKITD_DEFAULT_TTL": "10m"}, "", func(c *config) bool { return c.serverDefaultTTL() == 600e9 }},
		{"default ttl negative", []string{"--default-ttl", "-5s"}, nil, "--default-ttl", nil},
		{"default ttl fraction", []string{"--default-ttl", "1500ms"}, nil, "--default-ttl", nil},
		{"default ttl too long", []string{"--default-ttl", "721h"}, nil, "--default-ttl", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseConfig(tc.args, io.Discard, envMap(tc.env))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Fatalf("error echoes the value: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) {
				t.Fatalf("config %+v", c)
			}
		})
	}
}

func TestHashKeyAndGenKey(t *testing.T) {
	t.Parallel()
	key := "ck_live_abcdefghijklmnop0123"
	var out bytes.Buffer
	if code := run(context.Background(), []string{"hash-key"}, strings.NewReader(key+"\n"), &out, io.Discard, envMap(nil)); code != 0 {
		t.Fatalf("hash-key exit %d", code)
	}
	if strings.TrimSpace(out.String()) != server.HashKey(key) {
		t.Fatalf("hash-key printed %q", out.String())
	}
	if code := run(context.Background(), []string{"hash-key", "not-a-key"}, nil, io.Discard, io.Discard, envMap(nil)); code != 1 {
		t.Fatalf("hash-key of a non-key exit %d, want 1", code)
	}
	out.Reset()
	if code := run(context.Background(), []string{"gen-key", "--test", "acme"}, nil, &out, io.Discard, envMap(nil)); code != 0 {
		t.Fatalf("gen-key exit %d", code)
	}
	f := strings.Fields(out.String())
	var gen string
	for _, w := range f {
		if strings.HasPrefix(w, server.TestKeyPrefix) {
			gen = w
		}
	}
	if !server.ValidAPIKey(gen) || !strings.Contains(out.String(), "acme "+server.HashKey(gen)) {
		t.Fatalf("gen-key printed %q", out.String())
	}
	k := server.NewKeyring()
	if err := k.LoadKeysFile(strings.NewReader("acme " + server.HashKey(gen))); err != nil {
		t.Fatal(err)
	}
	if tn, ok := k.Lookup(gen); !ok || tn.ID != "acme" {
		t.Fatal("a generated key's keys-file line does not authenticate it")
	}
}

func TestNoKeysRefusesToStart(t *testing.T) {
	t.Parallel()
	var errOut bytes.Buffer
	code := run(context.Background(), []string{"--addr", "127.0.0.1:0"}, nil, io.Discard, &errOut, envMap(nil))
	if code != 1 || !strings.Contains(errOut.String(), "no API keys") {
		t.Fatalf("exit %d, stderr %q", code, errOut.String())
	}
}

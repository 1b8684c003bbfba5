// Command cachekitd is a self-hosted server for the CacheKit HTTP API: the
// API cachekit.io serves, inside your own network. It keeps entries in an
// embedded in-memory store by default, or in Redis/Valkey (standalone or
// Cluster) so several replicas behind a load balancer share entries and locks.
//
//	cachekitd --dev                         development: memory store, self-signed TLS, a printed ck_test_ key
//	cachekitd --tls-cert c.pem --tls-key k.pem --api-keys-file keys.txt --addr :8443
//	cachekitd --store redis --redis-addrs 10.0.0.5:6379 ...
//	cachekitd hash-key                      reads an API key on stdin, prints the line for a keys file
//	cachekitd gen-key [--test] TENANT       makes a new API key and its keys-file line
//
// Every flag can also be set by an environment variable: --some-flag is
// CACHEKITD_SOME_FLAG. Flags win over the environment. Run cachekitd --help
// for the list; docs/cachekitd.md explains deployments.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// run is main without the process: it returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) > 0 {
		switch args[0] {
		case "hash-key":
			return hashKey(args[1:], stdin, stdout, stderr)
		case "gen-key":
			return genKey(args[1:], stdout, stderr)
		case "version":
			fmt.Fprintln(stdout, "cachekitd", version)
			return 0
		}
	}
	cfg, err := parseConfig(args, stderr, getenv)
	if err != nil {
		if err == errHelp {
			return 0
		}
		fmt.Fprintln(stderr, "cachekitd:", err)
		return 2
	}
	if err := serve(ctx, cfg, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "cachekitd:", err)
		return 1
	}
	return 0
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/cachekit-go/cachekit"
	"github.com/cachekit-go/cachekit/backend"
)

// opTimeout bounds health, get, set and delete (connect included).
const opTimeout = 10 * time.Second

// backendFlag adds --backend to fs.
func backendFlag(fs *flag.FlagSet) *string {
	return fs.String("backend", "", "the backend: redis://, rediss://, memcached://, file://, https://")
}

// cmdHealth checks a backend the way a cache does (cachekit.Cache.Health:
// one round trip) and prints the result; exit 1 when it does not answer.
func cmdHealth(args []string, _ io.Reader, out, _ io.Writer) error {
	fs := newFlags("health")
	backendURL := backendFlag(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := noPositionals(pos); err != nil {
		return err
	}
	if err := required(fs, "backend"); err != nil {
		return err
	}
	b, closeBackend, err := openBackend(*backendURL)
	if err != nil {
		return err
	}
	defer closeBackend()
	c, err := cachekit.New(cachekit.WithBackend(b), cachekit.WithL1(false), cachekit.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	h := c.Health(ctx)
	if !h.BackendOK {
		return fmt.Errorf("backend %s (%s) did not answer in %s: %s", h.Backend, redactURL(*backendURL), h.Latency.Round(time.Microsecond), h.Error)
	}
	fmt.Fprintf(out, "%-8s %s\n%-8s %s\n%-8s %s\n", "backend", h.Backend, "status", "ok", "latency", h.Latency.Round(time.Microsecond))
	return nil
}

// cmdGet prints the value stored under KEY as tagged JSON (--raw: the
// stored bytes as hex); exit 1 when there is none.
func cmdGet(args []string, _ io.Reader, out, _ io.Writer) error {
	fs, pf := newPipelineFlags("get")
	backendFlag(fs)
	rawOut := fs.Bool("raw", false, "print the stored bytes as hex instead of decoding them")
	key, b, done, err := keyCommand(fs, args)
	if err != nil {
		return err
	}
	defer done()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	stored, found, err := b.Get(ctx, key)
	switch {
	case err != nil:
		return err
	case !found:
		return fmt.Errorf("key %q not found", key)
	case *rawOut:
		return printHex(out, stored)
	}
	*pf.key = key
	p, scope, err := pf.pipeline(nil)
	if err != nil {
		return err
	}
	js, err := decodeStored(p, scope, key, stored)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "%s\n", js)
	return err
}

// cmdSet stores --value (tagged JSON) under KEY in the SDKs' format, for
// --ttl (0: no expiry).
func cmdSet(args []string, stdin io.Reader, out, _ io.Writer) error {
	fs, pf := newPipelineFlags("set")
	backendFlag(fs)
	valueJSON := fs.String("value", "", "the value as tagged JSON (- for standard input)")
	ttl := fs.Duration("ttl", time.Hour, "time to live (0: no expiry)")
	key, b, done, err := keyCommand(fs, args)
	if err != nil {
		return err
	}
	defer done()
	if err := required(fs, "value"); err != nil {
		return err
	}
	if *ttl < 0 {
		return errors.New("--ttl must not be negative")
	}
	*pf.key = key
	p, scope, err := pf.pipeline(nil)
	if err != nil {
		return err
	}
	stored, err := encodeValue(p, scope, key, stdin, *valueJSON)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if err := b.Set(ctx, key, stored, *ttl); err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "stored %d bytes\n", len(stored))
	return err
}

// cmdDelete removes KEY and says whether it was there.
func cmdDelete(args []string, _ io.Reader, out, _ io.Writer) error {
	fs := newFlags("delete")
	backendFlag(fs)
	key, b, done, err := keyCommand(fs, args)
	if err != nil {
		return err
	}
	defer done()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	deleted, err := b.Delete(ctx, key)
	if err != nil {
		return err
	}
	if deleted {
		_, err = fmt.Fprintln(out, "deleted")
	} else {
		_, err = fmt.Fprintln(out, "not found")
	}
	return err
}

// keyCommand parses the flags and the one KEY of get, set and delete and
// opens --backend; done closes it.
func keyCommand(fs *flag.FlagSet, args []string) (key string, b backend.Backend, done func(), err error) {
	pos, err := parse(fs, args)
	if err != nil {
		return "", nil, nil, err
	}
	if len(pos) != 1 {
		return "", nil, nil, errors.New("expected exactly one KEY argument")
	}
	if err := required(fs, "backend"); err != nil {
		return "", nil, nil, err
	}
	b, done, err = openBackend(fs.Lookup("backend").Value.String())
	if err != nil {
		return "", nil, nil, err
	}
	return pos[0], b, done, nil
}

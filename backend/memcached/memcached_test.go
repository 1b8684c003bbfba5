package memcached

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/backend"
	"github.com/cachekit-go/cachekit/backend/backendtest"
	"github.com/cachekit-go/cachekit/internal/testenv"
)

// servers returns the test memcached servers (two private instances started
// by scripts/services/memcached.sh).
func servers(t *testing.T) []string {
	t.Helper()
	list, err := ParseServers(testenv.Require(t, "CACHEKIT_TEST_MEMCACHED_SERVERS"))
	if err != nil {
		t.Fatalf("CACHEKIT_TEST_MEMCACHED_SERVERS: %v", err)
	}
	if len(list) < 2 {
		t.Fatalf("CACHEKIT_TEST_MEMCACHED_SERVERS has %d servers; the tests need two", len(list))
	}
	return list
}

func newTestBackend(t *testing.T, opts Options) *Backend {
	t.Helper()
	if opts.Servers == nil {
		opts.Servers = servers(t)
	}
	b, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// uniq returns a key prefix unique to this test run.
func uniq(t *testing.T) string {
	var r [6]byte
	_, _ = rand.Read(r[:])
	return strings.ReplaceAll(t.Name(), "/", ".") + ":" + hex.EncodeToString(r[:]) + ":"
}

func TestConformance(t *testing.T) {
	t.Parallel()
	b := newTestBackend(t, Options{})
	backendtest.Run(t, func(t *testing.T) backend.Backend { return b },
		backendtest.WithMaxValueSize(DefaultMaxItemSize-1024), backendtest.WithTTLResolution(time.Second))
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := newTestBackend(t, Options{})
	p := uniq(t)
	for _, key := range []string{p + "plain", p + "with space", p + strings.Repeat("L", 300), p + "käse\n"} {
		if _, found, err := b.Get(ctx, key); err != nil || found {
			t.Fatalf("Get(%q) before Set: found=%v err=%v", key, found, err)
		}
		val := []byte("value of " + key + "\r\nEND\r\n")
		if err := b.Set(ctx, key, val, time.Minute); err != nil {
			t.Fatalf("Set(%q): %v", key, err)
		}
		got, found, err := b.Get(ctx, key)
		if err != nil || !found || !bytes.Equal(got, val) {
			t.Fatalf("Get(%q) = %q, %v, %v", key, got, found, err)
		}
		if ok, err := b.Exists(ctx, key); err != nil || !ok {
			t.Fatalf("Exists(%q) = %v, %v", key, ok, err)
		}
		if ok, err := b.Delete(ctx, key); err != nil || !ok {
			t.Fatalf("Delete(%q) = %v, %v", key, ok, err)
		}
		if ok, err := b.Delete(ctx, key); err != nil || ok {
			t.Fatalf("second Delete(%q) = %v, %v", key, ok, err)
		}
		if ok, err := b.Exists(ctx, key); err != nil || ok {
			t.Fatalf("Exists(%q) after Delete = %v, %v", key, ok, err)
		}
	}
	if err := b.Set(ctx, p+"neg", []byte("x"), -time.Second); backend.KindOf(err) != backend.Permanent {
		t.Fatalf("Set with negative TTL: %v, want Permanent", err)
	}
	// An empty value is a value.
	if err := b.Set(ctx, p+"empty", nil, 0); err != nil {
		t.Fatal(err)
	}
	if v, found, err := b.Get(ctx, p+"empty"); err != nil || !found || len(v) != 0 {
		t.Fatalf("Get(empty) = %q, %v, %v", v, found, err)
	}
}

func TestHashedKeysNeverCollideWithNormalKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := newTestBackend(t, Options{})
	p := uniq(t)
	long := p + strings.Repeat("x", 300)
	keys := []string{
		p + "a b", p + "a_b", // space vs the underscore another SDK would substitute
		long, long[:250], // a long key vs its own truncation
		wireKey(p + "a b"), // a normal-looking key equal to another key's hashed form
		"ck#" + p,          // the reserved prefix
		p + "tab\t", p + "tab",
	}
	for i, k := range keys {
		if err := b.Set(ctx, k, []byte{byte(i)}, time.Minute); err != nil {
			t.Fatalf("Set(%q): %v", k, err)
		}
	}
	for i, k := range keys {
		v, found, err := b.Get(ctx, k)
		if err != nil || !found || !bytes.Equal(v, []byte{byte(i)}) {
			t.Errorf("Get(%q) = %v, %v, %v; want [%d]", k, v, found, err, i)
		}
	}
}

func TestItemTooLarge(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := newTestBackend(t, Options{})
	p := uniq(t)
	err := b.Set(ctx, p+"big", make([]byte, DefaultMaxItemSize+1), 0)
	if backend.KindOf(err) != backend.Permanent || !errors.Is(err, ErrItemTooLarge) {
		t.Fatalf("Set of 1 MiB + 1: %v, want Permanent ErrItemTooLarge", err)
	}
	if strings.Contains(err.Error(), "\x00\x00\x00") {
		t.Fatalf("error message carries the value: %q", err)
	}
	for _, ps := range b.PoolStats() {
		if ps.Dials != 0 {
			t.Fatalf("refused item still reached %s", ps.Server)
		}
	}
	// With the client limit raised past the server's, the server's own
	// refusal is Permanent too, and the connection stays usable.
	big := newTestBackend(t, Options{MaxItemSize: 4 << 20})
	err = big.Set(ctx, p+"big", make([]byte, 2<<20), 0)
	if backend.KindOf(err) != backend.Permanent || !errors.Is(err, ErrItemTooLarge) {
		t.Fatalf("Set of 2 MiB past the server limit: %v, want Permanent ErrItemTooLarge", err)
	}
	if err := big.Set(ctx, p+"small", []byte("ok"), 0); err != nil {
		t.Fatalf("Set after a refused item: %v", err)
	}
}

func TestLongTTLIsAbsolute(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	addrs := servers(t)
	b := newTestBackend(t, Options{Servers: addrs})
	p := uniq(t)
	const ttl = 31 * 24 * time.Hour
	setFrom := time.Now().Unix()
	if err := b.Set(ctx, p+"long", []byte("v"), ttl); err != nil {
		t.Fatal(err)
	}
	setTo := time.Now().Unix()
	if _, found, err := b.Get(ctx, p+"long"); err != nil || !found {
		t.Fatalf("a 31-day entry is not retrievable: found=%v err=%v", found, err)
	}
	// Beyond 30 days the backend sends an absolute unix time (our clock at
	// Set plus the TTL) and memcached answers the remaining TTL as that time
	// minus its own clock, which ticks once a second and may be offset from
	// ours. So the exact bounds come from memcached's clock ("STAT time"),
	// read around the TTL request, not from a guessed slack.
	srvFrom, _ := serverClock(t, addrs)
	rem, found, err := b.TTL(ctx, p+"long")
	_, srvTo := serverClock(t, addrs)
	secs := int64(ttl / time.Second)
	lo := time.Duration(setFrom+secs-srvTo) * time.Second
	hi := time.Duration(setTo+secs-srvFrom) * time.Second
	if err != nil || !found || rem < lo || rem > hi {
		t.Fatalf("TTL = %v, %v, %v; want %v..%v (memcached's clock read %d..%d, ours %d..%d at Set)",
			rem, found, err, lo, hi, srvFrom, srvTo, setFrom, setTo)
	}
	// RefreshTTL converts the same way.
	if ok, err := b.RefreshTTL(ctx, p+"long", 40*24*time.Hour); err != nil || !ok {
		t.Fatalf("RefreshTTL = %v, %v", ok, err)
	}
	if rem, _, _ := b.TTL(ctx, p+"long"); rem < 40*24*time.Hour-time.Minute {
		t.Fatalf("TTL after refresh = %v, want about 40 days", rem)
	}
}

// serverClock returns the earliest and the latest unix time the memcached
// servers at addrs report ("STAT time"): the clock each measures absolute
// expiries against.
func serverClock(t *testing.T, addrs []string) (earliest, latest int64) {
	t.Helper()
	for i, addr := range addrs {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write([]byte("stats\r\n")); err != nil {
			t.Fatal(err)
		}
		var now int64
		sc := bufio.NewScanner(c)
		for sc.Scan() && sc.Text() != "END" {
			if v, ok := strings.CutPrefix(sc.Text(), "STAT time "); ok {
				if now, err = strconv.ParseInt(v, 10, 64); err != nil {
					t.Fatalf("%s: STAT time %q", addr, v)
				}
			}
		}
		_ = c.Close()
		if now == 0 {
			t.Fatalf("%s: no STAT time in the stats reply (%v)", addr, sc.Err())
		}
		if i == 0 || now < earliest {
			earliest = now
		}
		latest = max(latest, now)
	}
	return earliest, latest
}

func TestTTLInspection(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := newTestBackend(t, Options{})
	p := uniq(t)
	if _, found, err := b.TTL(ctx, p+"missing"); err != nil || found {
		t.Fatalf("TTL(missing) found=%v err=%v", found, err)
	}
	if ok, err := b.RefreshTTL(ctx, p+"missing", time.Minute); err != nil || ok {
		t.Fatalf("RefreshTTL(missing) = %v, %v", ok, err)
	}
	_ = b.Set(ctx, p+"forever", []byte("v"), 0)
	if rem, found, err := b.TTL(ctx, p+"forever"); err != nil || !found || rem != 0 {
		t.Fatalf("TTL(no expiry) = %v, %v, %v; want 0, true", rem, found, err)
	}
	if ok, err := b.RefreshTTL(ctx, p+"forever", time.Hour); err != nil || !ok {
		t.Fatalf("RefreshTTL = %v, %v", ok, err)
	}
	if rem, found, err := b.TTL(ctx, p+"forever"); err != nil || !found || rem <= 59*time.Minute || rem > time.Hour {
		t.Fatalf("TTL after RefreshTTL(1h) = %v, %v, %v", rem, found, err)
	}
}

func TestDistributionAcrossServers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	list := servers(t)
	b := newTestBackend(t, Options{Servers: list})
	p := uniq(t)
	const n = 200
	for i := range n {
		if err := b.Set(ctx, p+string(rune('a'+i%26))+":"+time.Duration(i).String(), []byte("v"), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	total := 0
	for _, s := range list {
		single := newTestBackend(t, Options{Servers: []string{s}})
		count := 0
		for i := range n {
			k := p + string(rune('a'+i%26)) + ":" + time.Duration(i).String()
			ok, err := single.Exists(ctx, k)
			if err != nil {
				t.Fatal(err)
			}
			if ok {
				count++
				if b.ServerFor(k) != s {
					t.Errorf("key %q found on %s, ServerFor says %s", k, s, b.ServerFor(k))
				}
			}
		}
		if count < n/5 {
			t.Errorf("server %s holds %d of %d keys; the ring is lopsided", s, count, n)
		}
		total += count
	}
	if total != n {
		t.Errorf("found %d keys across the servers, want %d (each key on exactly one)", total, n)
	}
}

func TestLocks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := newTestBackend(t, Options{})
	p := uniq(t)
	key := p + "job"
	id, ok, err := b.AcquireLock(ctx, key, 30*time.Second)
	if err != nil || !ok || id == "" {
		t.Fatalf("AcquireLock = %q, %v, %v", id, ok, err)
	}
	if _, ok, err := b.AcquireLock(ctx, key, 30*time.Second); err != nil || ok {
		t.Fatalf("second AcquireLock = %v, %v; want contested", ok, err)
	}
	// The lock does not touch the data entry of the same key.
	if ok, _ := b.Exists(ctx, key); ok {
		t.Fatalf("a lock created a data entry")
	}
	if ok, err := b.ReleaseLock(ctx, key, "not-the-token"); err != nil || ok {
		t.Fatalf("ReleaseLock(wrong id) = %v, %v", ok, err)
	}
	if ok, err := b.ReleaseLock(ctx, key, id); err != nil || !ok {
		t.Fatalf("ReleaseLock(id) = %v, %v", ok, err)
	}
	if ok, err := b.ReleaseLock(ctx, key, id); err != nil || ok {
		t.Fatalf("second ReleaseLock = %v, %v", ok, err)
	}
	// After the lock is gone (as if it expired) and someone else took it,
	// the old holder's release must not remove the new holder's lock.
	id1, _, _ := b.AcquireLock(ctx, key, 30*time.Second)
	rawDelete(t, b, lockKey(key))
	id2, ok, err := b.AcquireLock(ctx, key, 30*time.Second)
	if err != nil || !ok {
		t.Fatalf("AcquireLock after expiry = %v, %v", ok, err)
	}
	if ok, err := b.ReleaseLock(ctx, key, id1); err != nil || ok {
		t.Fatalf("stale holder released the new lock: %v, %v", ok, err)
	}
	if _, ok, _ := b.AcquireLock(ctx, key, 30*time.Second); ok {
		t.Fatalf("the new holder lost its lock")
	}
	if ok, _ := b.ReleaseLock(ctx, key, id2); !ok {
		t.Fatalf("new holder could not release")
	}
	if _, _, err := b.AcquireLock(ctx, key, 0); backend.KindOf(err) != backend.Permanent {
		t.Fatalf("AcquireLock(hold 0): %v, want Permanent", err)
	}
	// Long and odd keys lock too.
	odd := p + strings.Repeat("ü ", 200)
	if _, ok, err := b.AcquireLock(ctx, odd, time.Minute); err != nil || !ok {
		t.Fatalf("AcquireLock(odd key) = %v, %v", ok, err)
	}
}

// rawDelete deletes a wire key directly on the server that holds it.
func rawDelete(t *testing.T, b *Backend, wk string) {
	t.Helper()
	err := b.do(context.Background(), "delete", wk, wk, func(c *conn) error {
		_, err := c.roundTrip(nil, "delete ", wk, "\r\n")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestHealthCheck(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	list := servers(t)
	b := newTestBackend(t, Options{Servers: list})
	ok, d := b.HealthCheck(ctx)
	if !ok || d[backend.DetailBackendType] != "memcached" || d["servers_up"] != len(list) {
		t.Fatalf("HealthCheck = %v, %v", ok, d)
	}
	if _, isFloat := d[backend.DetailLatencyMS].(float64); !isFloat {
		t.Fatalf("latency_ms is %T", d[backend.DetailLatencyMS])
	}
	if v := d["versions"].(map[string]string)[list[0]]; !strings.HasPrefix(v, "1.") {
		t.Fatalf("version of %s = %q", list[0], v)
	}
	dead := newTestBackend(t, Options{Servers: []string{list[0], closedAddr(t)}})
	ok, d = dead.HealthCheck(ctx)
	if ok || d["servers_up"] != 1 || d[backend.DetailError] == nil {
		t.Fatalf("HealthCheck with a dead server = %v, %v", ok, d)
	}
}

func TestPoolReuse(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	list := servers(t)
	b := newTestBackend(t, Options{Servers: list[:1], MaxOpenConnsPerServer: 4, MaxIdleConnsPerServer: 2})
	p := uniq(t)
	for i := range 50 {
		if err := b.Set(ctx, p+"k", []byte{byte(i)}, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if st := b.PoolStats()[0]; st.Dials != 1 || st.Idle != 1 || st.InUse != 0 {
		t.Fatalf("50 sequential operations: %+v, want one connection reused", st)
	}
	// Concurrent operations never hold more than 4 connections; a surplus
	// above 2 idle ones is closed when it comes back.
	hammer := func(b *Backend) {
		var wg sync.WaitGroup
		for range 16 {
			wg.Go(func() {
				for range 20 {
					if _, _, err := b.Get(ctx, p+"k"); err != nil {
						t.Error(err)
					}
				}
			})
		}
		wg.Wait()
	}
	hammer(b)
	if st := b.PoolStats()[0]; st.Idle > 2 || st.InUse != 0 || st.Discards != 0 {
		t.Fatalf("after concurrent operations: %+v, want at most 2 idle, none in use, none discarded", st)
	}
	// With as many idle as open connections nothing is ever closed, so the
	// number of dials shows the open limit held.
	b4 := newTestBackend(t, Options{Servers: list[:1], MaxOpenConnsPerServer: 4, MaxIdleConnsPerServer: 4})
	hammer(b4)
	if st := b4.PoolStats()[0]; st.Dials > 4 || st.Idle != int(st.Dials) {
		t.Fatalf("after concurrent operations: %+v, want at most 4 connections, all idle", st)
	}
}

// blackhole starts a TCP listener that accepts connections and reads from
// them but never answers: an injected fault standing in for a hung server.
func blackhole(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go func() { _, _ = bufio.NewReader(c).WriteTo(discard{}) }()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return ln.Addr().String()
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// closedAddr returns a loopback address nobody listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

func TestContextDeadlineHonoured(t *testing.T) {
	t.Parallel()
	b := newTestBackend(t, Options{Servers: []string{blackhole(t)}, Timeout: -1, MaxOpenConnsPerServer: 1})

	// A deadline ends a hung operation with a Timeout error and discards the
	// connection.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	_, _, err := b.Get(ctx, "k")
	cancel()
	if backend.KindOf(err) != backend.Timeout || !errors.Is(err, context.DeadlineExceeded) || !backend.IsTransient(err) {
		t.Fatalf("Get against a hung server: %v, want Timeout wrapping DeadlineExceeded", err)
	}
	if st := b.PoolStats()[0]; st.Idle != 0 || st.InUse != 0 || st.Discards != 1 {
		t.Fatalf("after a timeout: %+v, want the connection discarded", st)
	}

	// Cancellation interrupts a hung operation too: Transient, not retried.
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	err = b.Set(ctx, "k", []byte("v"), 0)
	if backend.KindOf(err) != backend.Transient || !errors.Is(err, context.Canceled) || backend.IsTransient(err) {
		t.Fatalf("cancelled Set: %v, want Transient wrapping Canceled", err)
	}

	// An already expired context fails fast without touching the network.
	dials := b.PoolStats()[0].Dials
	ctx, cancel = context.WithTimeout(context.Background(), -time.Second)
	defer cancel()
	if _, err := b.Exists(ctx, "k"); backend.KindOf(err) != backend.Timeout {
		t.Fatalf("Exists with an expired context: %v, want Timeout", err)
	}
	if b.PoolStats()[0].Dials != dials {
		t.Fatalf("an expired context still dialled")
	}

	// The backend's own timeout applies when the context has none, and
	// WithTimeout changes it for a copy sharing the pool.
	short := b.WithTimeout(30 * time.Millisecond)
	if _, err := short.Exists(context.Background(), "k"); backend.KindOf(err) != backend.Timeout {
		t.Fatalf("WithTimeout: %v, want Timeout", err)
	}
	if b.PoolStats()[0].Dials == dials {
		t.Fatalf("WithTimeout copy does not share the pool")
	}
}

func TestWaitForFreeConnectionHonoursContext(t *testing.T) {
	t.Parallel()
	b := newTestBackend(t, Options{Servers: []string{blackhole(t)}, Timeout: -1, MaxOpenConnsPerServer: 1})
	hung, cancelHung := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _, _ = b.Get(hung, "k") // holds the only connection
	}()
	for b.PoolStats()[0].InUse == 0 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if _, _, err := b.Get(ctx, "k"); backend.KindOf(err) != backend.Timeout {
		t.Fatalf("Get waiting for a connection: %v, want Timeout", err)
	}
	if d := b.PoolStats()[0].Dials; d != 1 {
		t.Fatalf("%d dials, want 1 (the pool limit)", d)
	}
	cancelHung()
	<-done
}

// scripted starts a TCP server that answers each request line with the
// reply reply returns, then closes the connection when close is true: an
// injected fault for what a real memcached does not do on demand.
func scripted(t *testing.T, reply func(line string) (answer string, close bool)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					answer, closeConn := reply(strings.TrimRight(line, "\r\n"))
					_, _ = c.Write([]byte(answer))
					if closeConn {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func TestStaleIdleConnectionIsReplaced(t *testing.T) {
	t.Parallel()
	// The server answers one command per connection and then hangs up, like
	// a memcached that restarted while the connection sat idle.
	addr := scripted(t, func(string) (string, bool) { return "VERSION 1.6.0\r\n", true })
	b := newTestBackend(t, Options{Servers: []string{addr}})
	for i := range 3 {
		if ok, d := b.HealthCheck(context.Background()); !ok {
			t.Fatalf("HealthCheck %d failed on a stale connection: %v", i, d)
		}
	}
	if st := b.PoolStats()[0]; st.Dials != 3 {
		t.Fatalf("%+v, want one dial per operation", st)
	}
}

func TestExistsFallsBackWithoutMetaCommands(t *testing.T) {
	t.Parallel()
	addr := scripted(t, func(line string) (string, bool) {
		switch {
		case strings.HasPrefix(line, "mg "):
			return "ERROR\r\n", false
		case line == "get present":
			return "VALUE present 0 1\r\nx\r\nEND\r\n", false
		}
		return "END\r\n", false
	})
	b := newTestBackend(t, Options{Servers: []string{addr}})
	ctx := context.Background()
	if ok, err := b.Exists(ctx, "present"); err != nil || !ok {
		t.Fatalf("Exists(present) = %v, %v", ok, err)
	}
	if ok, err := b.Exists(ctx, "absent"); err != nil || ok {
		t.Fatalf("Exists(absent) = %v, %v", ok, err)
	}
	// The first ERROR is remembered: later Exists calls go straight to get
	// and keep their connection.
	if st := b.PoolStats()[0]; st.Discards != 1 {
		t.Fatalf("%+v: want exactly one connection lost to the unknown command", st)
	}
	if _, _, err := b.TTL(ctx, "present"); !errors.Is(err, ErrMetaUnsupported) || backend.KindOf(err) != backend.Permanent {
		t.Fatalf("TTL without meta commands: %v, want Permanent ErrMetaUnsupported", err)
	}
	// GetWithTTL falls back to get, with no lifetime to report.
	if v, rem, found, err := b.GetWithTTL(ctx, "present"); err != nil || !found || string(v) != "x" || rem != 0 {
		t.Fatalf("GetWithTTL without meta commands = (%q, %v, %v, %v), want (x, 0, true, nil)", v, rem, found, err)
	}
}

// TestGetWithTTLChecksTheKey: an mg answer for another key is a protocol
// error, never a value.
func TestGetWithTTLChecksTheKey(t *testing.T) {
	t.Parallel()
	addr := scripted(t, func(line string) (string, bool) {
		switch line {
		case "mg mine v t k":
			return "VA 1 t60 kother\r\nx\r\n", false
		case "mg short v t k":
			return "VA 5 t60 kshort\r\nx\r\n", false
		}
		return "EN\r\n", false
	})
	b := newTestBackend(t, Options{Servers: []string{addr}})
	for _, key := range []string{"mine", "short"} {
		v, _, found, err := b.GetWithTTL(context.Background(), key)
		if err == nil || found || v != nil {
			t.Errorf("GetWithTTL(%s) = (%q, %v, %v), want an error", key, v, found, err)
		}
	}
}

func TestServerErrorsAreClassified(t *testing.T) {
	t.Parallel()
	addr := scripted(t, func(line string) (string, bool) {
		switch {
		case strings.HasPrefix(line, "get busy"):
			return "SERVER_ERROR out of memory\r\n", false
		case strings.HasPrefix(line, "get bad"):
			return "CLIENT_ERROR bad command line format\r\n", false
		case strings.HasPrefix(line, "get garbage"):
			return "HELLO\r\n", false
		case strings.HasPrefix(line, "get other"):
			return "VALUE another 0 1\r\nx\r\nEND\r\n", false
		}
		return "END\r\n", false
	})
	b := newTestBackend(t, Options{Servers: []string{addr}})
	tests := []struct {
		key  string
		kind backend.Kind
	}{
		{"busy", backend.Transient},
		{"bad", backend.Permanent},
		{"garbage", backend.Transient},
		{"other", backend.Transient},
	}
	for _, tt := range tests {
		_, _, err := b.Get(context.Background(), tt.key)
		var be *backend.Error
		if !errors.As(err, &be) || be.Kind != tt.kind || be.Op != "get" || be.Backend != "memcached" {
			t.Errorf("Get(%q): %v, want %v", tt.key, err, tt.kind)
		}
	}
	if st := b.PoolStats()[0]; st.Discards != int64(len(tests)) {
		t.Errorf("%+v: every failed connection must be discarded", st)
	}
	if _, _, err := b.Get(context.Background(), "fine"); err != nil {
		t.Errorf("Get after errors: %v", err)
	}
}

func TestClosedBackend(t *testing.T) {
	t.Parallel()
	b, err := New(Options{Servers: []string{closedAddr(t)}})
	if err != nil {
		t.Fatal(err)
	}
	_ = b.Close()
	if _, _, err := b.Get(context.Background(), "k"); backend.KindOf(err) != backend.Permanent {
		t.Fatalf("Get on a closed backend: %v, want Permanent", err)
	}
}

func TestUnreachableServerIsTransient(t *testing.T) {
	t.Parallel()
	b := newTestBackend(t, Options{Servers: []string{closedAddr(t)}})
	_, _, err := b.Get(context.Background(), "k")
	if backend.KindOf(err) != backend.Transient {
		t.Fatalf("Get from a closed port: %v, want Transient", err)
	}
}

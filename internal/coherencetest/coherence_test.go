package coherencetest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/cachekit-go/cachekit"
	"github.com/cachekit-go/cachekit/backend"
	"github.com/cachekit-go/cachekit/backend/redis"
	"github.com/cachekit-go/cachekit/internal/testenv"
)

// envChild, when set, makes the test binary a child process; its value is
// the JSON childConfig.
const envChild = "CACHEKIT_COHERENCE_CHILD"

// envFigures turns on the long propagation measurement (1,000 writes per
// deployment, four processes).
const envFigures = "CACHEKIT_COHERENCE_FIGURES"

// childFallback is the fallback TTL of the children: the bound the
// break-the-channel test checks.
const childFallback = 500 * time.Millisecond

type childConfig struct {
	Kind   string   // "redis", "cluster" or "cachekitd"
	Addrs  []string // Redis addresses
	URL    string   // cachekitd
	URLs   []string // cachekitd replicas: process i talks to URLs[min(i, len(URLs)-1)]
	APIKey string
	CAFile string
	Prefix string // key prefix (Redis) or namespace
	Name   string // Redis client name, so the test can find the connections
}

func TestMain(m *testing.M) {
	if cfg := os.Getenv(envChild); cfg != "" {
		os.Exit(child(cfg))
	}
	os.Exit(m.Run())
}

func newBackend(cfg childConfig) (backend.Backend, func(), error) {
	switch cfg.Kind {
	case "redis", "cluster":
		o := redis.Options{Addrs: cfg.Addrs, KeyPrefix: cfg.Prefix, ClientName: cfg.Name}
		if cfg.Kind == "cluster" {
			o.Mode = redis.ModeCluster
		}
		b, err := redis.New(o)
		if err != nil {
			return nil, nil, err
		}
		return b, b.Close, nil
	}
	return newOtherBackend(cfg)
}

// newOtherBackend builds the backends other files add; nil: none.
var newOtherBackend = func(cfg childConfig) (backend.Backend, func(), error) {
	return nil, nil, fmt.Errorf("unknown backend kind %q", cfg.Kind)
}

// child is one process: a cache over the configured backend that runs the
// commands it reads on stdin, one per line, answering one line each.
func child(raw string) int {
	fail := func(err error) int { fmt.Fprintln(os.Stderr, "coherence child:", err); return 1 }
	var cfg childConfig
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		return fail(err)
	}
	b, closeB, err := newBackend(cfg)
	if err != nil {
		return fail(err)
	}
	defer closeB()
	// Deployments are shared between subtests: keys and namespace are the
	// subtest's own.
	ns := "coh" + strconv.FormatUint(uint64(crc32.ChecksumIEEE([]byte(cfg.Prefix))), 10)
	c, err := cachekit.New(cachekit.WithBackend(b), cachekit.WithTTL(time.Hour),
		cachekit.WithCoherenceFallbackTTL(childFallback), cachekit.WithNamespace(ns))
	if err != nil {
		return fail(err)
	}
	defer c.Close()
	var srcMu sync.Mutex
	src := ""
	f, err := cachekit.Wrap1(c, func(_ context.Context, _ int) (string, error) {
		srcMu.Lock()
		defer srcMu.Unlock()
		return src, nil
	}, cachekit.Name("coherence/f"))
	if err != nil {
		return fail(err)
	}
	ctx := context.Background()
	get := func(k string) string {
		v, found, err := cachekit.Get[string](ctx, c, k)
		switch {
		case err != nil:
			return "err"
		case !found:
			return "-"
		}
		return v
	}
	call := func() string {
		v, err := f.Call(ctx, 1)
		if err != nil {
			return "err"
		}
		return v
	}
	// poll reads with read until it returns want, for at most timeout.
	poll := func(read func() string, want string, timeout time.Duration) string {
		start := time.Now()
		for {
			v := read()
			if v == want {
				return fmt.Sprintf("ok %d", time.Since(start))
			}
			if time.Since(start) > timeout {
				return "timeout " + v
			}
			time.Sleep(200 * time.Microsecond)
		}
	}
	var watch struct {
		sync.WaitGroup
		seen []int64
	}
	out := bufio.NewWriter(os.Stdout)
	reply := func(s string) { fmt.Fprintln(out, s); out.Flush() }
	okOrErr := func(err error) {
		if err != nil {
			reply("err " + strings.ReplaceAll(err.Error(), "\n", " "))
			return
		}
		reply("ok")
	}
	reply("ready")
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		w := strings.Fields(in.Text())
		if len(w) > 1 && w[0] != "src" && w[0] != "pollcall" {
			w[1] = cfg.Prefix + w[1] // the key
		}
		ms := func(i int) time.Duration { n, _ := strconv.Atoi(w[i]); return time.Duration(n) * time.Millisecond }
		switch w[0] {
		case "set":
			okOrErr(c.Set(ctx, w[1], w[2], 0))
		case "get":
			reply(get(w[1]))
		case "del":
			_, err := c.Delete(ctx, w[1])
			okOrErr(err)
		case "src":
			srcMu.Lock()
			src = w[1]
			srcMu.Unlock()
			reply("ok")
		case "call":
			reply(call())
		case "clear":
			okOrErr(f.Clear(ctx))
		case "inval":
			okOrErr(f.Invalidate(ctx, 1))
		case "flush": // let this process's queued backend writes land
			okOrErr(c.Flush(ctx))
		case "poll": // poll KEY WANT TIMEOUT_MS
			reply(poll(func() string { return get(w[1]) }, w[2], ms(3)))
		case "pollcall": // pollcall WANT TIMEOUT_MS
			reply(poll(call, w[1], ms(2)))
		case "watch": // watch KEY N TIMEOUT_MS: record when each of 1..N is first seen
			n, _ := strconv.Atoi(w[2])
			timeout := ms(3)
			watch.seen = make([]int64, n+1)
			watch.Add(1)
			go func(key string) {
				defer watch.Done()
				last := 0
				deadline := time.Now().Add(timeout)
				for last < n && time.Now().Before(deadline) {
					v, _ := strconv.Atoi(get(key))
					now := time.Now().UnixNano()
					for ; last < v && last < n; last++ {
						watch.seen[last+1] = now
					}
					time.Sleep(100 * time.Microsecond)
				}
			}(w[1])
			reply("ok")
		case "seen":
			watch.Wait()
			reply("seen " + joinInts(watch.seen[1:]))
		case "write": // write KEY N PACE_US: Set 1..N, recording when each Set started
			n, _ := strconv.Atoi(w[2])
			pace, _ := strconv.Atoi(w[3])
			at := make([]int64, n)
			var firstErr error
			for i := 1; i <= n; i++ {
				at[i-1] = time.Now().UnixNano()
				if err := c.Set(ctx, w[1], strconv.Itoa(i), 0); err != nil && firstErr == nil {
					firstErr = err
				}
				time.Sleep(time.Duration(pace) * time.Microsecond)
			}
			if firstErr != nil {
				fmt.Fprintln(os.Stderr, "coherence child: a write failed:", firstErr)
			}
			reply("wrote " + joinInts(at))
		case "info":
			j, _ := json.Marshal(c.Info().Coherence)
			reply(string(j))
		default:
			reply("err unknown command")
		}
	}
	return 0
}

func joinInts(v []int64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.FormatInt(x, 10)
	}
	return strings.Join(s, " ")
}

func parseInts(t *testing.T, s string) []int64 {
	t.Helper()
	f := strings.Fields(s)
	v := make([]int64, len(f))
	for i, x := range f {
		n, err := strconv.ParseInt(x, 10, 64)
		if err != nil {
			t.Fatalf("bad number %q", x)
		}
		v[i] = n
	}
	return v
}

// proc is a child process seen from the test.
type proc struct {
	t   *testing.T
	in  io.WriteCloser
	out *bufio.Scanner
}

func (p *proc) do(format string, args ...any) string {
	p.t.Helper()
	fmt.Fprintf(p.in, format+"\n", args...)
	if !p.out.Scan() {
		p.t.Fatalf("a child ended early: %v", p.out.Err())
	}
	return p.out.Text()
}

func (p *proc) must(want, format string, args ...any) {
	p.t.Helper()
	if got := p.do(format, args...); !strings.HasPrefix(got, want) {
		p.t.Fatalf("%q answered %q, want %q", fmt.Sprintf(format, args...), got, want)
	}
}

func start(t *testing.T, cfg childConfig, n int) []*proc {
	t.Helper()
	ps := make([]*proc, n)
	for i := range ps {
		c := cfg
		if len(c.URLs) > 0 {
			c.URL = c.URLs[min(i, len(c.URLs)-1)]
		}
		raw, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		ch := testenv.StartChild(t, envChild+"="+string(raw))
		ps[i] = &proc{t: t, in: ch.In, out: ch.Out}
	}
	for _, p := range ps {
		if !p.out.Scan() || p.out.Text() != "ready" {
			t.Fatalf("a child did not start: %q %v", p.out.Text(), p.out.Err())
		}
	}
	for _, p := range ps {
		p.must(`{"State":"up"`, "info")
	}
	return ps
}

// seeAll makes every process but the writer poll until read returns want.
func seeAll(t *testing.T, ps []*proc, writer int, cmd string) {
	t.Helper()
	for i, p := range ps {
		if i != writer {
			p.must("ok", "%s", cmd)
		}
	}
}

// scenario: after Set, Delete, Clear and Invalidate in one process, every
// other process sees the new state. Each starts with the old state in its
// L1 (and a TTL of an hour), so only the channel can tell it.
func scenario(t *testing.T, ps []*proc, canClear bool) {
	last := len(ps) - 1
	ps[0].must("ok", "set k v0")
	seeAll(t, ps, 0, "poll k v0 5000")
	for _, p := range ps[1:] {
		p.must("v0", "get k") // held in L1 (or read again) by now
	}
	ps[0].must("ok", "set k v1")
	seeAll(t, ps, 0, "poll k v1 5000")
	ps[last].must("ok", "del k")
	seeAll(t, ps, last, "poll k - 5000")

	for _, p := range ps {
		p.must("ok", "src a")
	}
	ps[0].must("a", "call")
	seeAll(t, ps, 0, "pollcall a 5000")
	if canClear { // the backend deletes by prefix
		for _, p := range ps {
			p.must("ok", "src b")
		}
		for _, p := range ps {
			p.must("a", "call") // cached: the function is not run
			p.must("ok", "flush")
		}
		ps[last].must("ok", "clear")
		seeAll(t, ps, last, "pollcall b 5000")
	}
	// Every process stored b (and writes to the backend behind the call):
	// those writes land before the invalidation, as a write still in flight
	// in another process when it is made may undo it (docs/consistency.md).
	for _, p := range ps {
		p.must("ok", "src c")
		p.must("ok", "flush")
	}
	ps[0].must("ok", "inval")
	seeAll(t, ps, 0, "pollcall c 5000")
}

// propagation has process 0 write key 1..n, pace apart, while the others
// watch it, and returns the delays from the start of each write to the
// moment each watcher first saw it.
func propagation(t *testing.T, ps []*proc, key string, n int, pace time.Duration) []time.Duration {
	t.Helper()
	ps[0].must("ok", "set %s 0", key)
	seeAll(t, ps, 0, "poll "+key+" 0 5000")
	budget := time.Duration(n)*pace + 30*time.Second
	for _, p := range ps[1:] {
		p.must("ok", "watch %s %d %d", key, n, budget.Milliseconds())
	}
	wrote := ps[0].do("write %s %d %d", key, n, pace.Microseconds())
	at := parseInts(t, strings.TrimPrefix(wrote, "wrote "))
	var d []time.Duration
	for i, p := range ps[1:] {
		seen := parseInts(t, strings.TrimPrefix(p.do("seen"), "seen "))
		for j, s := range seen {
			if s == 0 {
				t.Fatalf("process %d never saw write %d of %d", i+1, j+1, n)
			}
			d = append(d, time.Duration(max(s-at[j], 0)))
		}
	}
	return d
}

func quantiles(d []time.Duration) (p50, p99, top time.Duration) {
	s := slices.Clone(d)
	slices.Sort(s)
	q := func(f float64) time.Duration { return s[min(int(f*float64(len(s))), len(s)-1)] }
	return q(0.50), q(0.99), s[len(s)-1]
}

// deployments are the shared stores the tests run over.
func deployments(t *testing.T) map[string]childConfig {
	m := map[string]childConfig{}
	if addr := testenv.Require(t, "CACHEKIT_TEST_REDIS_ADDR"); addr != "" {
		m["redis"] = childConfig{Kind: "redis", Addrs: []string{addr}}
	}
	if addrs := os.Getenv("CACHEKIT_TEST_REDIS_CLUSTER_ADDRS"); addrs != "" {
		m["cluster"] = childConfig{Kind: "cluster", Addrs: strings.Split(addrs, ",")}
	} else {
		testenv.Missing(t, "CACHEKIT_TEST_REDIS_CLUSTER_ADDRS")
	}
	addOther(t, m)
	return m
}

// addOther adds the deployments other files know; none by default.
var addOther = func(*testing.T, map[string]childConfig) {}

// restart restarts the server of a deployment by URL (cachekitd).
var restart = map[string]func(){}

func unique(t *testing.T, name string) string {
	return fmt.Sprintf("coh-%s-%d-%d:", name, os.Getpid(), time.Now().UnixNano())
}

func TestCoherenceAcrossProcesses(t *testing.T) {
	for name, cfg := range deployments(t) {
		for _, n := range []int{2, 4} {
			t.Run(fmt.Sprintf("%s/%d", name, n), func(t *testing.T) {
				cfg := cfg
				cfg.Prefix = unique(t, name)
				ps := start(t, cfg, n)
				scenario(t, ps, cfg.Kind != "cachekitd")
				d := propagation(t, ps, "p", 50, 2*time.Millisecond)
				p50, p99, top := quantiles(d)
				t.Logf("%s, %d processes: propagation over %d observations: p50 %v, p99 %v, max %v", name, n, len(d), p50, p99, top)
			})
		}
	}
}

// TestPropagationFigures measures the propagation delay over 1,000 writes
// seen by three other processes, per deployment (CACHEKIT_COHERENCE_FIGURES=1).
func TestPropagationFigures(t *testing.T) {
	if os.Getenv(envFigures) == "" {
		t.Skip("set " + envFigures + "=1 to measure")
	}
	for name, cfg := range deployments(t) {
		t.Run(name, func(t *testing.T) {
			cfg.Prefix = unique(t, name)
			ps := start(t, cfg, 4)
			d := propagation(t, ps, "fig", 1000, 2*time.Millisecond)
			p50, p99, top := quantiles(d)
			t.Logf("FIGURE %s: 1 writer, 3 readers, 1000 writes 2 ms apart, %d observations: p50 %v, p99 %v, max %v",
				name, len(d), p50, p99, top)
		})
	}
}

// killSubscriptions closes, on every node, the subscription connections of
// the processes whose Redis client name is name; it returns how many.
func killSubscriptions(t *testing.T, addrs []string, name string) int {
	t.Helper()
	killed := 0
	for _, a := range addrs {
		c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{a}, DisableCache: true, ForceSingleClient: true})
		if err != nil {
			t.Fatal(err)
		}
		list, err := c.Do(context.Background(), c.B().ClientList().Build()).ToString()
		if err != nil {
			c.Close()
			t.Fatal(err)
		}
		for _, line := range strings.Split(list, "\n") {
			if !strings.Contains(line, " name="+name+" ") || !strings.Contains(line, " flags=P ") {
				continue
			}
			// A RESP3 verbatim string may start with its "txt:" format.
			first := strings.TrimPrefix(strings.Fields(line)[0], "txt:")
			id, err := strconv.ParseInt(strings.TrimPrefix(first, "id="), 10, 64)
			if err != nil {
				continue
			}
			if c.Do(context.Background(), c.B().ClientKill().Id(id).Build()).Error() == nil {
				killed++
			}
		}
		c.Close()
	}
	return killed
}

// TestBrokenChannel kills the processes' subscription connections every 30
// ms while one of them writes; afterwards every process serves the last
// write within the documented bound (the fallback TTL: the break is seen
// at once, and the reconnection flushes L1 anyway), with a wide margin.
func TestBrokenChannel(t *testing.T) {
	for name, cfg := range deployments(t) {
		t.Run(name, func(t *testing.T) {
			cfg.Prefix = unique(t, name)
			cfg.Name = strings.Trim(strings.ReplaceAll(cfg.Prefix, ":", ""), "-")
			ps := start(t, cfg, 4)
			ps[0].must("ok", "set b 0")
			seeAll(t, ps, 0, "poll b 0 5000")
			stop := make(chan struct{})
			var killed int
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					case <-time.After(30 * time.Millisecond):
					}
					if cfg.Kind == "cachekitd" {
						restart[cfg.URL]() // the stream and the entries go
						killed++
						if killed == 2 {
							<-stop
							return
						}
						continue
					}
					killed += killSubscriptions(t, cfg.Addrs, cfg.Name)
				}
			}()
			const n = 300
			ps[0].must("wrote", "write b %d 2000", n)
			close(stop)
			wg.Wait()
			// The last write may have met a server being restarted: write it
			// again until it lands.
			for i := 0; ps[0].do("set b %d", n) != "ok"; i++ {
				if i == 100 {
					t.Fatal("the last write keeps failing")
				}
				time.Sleep(50 * time.Millisecond)
			}
			end := time.Now()
			if killed == 0 {
				t.Fatal("no subscription connection was killed: the test broke nothing")
			}
			bound := childFallback + 2*time.Second // wide margin for a loaded machine
			for i, p := range ps[1:] {
				got := p.do("poll b %d %d", n, bound.Milliseconds())
				if !strings.HasPrefix(got, "ok") {
					t.Fatalf("process %d still serves an older value %v after the last write (bound %v): %s",
						i+1, time.Since(end), bound, got)
				}
			}
			var disc int
			for _, p := range ps[1:] {
				var i cachekit.CoherenceInfo
				for deadline := time.Now().Add(10 * time.Second); ; {
					if err := json.Unmarshal([]byte(p.do("info")), &i); err != nil {
						t.Fatal(err)
					}
					if i.State == "up" || time.Now().After(deadline) {
						break
					}
					time.Sleep(10 * time.Millisecond)
				}
				disc += int(i.Disconnects)
				if i.State != "up" || i.Flushes == 0 {
					t.Errorf("a process's channel is %q with %d flushes, 10 s after the breaks", i.State, i.Flushes)
				}
			}
			t.Logf("%s: the channel was broken %d times (subscription connections killed, or the server restarted) during %d writes; the readers saw %d disconnects; all converged",
				name, killed, n, disc)
			if disc == 0 {
				t.Fatal("no reader noticed a disconnect")
			}
		})
	}
}

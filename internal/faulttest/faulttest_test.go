//go:build unix

package faulttest_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit"
	"github.com/cachekit-go/cachekit/backend"
	"github.com/cachekit-go/cachekit/backend/cachekitio"
	"github.com/cachekit-go/cachekit/backend/memcached"
	"github.com/cachekit-go/cachekit/backend/redis"
	"github.com/cachekit-go/cachekit/internal/faulttest"
	"github.com/cachekit-go/cachekit/internal/testenv/cachekitdtest"
	"github.com/cachekit-go/cachekit/internal/testenv/faultproxy"
)

// The guarantee of issue 18, as the suite asserts it.
const (
	// maxP99 and p99Factor bound the p99 call latency during a fault (1 ms
	// function): at most maxP99, or p99Factor times the p99 of the healthy
	// backend when that is more. On a quiet machine the healthy p99 is a
	// few milliseconds and the bound is the absolute 100 ms; under the
	// full parallel test run on 2 shared cores the healthy p99 itself
	// reaches 90-310 ms (the process waits for CPU, not for the cache),
	// and the bound becomes "the fault costs callers no more than twice
	// what the healthy backend costs them". The soak and the report run
	// print the absolute figures.
	maxP99    = 100 * time.Millisecond
	p99Factor = 2
	// minThroughputRatio: calls/s during the fault at least this share of
	// calls/s before it.
	minThroughputRatio = 0.5
	// maxFirstHit bounds the time from recovery to the first backend hit.
	maxFirstHit = 2 * time.Second
	// l1Size is the in-process tier of the L1-on variants: about a third
	// of the working set (3,000 values of about 256 bytes, plus keys and
	// per-entry overhead).
	l1Size = 512 << 10
)

// soak reports whether the long run was asked for (CACHEKIT_SOAK=1).
func soak() bool {
	v, _ := strconv.ParseBool(os.Getenv("CACHEKIT_SOAK"))
	return v
}

// config is the short run by default (a few seconds per scenario) and the
// issue's 5 s / 10 s / 10 s for the soak.
func config() faulttest.Config {
	c := faulttest.Config{
		Workers: 16, Keys: 3000, Work: time.Millisecond, Warm: true,
		Before: 1500 * time.Millisecond, During: 2 * time.Second, After: 2500 * time.Millisecond,
	}
	if soak() {
		c.Before, c.During, c.After = 5*time.Second, 10*time.Second, 10*time.Second
	}
	return c
}

// server is a process a scenario may kill, restart, freeze and thaw.
type server interface {
	Addr() string
	Kill()
	Restart()
	Pause()
	Resume()
}

// daemon adapts cachekitdtest.Daemon (whose Kill is Stop).
type daemon struct{ *cachekitdtest.Daemon }

func (d daemon) Kill() { d.Stop() }

// kind is one backend under test: how to start its server and how to
// connect a backend to an address (the server's or a proxy's).
type kind struct {
	name    string
	start   func(t *testing.T) server
	connect func(t *testing.T, s server, addr string) backend.Backend
}

var (
	redisKind = kind{
		name:  "redis",
		start: func(t *testing.T) server { return proc{startRedis(t)} },
		connect: func(t *testing.T, _ server, addr string) backend.Backend {
			b, err := redis.New(redis.Options{Addrs: []string{addr}})
			if err != nil {
				t.Fatalf("redis.New(%s): %v", addr, err)
			}
			return b
		},
	}
	memcachedKind = kind{
		name:  "memcached",
		start: func(t *testing.T) server { return proc{startMemcached(t)} },
		connect: func(t *testing.T, _ server, addr string) backend.Backend {
			b, err := memcached.New(memcached.Options{Servers: []string{addr}})
			if err != nil {
				t.Fatalf("memcached.New(%s): %v", addr, err)
			}
			return b
		},
	}
	cachekitdKind = kind{
		name:  "cachekitd",
		start: func(t *testing.T) server { return daemon{cachekitdtest.Start(t, cachekitdtest.Config{})} },
		connect: func(t *testing.T, s server, addr string) backend.Backend {
			d := s.(daemon)
			port, _ := strconv.Atoi(addr[strings.LastIndexByte(addr, ':')+1:])
			// The client's defaults, except what a self-hosted cachekitd
			// on loopback needs (its CA, the name mapped to 127.0.0.1).
			b, err := cachekitio.New(cachekitio.Options{
				APIKey: cachekitio.Secret(d.APIKey()), URL: cachekitdtest.URLFor(port),
				AllowPrivateNetworks: true, RootCAs: d.RootCAs(), Resolver: d.Resolver(),
			})
			if err != nil {
				t.Fatalf("cachekitio.New: %v", err)
			}
			return b
		},
	}
)

func closeBackend(b backend.Backend) {
	switch c := b.(type) {
	case interface{ Close() error }:
		_ = c.Close()
	case interface{ Close() }:
		c.Close()
	}
}

// cacheFor builds the cache of one variant the way a service would: the
// defaults, a backend, the variant's L1 (512 KiB when on, about a third of
// the working set, so L1 misses keep reaching the backend), a long TTL.
func cacheFor(t *testing.T, name string, b backend.Backend, opts ...cachekit.Option) faulttest.MakeCache {
	return func(v faulttest.Variant, fn func(context.Context, int) (string, error), log *slog.Logger) faulttest.Cache {
		o := append([]cachekit.Option{cachekit.WithL1(v.L1), cachekit.WithTTL(time.Hour), cachekit.WithLogger(log)}, opts...)
		if b != nil {
			o = append(o, cachekit.WithBackend(b))
		}
		if v.L1 {
			o = append(o, cachekit.WithL1Size(l1Size))
		}
		c, err := cachekit.New(o...)
		if err != nil {
			t.Fatalf("cachekit.New: %v", err)
		}
		return wrap(t, c, name, v, fn, func() {
			_ = c.Close()
			if b != nil {
				closeBackend(b)
			}
		})
	}
}

func wrap(t *testing.T, c *cachekit.Cache, name string, v faulttest.Variant, fn func(context.Context, int) (string, error), closeAll func()) faulttest.Cache {
	f, err := cachekit.Wrap1(c, fn, cachekit.Name("faulttest/"+name+"/"+strings.NewReplacer(" ", "", ",", "-").Replace(v.String())))
	if err != nil {
		t.Fatal(err)
	}
	return faulttest.Cache{Call: f.Call, Info: f.Info, Close: closeAll}
}

// faults are the scenarios every backend goes through. proxied says the
// backend must connect through the proxy.
type fault struct {
	short   string // the subtest's name
	name    string
	proxied bool
	make    func(s server, p *faultproxy.Proxy) faulttest.Fault
}

var (
	killed = fault{"killed", "killed (SIGKILL, restart)", false, func(s server, _ *faultproxy.Proxy) faulttest.Fault {
		return faulttest.Fault{Inject: s.Kill, Recover: s.Restart}
	}}
	hung = fault{"hung", "hung (SIGSTOP, SIGCONT)", false, func(s server, _ *faultproxy.Proxy) faulttest.Fault {
		return faulttest.Fault{Inject: s.Pause, Recover: s.Resume}
	}}
	blackholed = fault{"blackholed", "blackholed (proxy), healed", true, func(_ server, p *faultproxy.Proxy) faulttest.Fault {
		return faulttest.Fault{Inject: p.Blackhole, Recover: p.Heal}
	}}
	resets = fault{"reset", "connections reset (proxy), healed", true, func(_ server, p *faultproxy.Proxy) faulttest.Fault {
		return faulttest.Fault{Inject: p.Reset, Recover: p.Heal}
	}}
	slow = fault{"slow", "200 ms latency (proxy), removed", true, func(_ server, p *faultproxy.Proxy) faulttest.Fault {
		return faulttest.Fault{Inject: func() { p.SetLatency(200 * time.Millisecond) }, Recover: func() { p.SetLatency(0) }}
	}}
)

// skipUnderRace skips the timed scenarios in a -race build (see
// race_test.go); scripts/test.sh runs them without -race.
func skipUnderRace(t *testing.T) {
	t.Helper()
	if raceEnabled {
		t.Skip("timed fault scenarios do not run under -race (5-10x slower); scripts/test.sh runs this package without it")
	}
}

// scenario runs one fault against one backend kind with all four variants
// at once, prints the tables and asserts the guarantee.
func scenario(t *testing.T, k kind, f fault) {
	skipUnderRace(t)
	s := k.start(t)
	addr := s.Addr()
	var p *faultproxy.Proxy
	if f.proxied {
		var err error
		if p, err = faultproxy.New(addr); err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		addr = p.Addr()
	}
	ff := f.make(s, p)
	ff.Name = f.name
	if p != nil {
		ff.Background = p.Goroutines
	}
	name := k.name + "-" + f.short
	mk := func(v faulttest.Variant, fn func(context.Context, int) (string, error), log *slog.Logger) faulttest.Cache {
		return cacheFor(t, name, k.connect(t, s, addr))(v, fn, log)
	}
	rep := faulttest.Run(config(), k.name, faulttest.AllVariants, mk, ff, breakerFigures)
	publish(t, rep)
	assertGuarantee(t, rep, guaranteeChecks{throughput: true, goroutines: true})
}

// breakerFigures are the resilience counters of Info at the end of a run.
func breakerFigures(_ faulttest.Variant, i cachekit.Info) map[string]string {
	r := i.Resilience
	return map[string]string{
		"breaker": fmt.Sprintf("%s, opened %d", r.Breaker, r.BreakerOpens),
		"skips":   fmt.Sprintf("%d breaker, %d backpressure", r.BreakerSkips, r.BackpressureSkips),
		"budget":  fmt.Sprintf("%d timeouts", r.BudgetTimeouts),
		"writes":  fmt.Sprintf("%d queued, %d dropped", r.WritesQueued, r.WritesDropped),
	}
}

// publish logs the tables and appends them to the report file.
func publish(t *testing.T, rep faulttest.Report) {
	t.Helper()
	t.Logf("\n%s\n%s\n%s", faulttest.SummaryHeader, rep.Summary(), rep.Detail())
	appendReport(t, rep.Summary()+"\n"+rep.Detail()+"\n")
}

// appendReport appends text to the file CACHEKIT_FAULT_REPORT names, if
// any, so a run's figures can be pasted into docs/reliability-figures.md.
func appendReport(t *testing.T, text string) {
	t.Helper()
	path := os.Getenv("CACHEKIT_FAULT_REPORT")
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err == nil {
		_, err = f.WriteString(text)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		t.Errorf("CACHEKIT_FAULT_REPORT: %v", err)
	}
}

// guaranteeChecks picks the checks that need a healthy phase to compare
// with: throughput during the fault against before, goroutines at the end
// against before. connSlack is the number of goroutines the backend
// clients may have added by connecting after the baseline was taken.
type guaranteeChecks struct {
	throughput, goroutines bool
	connSlack              int
}

// connGoroutines bounds the goroutines one cache's backend client keeps
// for its connections (rueidis: a few per connection, one connection per
// node plus a dedicated one for blocking commands and pub/sub).
const connGoroutines = 12

// assertGuarantee checks every variant of rep against the guarantee.
func assertGuarantee(t *testing.T, rep faulttest.Report, checks guaranteeChecks) {
	t.Helper()
	for _, v := range rep.Variants {
		if v.WarmErrors > 0 {
			t.Errorf("%s: %d errors or wrong values while warming up (backend healthy)", v.Variant, v.WarmErrors)
		}
		for i, p := range v.Phases {
			if p.Errors > 0 {
				t.Errorf("%s, %s: %d of %d calls returned an error, first: %s", v.Variant, faulttest.PhaseNames[i], p.Errors, p.Calls, p.FirstError)
			}
			if p.Wrong > 0 {
				t.Errorf("%s, %s: %d wrong values", v.Variant, faulttest.PhaseNames[i], p.Wrong)
			}
		}
		d, b := v.Phases[faulttest.During], v.Phases[faulttest.Before]
		// The healthy reference: before the fault, or after it when the
		// backend was down from the start.
		healthy := b
		if healthy.Calls == 0 {
			healthy = v.Phases[faulttest.After]
		}
		if bound := max(maxP99, p99Factor*healthy.P99); d.P99 > bound {
			t.Errorf("%s: p99 call latency during the fault %v, want at most %v (max(%v, %d x the healthy p99 %v); max %v)",
				v.Variant, d.P99, bound, maxP99, p99Factor, healthy.P99, d.Max)
		}
		if checks.throughput && d.Throughput() < minThroughputRatio*b.Throughput() {
			t.Errorf("%s: %.0f calls/s during the fault, want at least %.0f%% of the %.0f before",
				v.Variant, d.Throughput(), 100*minThroughputRatio, b.Throughput())
		}
		if v.FirstHit < 0 || v.FirstHit > maxFirstHit {
			t.Errorf("%s: first backend hit %v after recovery (negative: none), want within %v", v.Variant, v.FirstHit, maxFirstHit)
		}
	}
	// The slack: a quarter of the baseline plus 20, plus the goroutines of
	// backend connections the baseline could not count (none were open).
	if slack := rep.GoroutinesBefore/4 + 20 + checks.connSlack; checks.goroutines && rep.GoroutinesAfter > rep.GoroutinesBefore+slack {
		t.Errorf("goroutines %d after the fault, %d before: not back to baseline (peak %d); most common stacks:\n%s",
			rep.GoroutinesAfter, rep.GoroutinesBefore, rep.GoroutinesPeak, rep.GoroutineStacks)
	}
	if rep.Stuck != 0 {
		t.Errorf("some calls had not returned 30 s after the run")
	}
}

func TestRedis(t *testing.T) {
	for _, f := range []fault{killed, hung, blackholed, resets, slow} {
		t.Run(f.short, func(t *testing.T) { scenario(t, redisKind, f) })
	}
}

func TestMemcached(t *testing.T) {
	for _, f := range []fault{killed, hung, blackholed} {
		t.Run(f.short, func(t *testing.T) { scenario(t, memcachedKind, f) })
	}
}

func TestCachekitd(t *testing.T) {
	for _, f := range []fault{killed, hung, blackholed} {
		t.Run(f.short, func(t *testing.T) { scenario(t, cachekitdKind, f) })
	}
}

// A service whose Redis is down when it starts: FromEnv succeeds, calls are
// served (by the function) meanwhile, and backend hits begin within 2 s
// after Redis comes up.
func TestRedisDownAtStart(t *testing.T) {
	skipUnderRace(t)
	s := proc{newRedis(t)}
	t.Setenv(cachekit.EnvRedisURL, "redis://"+s.Addr())
	mk := func(v faulttest.Variant, fn func(context.Context, int) (string, error), log *slog.Logger) faulttest.Cache {
		o := []cachekit.Option{cachekit.WithL1(v.L1), cachekit.WithTTL(time.Hour), cachekit.WithLogger(log)}
		if v.L1 {
			o = append(o, cachekit.WithL1Size(l1Size))
		}
		c, err := cachekit.FromEnv(o...)
		if err != nil {
			t.Fatalf("FromEnv with Redis down: %v", err)
		}
		return wrap(t, c, "redis-down-at-start", v, fn, func() { _ = c.Close() })
	}
	cfg := config()
	cfg.Before, cfg.Warm = 0, false
	rep := faulttest.Run(cfg, "redis", faulttest.AllVariants, mk,
		faulttest.Fault{Name: "down at start, then started", Inject: func() {}, Recover: s.Restart}, breakerFigures)
	publish(t, rep)
	// The baseline is caches that have never connected and skip every
	// backend read; the end holds their connections and, as the workers
	// still run, a read in flight per worker (the goroutine within runs it
	// on, and the client's own), which the slack allows for. A leak per
	// call or per retry would be thousands.
	conns := len(faulttest.AllVariants) * (connGoroutines + 2*cfg.Workers)
	assertGuarantee(t, rep, guaranteeChecks{goroutines: true, connSlack: conns})
}

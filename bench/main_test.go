package bench

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"testing"

	"github.com/cachekit-go/cachekit"
	"github.com/cachekit-go/cachekit/internal/testenv"
)

// TestMain makes a plain `go test` (the test command) run every benchmark
// once: without -bench it sets -bench=. -benchtime=1x, so a benchmark that
// no longer compiles or fails is caught without timing anything.
func TestMain(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("test.bench"); f != nil && f.Value.String() == "" {
		_ = flag.Set("test.bench", ".")
		_ = flag.Set("test.benchtime", "1x")
	}
	os.Exit(m.Run())
}

// full reports whether the suite runs at the sizes of BENCHMARKS.md
// (BENCH_FULL=1, set by run.sh) rather than the small sizes of the test
// command.
func full() bool {
	v, _ := strconv.ParseBool(os.Getenv("BENCH_FULL"))
	return v
}

// scale returns big under BENCH_FULL=1, else small.
func scale(big, small int) int {
	if full() {
		return big
	}
	return small
}

// redisAddr is the private redis-server of run.sh or the test command.
func redisAddr(b *testing.B) string {
	return testenv.Require(b, "CACHEKIT_TEST_REDIS_ADDR")
}

// User is the small struct the hit-path scenarios return.
type User struct {
	ID   int    `msgpack:"id"`
	Name string `msgpack:"name"`
}

// loadUser is the wrapped function (a named function: wrappers need a stable
// identity).
func loadUser(_ context.Context, id int) (User, error) { return User{ID: id, Name: "ada"}, nil }

func quiet() cachekit.Option { return cachekit.WithLogger(slog.New(slog.DiscardHandler)) }

// payload returns n bytes, half random and half repetitive (roughly what a
// MessagePack document looks like to LZ4), or all random.
func payload(n int, random bool) []byte {
	rnd := rand.New(rand.NewPCG(7, uint64(n)))
	b := make([]byte, n)
	for i := range b {
		if random || (i/64)%2 == 0 {
			b[i] = byte(rnd.Uint32())
		} else {
			b[i] = byte(i % 7)
		}
	}
	return b
}

// parallel runs body from g goroutines in total (b.RunParallel starts
// parallelism x GOMAXPROCS of them); g == 1 runs it in the benchmark's own
// goroutine.
func parallel(b *testing.B, g int, body func(pb func() bool, worker int)) {
	if g <= 1 {
		body(b.Loop, 0)
		return
	}
	procs := runtime.GOMAXPROCS(0)
	b.SetParallelism((g + procs - 1) / procs)
	var next int64
	var mu = make(chan struct{}, 1)
	b.RunParallel(func(pb *testing.PB) {
		mu <- struct{}{}
		w := int(next)
		next++
		<-mu
		body(pb.Next, w)
	})
}

// cpuPerOp starts measuring the process's CPU time; the function it returns
// reports it per op as cpu-ns/op. On a shared machine wall time includes the
// time other processes held the cores, CPU time does not, so the in-process
// scenarios compare it (it includes the GC and every goroutine). Call it
// right before the timed loop and defer the result.
func cpuPerOp(b *testing.B) func() {
	start := cpuNow()
	return func() {
		if b.N > 0 {
			b.ReportMetric(float64(cpuNow()-start)/float64(b.N), "cpu-ns/op")
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func keyName(i int) string { return "user:" + strconv.Itoa(i) }

var _ = fmt.Sprint

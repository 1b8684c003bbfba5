//go:build unix

package faulttest_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/cachekit-go/cachekit"
	"github.com/cachekit-go/cachekit/backend/redis"
	"github.com/cachekit-go/cachekit/internal/faulttest"
	"github.com/cachekit-go/cachekit/internal/testenv"
)

// The cross-process stampede: 4 OS processes x 50 goroutines miss one key at
// the same moment over one Redis; the function takes 100 ms and counts its
// runs in Redis (INCR). The guarantee: one run in at least 19 of 20 rounds.
const (
	stampedeProcs      = 4
	stampedeGoroutines = 50
	stampedeRounds     = 20
	stampedeWork       = 100 * time.Millisecond
	stampedeMinSingle  = 19

	envStampedeChild = "CACHEKIT_FAULTTEST_STAMPEDE_REDIS" // set: this process is a child
)

func TestMain(m *testing.M) {
	if addr := os.Getenv(envStampedeChild); addr != "" {
		os.Exit(stampedeChild(addr))
	}
	os.Exit(m.Run())
}

func runsKey(round int) string { return "faulttest:stampede:runs:" + strconv.Itoa(round) }

// stampedeChild is one process of the stampede. It reads "go <unix nanos>
// <round>" lines on stdin, starts its goroutines at that instant, and answers
// "done <round> <errors> <wrong> <max latency ns> <lock fallbacks so far>"
// (a fallback is a process that ran the function without the lock: the
// lock operation failed or its wait for the holder ran out).
func stampedeChild(addr string) int {
	fail := func(err error) int { fmt.Fprintln(os.Stderr, "stampede child:", err); return 1 }
	rdb, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true})
	if err != nil {
		return fail(err)
	}
	defer rdb.Close()
	b, err := redis.New(redis.Options{Addrs: []string{addr}})
	if err != nil {
		return fail(err)
	}
	defer b.Close()
	c, err := cachekit.New(cachekit.WithBackend(b), cachekit.WithTTL(time.Hour))
	if err != nil {
		return fail(err)
	}
	defer c.Close()
	f, err := cachekit.Wrap1(c, func(ctx context.Context, round int) (string, error) {
		if err := rdb.Do(context.Background(), rdb.B().Incr().Key(runsKey(round)).Build()).Error(); err != nil {
			return "", err
		}
		time.Sleep(stampedeWork)
		return faulttest.Value(round), nil
	}, cachekit.Name("faulttest/stampede"))
	if err != nil {
		return fail(err)
	}
	fmt.Println("ready")
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		var at int64
		var round int
		if _, err := fmt.Sscanf(in.Text(), "go %d %d", &at, &round); err != nil {
			return fail(err)
		}
		time.Sleep(time.Until(time.Unix(0, at)))
		var errs, wrong atomic.Int64
		var maxLat atomic.Int64
		var wg sync.WaitGroup
		for range stampedeGoroutines {
			wg.Add(1)
			go func() {
				defer wg.Done()
				t0 := time.Now()
				v, err := f.Call(context.Background(), round)
				d := int64(time.Since(t0))
				for {
					if m := maxLat.Load(); d <= m || maxLat.CompareAndSwap(m, d) {
						break
					}
				}
				switch {
				case err != nil:
					errs.Add(1)
				case v != faulttest.Value(round):
					wrong.Add(1)
				}
			}()
		}
		wg.Wait()
		fmt.Printf("done %d %d %d %d %d\n", round, errs.Load(), wrong.Load(), maxLat.Load(), c.Info().Resilience.LockFallbacks)
	}
	return 0
}

type child struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
}

func TestStampedeAcrossProcesses(t *testing.T) {
	s := startRedis(t)
	children := make([]*child, stampedeProcs)
	for i := range children {
		c := testenv.StartChild(t, envStampedeChild+"="+s.Addr())
		children[i] = &child{cmd: c.Cmd, in: c.In, out: c.Out}
	}
	readLine := func(ch *child) string {
		t.Helper()
		if !ch.out.Scan() {
			t.Fatalf("a stampede process ended early: %v", ch.out.Err())
		}
		return ch.out.Text()
	}
	for _, ch := range children {
		if l := readLine(ch); l != "ready" {
			t.Fatalf("stampede process said %q, want ready", l)
		}
	}
	rdb, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{s.Addr()}, DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()

	hist := map[int64]int{} // runs per round -> rounds
	single := 0
	var maxLat time.Duration
	var rows strings.Builder
	fallbacks := make([]int64, len(children)) // per process, cumulative
	for round := range stampedeRounds {
		at := time.Now().Add(50 * time.Millisecond).UnixNano()
		for _, ch := range children {
			fmt.Fprintf(ch.in, "go %d %d\n", at, round)
		}
		var roundMax time.Duration
		for i, ch := range children {
			var r, errs, wrong, lat int64
			if _, err := fmt.Sscanf(readLine(ch), "done %d %d %d %d %d", &r, &errs, &wrong, &lat, &fallbacks[i]); err != nil || r != int64(round) {
				t.Fatalf("round %d: bad answer (%v)", round, err)
			}
			if errs > 0 || wrong > 0 {
				t.Errorf("round %d: %d errors, %d wrong values in one process", round, errs, wrong)
			}
			roundMax = max(roundMax, time.Duration(lat))
		}
		runs, err := rdb.Do(context.Background(), rdb.B().Get().Key(runsKey(round)).Build()).AsInt64()
		if err != nil {
			t.Fatalf("round %d: reading the run count: %v", round, err)
		}
		hist[runs]++
		if runs == 1 {
			single++
		}
		maxLat = max(maxLat, roundMax)
		fmt.Fprintf(&rows, "%d:%d ", round, runs)
	}
	var dist []string
	for n := int64(0); n <= stampedeProcs*stampedeGoroutines; n++ {
		if hist[n] > 0 {
			dist = append(dist, fmt.Sprintf("%d run(s): %d rounds", n, hist[n]))
		}
	}
	var fb int64
	for _, n := range fallbacks {
		fb += n
	}
	t.Logf("stampede, %d processes x %d goroutines, %v function, %d rounds: one run in %d rounds (%s); slowest call %v; %d lock fallbacks; runs per round %s",
		stampedeProcs, stampedeGoroutines, stampedeWork, stampedeRounds, single, strings.Join(dist, ", "), maxLat, fb, rows.String())
	appendReport(t, fmt.Sprintf("| redis stampede | %d processes x %d goroutines, one key, %v function | one run in %d of %d rounds (%s); %d lock fallbacks | slowest call %v |\n",
		stampedeProcs, stampedeGoroutines, stampedeWork, single, stampedeRounds, strings.Join(dist, ", "), fb, maxLat.Round(time.Millisecond)))
	if single < stampedeMinSingle {
		t.Errorf("the function ran once in only %d of %d rounds, want at least %d", single, stampedeRounds, stampedeMinSingle)
	}
	for _, ch := range children {
		ch.in.Close()
		if err := ch.cmd.Wait(); err != nil {
			t.Errorf("stampede process: %v", err)
		}
	}
}

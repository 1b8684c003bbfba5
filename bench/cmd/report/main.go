// Command report runs the benchmark suite of this module in interleaved
// rounds and writes BENCHMARKS.md and one PNG chart per scenario. run.sh
// calls it after starting a private redis-server; see BENCHMARKS.md for what
// each scenario measures.
//
//	go run ./cmd/report -rounds 5 -out .
//	go run ./cmd/report -parse results.txt -out .   (re-render saved output)
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

func main() {
	rounds := flag.Int("rounds", 5, "interleaved rounds (every scenario once per round)")
	out := flag.String("out", ".", "directory for BENCHMARKS.md and charts/")
	parse := flag.String("parse", "", "render from saved `go test -bench` output instead of running")
	only := flag.String("only", "", "regexp: run only the scenarios whose benchmark name matches")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("[bench] ")

	var raw []byte
	if *parse != "" {
		var err error
		if raw, err = os.ReadFile(*parse); err != nil {
			log.Fatal(err)
		}
	} else {
		raw = run(*rounds, *only, *out)
	}
	res := parseOutput(raw)
	if err := os.MkdirAll(filepath.Join(*out, "charts"), 0o755); err != nil {
		log.Fatal(err)
	}
	md := render(res, *out)
	if err := os.WriteFile(filepath.Join(*out, "BENCHMARKS.md"), md, 0o644); err != nil {
		log.Fatal(err)
	}
	log.Printf("wrote %s", filepath.Join(*out, "BENCHMARKS.md"))
}

// run builds the test binary once and runs every scenario once per round,
// so every implementation of a scenario is measured in every round, next to
// the others. The raw output is kept in out/results.txt.
func run(rounds int, only, out string) []byte {
	bin := filepath.Join(os.TempDir(), fmt.Sprintf("cachekit-bench-%d.test", os.Getpid()))
	build := exec.Command("go", "test", "-c", "-o", bin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		log.Fatalf("building the benchmarks: %v", err)
	}
	defer os.Remove(bin)
	var all bytes.Buffer
	fmt.Fprintf(&all, "# started %s\n", time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(&all, "# load-start %s\n", loadAverage())
	var filter *regexp.Regexp
	if only != "" {
		filter = regexp.MustCompile(only)
	}
	for r := 1; r <= rounds; r++ {
		for _, s := range scenarios {
			if (filter != nil && !filter.MatchString(s.bench)) || (s.once && r > 1) {
				continue
			}
			log.Printf("round %d/%d: %s", r, rounds, s.bench)
			cmd := exec.Command(bin, "-test.run", "^$", "-test.bench", "^"+s.bench+"$",
				"-test.benchtime", s.benchtime, "-test.benchmem", "-test.timeout", "30m")
			cmd.Env = append(os.Environ(), "BENCH_FULL=1")
			var buf bytes.Buffer
			cmd.Stdout, cmd.Stderr = io.MultiWriter(&buf, os.Stderr), os.Stderr
			if err := cmd.Run(); err != nil {
				log.Fatalf("%s: %v", s.bench, err)
			}
			fmt.Fprintf(&all, "# round %d\n", r)
			all.Write(buf.Bytes())
		}
	}
	fmt.Fprintf(&all, "# finished %s\n", time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(&all, "# load-end %s\n", loadAverage())
	if err := os.WriteFile(filepath.Join(out, "results.txt"), all.Bytes(), 0o644); err != nil {
		log.Fatal(err)
	}
	return all.Bytes()
}

// results: benchmark function -> case -> implementation -> unit -> one
// value per round.
type results struct {
	data    map[string]map[string]map[string]map[string][]float64
	cases   map[string][]string // benchmark -> cases in the order they ran
	impls   map[string][]string // benchmark -> implementations in the order they ran
	header  []string            // goos, goarch, cpu lines
	started string
	done    string
	load    []string // the 1-minute load average at the start and the end ("" unknown)
	rounds  int
}

var benchLine = regexp.MustCompile(`^(Benchmark[^/\s]+)/(\S+)/([^/\s]+?)(?:-\d+)?\s+\d+\s+(.*)$`)

func parseOutput(raw []byte) *results {
	res := &results{data: map[string]map[string]map[string]map[string][]float64{},
		cases: map[string][]string{}, impls: map[string][]string{}}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "# started "):
			res.started = strings.TrimPrefix(line, "# started ")
		case strings.HasPrefix(line, "# finished "):
			res.done = strings.TrimPrefix(line, "# finished ")
		case strings.HasPrefix(line, "# load-start "), strings.HasPrefix(line, "# load-end "):
			res.load = append(res.load, strings.Fields(line)[2])
		case strings.HasPrefix(line, "# round "):
			n, _ := strconv.Atoi(strings.TrimPrefix(line, "# round "))
			res.rounds = max(res.rounds, n)
		case strings.HasPrefix(line, "cpu:") || strings.HasPrefix(line, "goos:") || strings.HasPrefix(line, "goarch:"):
			if !slices.Contains(res.header, line) {
				res.header = append(res.header, line)
			}
		}
		m := benchLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		if !slices.Contains(res.cases[m[1]], m[2]) {
			res.cases[m[1]] = append(res.cases[m[1]], m[2])
		}
		if !slices.Contains(res.impls[m[1]], m[3]) {
			res.impls[m[1]] = append(res.impls[m[1]], m[3])
		}
		fields := strings.Fields(m[4])
		for i := 0; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				continue
			}
			byCase := res.data[m[1]]
			if byCase == nil {
				byCase = map[string]map[string]map[string][]float64{}
				res.data[m[1]] = byCase
			}
			byImpl := byCase[m[2]]
			if byImpl == nil {
				byImpl = map[string]map[string][]float64{}
				byCase[m[2]] = byImpl
			}
			units := byImpl[m[3]]
			if units == nil {
				units = map[string][]float64{}
				byImpl[m[3]] = units
			}
			units[fields[i+1]] = append(units[fields[i+1]], v)
		}
	}
	if res.rounds == 0 {
		res.rounds = 1
	}
	return res
}

// median returns the median of vs and the spread: the largest distance of
// a round from the median, relative to it.
func median(vs []float64) (med, spread float64) {
	if len(vs) == 0 {
		return 0, 0
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	if n := len(s); n%2 == 1 {
		med = s[n/2]
	} else {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	if med != 0 {
		spread = max(med-s[0], s[len(s)-1]-med) / med
	}
	return med, spread
}

func goVersion() string { return runtime.Version() }

// loadAverage returns the machine's 1-minute load average (Linux), or "?"
// where it cannot be read: BENCHMARKS.md states it, as it explains noise.
func loadAverage() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(raw)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "?"
}

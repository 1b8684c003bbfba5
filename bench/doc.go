// Package bench is cachekit-go's side-by-side benchmark suite: the scenarios
// of BENCHMARKS.md, each run for cachekit and for the Go caches and clients
// people compare it with (otter, sturdyc, go-redis/cache, ristretto, raw
// rueidis and go-redis as the limit), on the same data and the same private
// redis-server.
//
// It is its own module so that the peers never enter the SDK's go.mod.
//
//	make bench          (or bench/run.sh) runs every scenario in interleaved
//	                    rounds and writes BENCHMARKS.md and charts/*.png
//	go test ./...       runs every benchmark once (-benchtime=1x) at small
//	                    sizes, so that the suite never rots; the test command
//	                    (scripts/test.sh) does this with its private Redis
//
// Benchmarks are named Benchmark<Scenario>/<case>/<implementation>; the report
// program (cmd/report) groups them by that name. Sizes are small unless
// BENCH_FULL=1 (set by run.sh), so the test command stays fast. Nothing here
// asserts a time.
package bench

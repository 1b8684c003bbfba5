//go:build race

package faulttest_test

// raceEnabled: the race detector slows code 5-10x, so the latency and
// throughput bounds of the guarantee cannot be asserted; scripts/test.sh runs
// this package once more without -race.
const raceEnabled = true

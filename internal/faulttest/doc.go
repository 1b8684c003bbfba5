// Package faulttest is the fault-injection suite of the cache (issue 18): it
// proves, against real servers and real processes, that a cached call is
// never slower or less available than the function alone while a backend is
// killed, hung, blackholed, slow or resetting connections, and that backend
// hits resume soon after the fault is gone.
//
// The package holds the workload driver (Run) and its report; the scenarios
// are its tests (faulttest_test.go). A run wraps a deterministic function
// (Value, a 1 ms sleep) once per Variant (L1 on and off, callers with and
// without a 500 ms deadline), warms the backend, then calls it from tens of
// goroutines over thousands of keys through three phases: before the fault,
// during it and after it. Every returned value is checked. Per phase it
// records calls, errors returned to callers, wrong values, p50/p99/max call
// latency, throughput, function runs, backend (L2) hits and log records; per
// run the time from recovery to the first backend hit, and the goroutines
// and heap before, at the peak of and after the fault.
//
// The servers are private processes the tests start themselves
// (internal/testenv/serverproc, internal/testenv/cachekitdtest), so they can
// be SIGKILLed and restarted or SIGSTOPped and SIGCONTed without touching the
// shared test servers; blackholes, resets and latency come from a TCP proxy
// in front of them (internal/testenv/faultproxy). The suite uses only the
// public API of cachekit and its backends.
//
// # Running
//
//	go test ./internal/faulttest/                   the short run the test command does (a few seconds per scenario)
//	go test -v ./internal/faulttest/                the same, printing the per-phase tables
//	CACHEKIT_SOAK=1 go test -v -timeout 30m ./internal/faulttest/
//	                                                 the soak: 5 s before, 10 s of fault, 10 s after
//	CACHEKIT_FAULT_REPORT=FILE go test ...           also appends the summary rows (Markdown) to FILE
//
// redis-server, memcached and the cachekitd binary (CACHEKIT_TEST_CACHEKITD_BIN,
// built by scripts/test.sh) must be available: without them the tests skip,
// and under CI=true they fail.
package faulttest

// Package resilience holds the mechanisms that keep a cache from making a
// service worse than no cache when its shared backend is down, hung or slow:
// a circuit breaker per backend (Breaker), a bound on concurrent work
// (Bound), a bounded write-behind queue (Queue) and rate-limited failure
// logging (FailureLog). The cache core wires them in; nothing here knows
// about keys, values or backends.
//
// The breaker is a small state machine of our own rather than
// github.com/sony/gobreaker/v2 (v2.4.0, whose go directive 1.22 would allow
// it). gobreaker's semantics fit (consecutive-failure trip, half-open with a
// bounded number of requests, a two-step Allow/done form), but three things
// do not: it reads time.Now directly, so its open interval cannot be driven
// by a fake clock in unit tests; it cannot start open or be tripped from
// outside (the cache trips it when the backend is unreachable at start);
// and every Allow takes a mutex even when closed, which every backend
// operation of a busy cache would contend on. The closed path here is one
// atomic load; the mutex is taken only on transitions and in half-open.
// It also spares the module a dependency.
package resilience

// Package cachekitprom exports a cachekit.Cache's metrics to Prometheus.
//
// A Collector is both a cachekit.Observer (it counts calls and backend
// operations as they happen, with latency histograms) and a
// prometheus.Collector (at each scrape it also reads the cache's Info: the
// in-process tier, the circuit breaker, the write-behind queue,
// backpressure, stampede locks, refreshes, encryption). Metric names follow
// Prometheus conventions under cachekit_; labels carry a wrapper's identity
// (bounded: one per wrapped function), a result, a backend kind and an
// operation, never a key, an argument or a value.
//
//	m := cachekitprom.New()
//	c, err := cachekit.New(cachekit.WithObserver(m), cachekit.WithBackend(rdb))
//	m.Watch(c)
//	prometheus.MustRegister(m)
//
// docs/observability.md lists every metric and what it tells an operator.
package cachekitprom

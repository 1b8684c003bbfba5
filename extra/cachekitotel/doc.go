// Package cachekitotel traces a cachekit.Cache and exports its metrics
// through the OpenTelemetry API.
//
// An Observer is a cachekit.Observer: each cached call becomes a span named
// "cachekit <function>" with the attributes cachekit.function,
// cachekit.result, cachekit.hit and cachekit.layer (l1, l2 or none), and
// each backend operation a span "cachekit.backend <op>" with
// cachekit.backend, cachekit.op and cachekit.outcome; both hang under the
// span in the caller's context (backend spans are siblings of the call
// span, which is recorded when the call ends). The same metrics as the
// cachekitprom module are recorded through the OTel metrics API: counters
// and histograms from the events, observable instruments that read the
// cache's Info (Watch). No attribute carries a key, an argument or a value.
//
//	o, err := cachekitotel.New(cachekitotel.Options{})
//	c, err := cachekit.New(cachekit.WithObserver(o), cachekit.WithBackend(rdb))
//	err = o.Watch(c)
//
// docs/observability.md lists every metric and what it tells an operator.
package cachekitotel

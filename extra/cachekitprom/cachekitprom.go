package cachekitprom

import (
	"strconv"
	"sync/atomic"

	"github.com/cachekit-go/cachekit"
	"github.com/prometheus/client_golang/prometheus"
)

// Namespace prefixes every metric name.
const Namespace = "cachekit"

// DefaultCallBuckets are the call-latency histogram buckets, in seconds:
// from an L1 hit (about a microsecond) to a slow function (10 s).
var DefaultCallBuckets = []float64{1e-6, 5e-6, 25e-6, 100e-6, 500e-6, .001, .005, .025, .1, .5, 1, 2.5, 10}

// DefaultBackendBuckets are the backend-latency histogram buckets, in
// seconds: from a local Redis round trip to a backend timeout.
var DefaultBackendBuckets = []float64{50e-6, 100e-6, 250e-6, 500e-6, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}

// Options configure a Collector; the zero value is ready to use.
type Options struct {
	// CallBuckets and BackendBuckets override the histogram buckets.
	CallBuckets, BackendBuckets []float64
	// ConstLabels are added to every metric (to tell caches apart when a
	// process has several: {"cache": "users"}).
	ConstLabels prometheus.Labels
}

// Collector is a cachekit.Observer and a prometheus.Collector: pass it to
// cachekit.WithObserver, then Watch the cache it observes, then register
// it. It is safe for concurrent use.
type Collector struct {
	calls       *prometheus.CounterVec
	callSecs    *prometheus.HistogramVec
	backendOps  *prometheus.CounterVec
	backendSecs *prometheus.HistogramVec
	cache       atomic.Pointer[cachekit.Cache]
	info        []infoMetric
	labeled     []labeledInfoMetric
}

var _ cachekit.Observer = (*Collector)(nil)

// New returns a Collector (without a cache to watch yet: see Watch).
func New(opts ...Options) *Collector {
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.CallBuckets == nil {
		o.CallBuckets = DefaultCallBuckets
	}
	if o.BackendBuckets == nil {
		o.BackendBuckets = DefaultBackendBuckets
	}
	cl := o.ConstLabels
	c := &Collector{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "calls_total", ConstLabels: cl,
			Help: "Cached calls by function and result (l1_hit, l2_hit, stale_hit, miss, coalesced, bypass, error).",
		}, []string{"function", "result"}),
		callSecs: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "call_duration_seconds", ConstLabels: cl, Buckets: o.CallBuckets,
			Help: "Time the cache took to answer a call, by function and result (a miss includes the function).",
		}, []string{"function", "result"}),
		backendOps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "backend_operations_total", ConstLabels: cl,
			Help: "Backend operations by backend, operation and outcome (ok, error, timeout, skipped).",
		}, []string{"backend", "op", "outcome"}),
		backendSecs: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "backend_operation_duration_seconds", ConstLabels: cl, Buckets: o.BackendBuckets,
			Help: "Latency of backend operations that were made (not skipped), by backend and operation.",
		}, []string{"backend", "op"}),
	}
	c.info = infoMetrics(cl)
	c.labeled = labeledInfoMetrics(cl)
	return c
}

// Watch sets the cache whose Info the Collector reads at each scrape (the
// cache it observes). Before Watch only the call and backend metrics are
// exported.
func (c *Collector) Watch(cache *cachekit.Cache) { c.cache.Store(cache) }

// ObserveCall implements cachekit.Observer.
func (c *Collector) ObserveCall(e cachekit.CallEvent) {
	r := e.Result.String()
	c.calls.WithLabelValues(e.Function, r).Inc()
	if e.Result != cachekit.CallBypass {
		c.callSecs.WithLabelValues(e.Function, r).Observe(e.Duration.Seconds())
	}
}

// ObserveBackend implements cachekit.Observer.
func (c *Collector) ObserveBackend(e cachekit.BackendEvent) {
	c.backendOps.WithLabelValues(e.Backend, e.Op, e.Outcome.String()).Inc()
	if e.Outcome != cachekit.BackendSkipped {
		c.backendSecs.WithLabelValues(e.Backend, e.Op).Observe(e.Duration.Seconds())
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	c.calls.Describe(ch)
	c.callSecs.Describe(ch)
	c.backendOps.Describe(ch)
	c.backendSecs.Describe(ch)
	for _, m := range c.info {
		ch <- m.desc
	}
	for _, m := range c.labeled {
		ch <- m.desc
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.calls.Collect(ch)
	c.callSecs.Collect(ch)
	c.backendOps.Collect(ch)
	c.backendSecs.Collect(ch)
	cache := c.cache.Load()
	if cache == nil {
		return
	}
	i := cache.Info()
	for _, m := range c.info {
		ch <- prometheus.MustNewConstMetric(m.desc, m.kind, m.value(&i))
	}
	for _, m := range c.labeled {
		for _, lv := range m.values(&i) {
			ch <- prometheus.MustNewConstMetric(m.desc, m.kind, lv.v, lv.label)
		}
	}
}

// infoMetric is one metric read from Info at scrape time.
type infoMetric struct {
	desc  *prometheus.Desc
	kind  prometheus.ValueType
	value func(*cachekit.Info) float64
}

func infoMetrics(cl prometheus.Labels) []infoMetric {
	counter := func(name, help string, v func(*cachekit.Info) uint64) infoMetric {
		return infoMetric{
			desc:  prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", name), help, nil, cl),
			kind:  prometheus.CounterValue,
			value: func(i *cachekit.Info) float64 { return float64(v(i)) },
		}
	}
	gauge := func(name, help string, v func(*cachekit.Info) float64) infoMetric {
		return infoMetric{
			desc:  prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", name), help, nil, cl),
			kind:  prometheus.GaugeValue,
			value: v,
		}
	}
	return []infoMetric{
		gauge("l1_bytes", "Bytes held by the in-process tier (L1).", func(i *cachekit.Info) float64 { return float64(i.L1Bytes) }),
		gauge("l1_entries", "Entries held by the in-process tier (L1).", func(i *cachekit.Info) float64 { return float64(i.L1Entries) }),
		counter("l1_evictions_total", "Unexpired L1 entries dropped to make room (a steady rate: L1 is too small).", func(i *cachekit.Info) uint64 { return i.L1Evictions }),
		counter("breaker_transitions_total", "Circuit breaker state changes.", func(i *cachekit.Info) uint64 { return i.Resilience.BreakerTransitions }),
		counter("breaker_opens_total", "Times the circuit breaker opened (the backend was failing).", func(i *cachekit.Info) uint64 { return i.Resilience.BreakerOpens }),
		counter("breaker_skips_total", "Backend operations not made because the breaker was open.", func(i *cachekit.Info) uint64 { return i.Resilience.BreakerSkips }),
		counter("read_budget_timeouts_total", "Backend operations cut by their read budget or timeout (the function ran instead).", func(i *cachekit.Info) uint64 { return i.Resilience.BudgetTimeouts }),
		counter("backpressure_skips_total", "Backend operations skipped and loads run in the caller because too many were in flight.", func(i *cachekit.Info) uint64 { return i.Resilience.BackpressureSkips }),
		counter("write_queue_writes_total", "Backend writes handed to the write-behind queue.", func(i *cachekit.Info) uint64 { return i.Resilience.WritesQueued }),
		counter("write_queue_dropped_total", "Backend writes dropped (queue full, breaker open, Close's deadline): entries that other processes will not see.", func(i *cachekit.Info) uint64 { return i.Resilience.WritesDropped }),
		counter("lock_acquired_total", "Misses that took the cross-process stampede lock.", func(i *cachekit.Info) uint64 { return i.Resilience.LockAcquired }),
		counter("lock_waits_total", "Misses answered by another process's result after waiting on the stampede lock.", func(i *cachekit.Info) uint64 { return i.Resilience.LockWaits }),
		counter("lock_fallbacks_total", "Misses that ran the function without the stampede lock (lock error, or the wait ran out).", func(i *cachekit.Info) uint64 { return i.Resilience.LockFallbacks }),
		counter("refreshes_total", "Completed stale-while-revalidate background refreshes.", func(i *cachekit.Info) uint64 { return i.Refreshes }),
		counter("refresh_errors_total", "Background refreshes whose function failed (the old value kept serving).", func(i *cachekit.Info) uint64 { return i.RefreshErrors }),
		counter("decode_errors_total", "Stored entries that could not be decoded or decrypted.", func(i *cachekit.Info) uint64 { return i.DecodeErrors }),
		counter("encode_errors_total", "Results that could not be serialized (returned, not stored).", func(i *cachekit.Info) uint64 { return i.EncodeErrors }),
		counter("too_large_total", "Results above the maximum value size (returned, not stored).", func(i *cachekit.Info) uint64 { return i.TooLarge }),
		counter("encryptions_total", "Values encrypted.", func(i *cachekit.Info) uint64 { return i.Encryption.Encryptions }),
		counter("invalidations_sent_total", "L1 invalidation messages published to other caches (coherent L1).", func(i *cachekit.Info) uint64 { return i.Coherence.Sent }),
		counter("invalidation_send_errors_total", "L1 invalidation messages that could not be published (other replicas keep their copy up to the fallback TTL).", func(i *cachekit.Info) uint64 { return i.Coherence.SendErrors }),
		counter("invalidations_received_total", "L1 invalidation messages from other caches that were applied.", func(i *cachekit.Info) uint64 { return i.Coherence.Received }),
		counter("invalidations_dropped_total", "L1 invalidation messages ignored as duplicates or out of order.", func(i *cachekit.Info) uint64 { return i.Coherence.Dropped }),
		counter("invalidation_evictions_total", "L1 entries removed by invalidation messages.", func(i *cachekit.Info) uint64 { return i.Coherence.Evicted }),
		counter("coherence_flushes_total", "Whole-L1 flushes after the invalidation channel came back.", func(i *cachekit.Info) uint64 { return i.Coherence.Flushes }),
		counter("coherence_disconnects_total", "Times the invalidation channel went down.", func(i *cachekit.Info) uint64 { return i.Coherence.Disconnects }),
	}
}

// labeledInfoMetric is a metric read from Info with one label.
type labeledInfoMetric struct {
	desc   *prometheus.Desc
	kind   prometheus.ValueType
	values func(*cachekit.Info) []labeledValue
}

type labeledValue struct {
	label string
	v     float64
}

// breakerStates are the values of cachekit_breaker_state's state label.
var breakerStates = []string{"closed", "open", "half-open"}

func labeledInfoMetrics(cl prometheus.Labels) []labeledInfoMetric {
	return []labeledInfoMetric{{
		desc: prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", "breaker_state"),
			"Circuit breaker state: 1 for the current state, 0 for the others (absent without a backend).", []string{"state"}, cl),
		kind: prometheus.GaugeValue,
		values: func(i *cachekit.Info) []labeledValue {
			if i.Resilience.Breaker == "" {
				return nil
			}
			out := make([]labeledValue, len(breakerStates))
			for n, s := range breakerStates {
				out[n] = labeledValue{s, b2f(i.Resilience.Breaker == s)}
			}
			return out
		},
	}, {
		desc: prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", "coherence_state"),
			"L1 invalidation channel: 1 for the current state (up, down), 0 for the other (absent when the channel is off).", []string{"state"}, cl),
		kind: prometheus.GaugeValue,
		values: func(i *cachekit.Info) []labeledValue {
			if i.Coherence.State != "up" && i.Coherence.State != "down" {
				return nil
			}
			return []labeledValue{{"up", b2f(i.Coherence.State == "up")}, {"down", b2f(i.Coherence.State == "down")}}
		},
	}, {
		desc: prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", "decrypt_failures_total"),
			"Encrypted entries rejected, by reason (tamper, wrong_key, plaintext, wrong_tenant, corrupt).", []string{"reason"}, cl),
		kind: prometheus.CounterValue,
		values: func(i *cachekit.Info) []labeledValue {
			if !i.Encryption.Enabled {
				return nil
			}
			f := i.Encryption.Failures
			return []labeledValue{
				{"tamper", float64(f.Tamper)}, {"wrong_key", float64(f.WrongKey)}, {"plaintext", float64(f.Plaintext)},
				{"wrong_tenant", float64(f.WrongTenant)}, {"corrupt", float64(f.Corrupt)},
			}
		},
	}, {
		desc: prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", "key_reads_total"),
			"Successful decryptions by master key: key=\"0\" the current key, \"1\".. the previous keys in the order configured (one that stays flat for a TTL can be retired).", []string{"key"}, cl),
		kind: prometheus.CounterValue,
		values: func(i *cachekit.Info) []labeledValue {
			out := make([]labeledValue, len(i.Encryption.Reads))
			for n, r := range i.Encryption.Reads {
				out[n] = labeledValue{strconv.Itoa(n), float64(r)}
			}
			return out
		},
	}}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

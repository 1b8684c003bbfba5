package cachekitotel

import (
	"context"
	"strconv"

	"github.com/cachekit-go/cachekit"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of the tracer and the meter.
const ScopeName = "github.com/cachekit-go/cachekit/extra/cachekitotel"

// Attribute keys of spans and metrics.
const (
	AttrFunction = attribute.Key("cachekit.function")
	AttrResult   = attribute.Key("cachekit.result")
	AttrHit      = attribute.Key("cachekit.hit")
	AttrLayer    = attribute.Key("cachekit.layer")
	AttrBackend  = attribute.Key("cachekit.backend")
	AttrOp       = attribute.Key("cachekit.op")
	AttrOutcome  = attribute.Key("cachekit.outcome")
)

// Options configure an Observer; the zero value uses the global providers.
type Options struct {
	// TracerProvider and MeterProvider default to otel's global ones.
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	// NoSpans turns tracing off (metrics only).
	NoSpans bool
}

// Observer is a cachekit.Observer recording spans and metrics through the
// OpenTelemetry API. It is safe for concurrent use.
type Observer struct {
	tracer      trace.Tracer
	meter       metric.Meter
	spans       bool
	calls       metric.Int64Counter
	callSecs    metric.Float64Histogram
	backendOps  metric.Int64Counter
	backendSecs metric.Float64Histogram
}

var _ cachekit.Observer = (*Observer)(nil)

// New returns an Observer; pass it to cachekit.WithObserver, then Watch the
// cache.
func New(o Options) (*Observer, error) {
	tp, mp := o.TracerProvider, o.MeterProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	ob := &Observer{tracer: tp.Tracer(ScopeName), meter: mp.Meter(ScopeName), spans: !o.NoSpans}
	var err, e error
	ob.calls, e = ob.meter.Int64Counter("cachekit.calls", metric.WithUnit("{call}"),
		metric.WithDescription("Cached calls by function and result (l1_hit, l2_hit, stale_hit, miss, coalesced, bypass, error)."))
	err = join(err, e)
	ob.callSecs, e = ob.meter.Float64Histogram("cachekit.call.duration", metric.WithUnit("s"),
		metric.WithDescription("Time the cache took to answer a call, by function and result (a miss includes the function)."),
		metric.WithExplicitBucketBoundaries(1e-6, 5e-6, 25e-6, 100e-6, 500e-6, .001, .005, .025, .1, .5, 1, 2.5, 10))
	err = join(err, e)
	ob.backendOps, e = ob.meter.Int64Counter("cachekit.backend.operations", metric.WithUnit("{operation}"),
		metric.WithDescription("Backend operations by backend, operation and outcome (ok, error, timeout, skipped)."))
	err = join(err, e)
	ob.backendSecs, e = ob.meter.Float64Histogram("cachekit.backend.operation.duration", metric.WithUnit("s"),
		metric.WithDescription("Latency of backend operations that were made (not skipped), by backend and operation."),
		metric.WithExplicitBucketBoundaries(50e-6, 100e-6, 250e-6, 500e-6, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5))
	err = join(err, e)
	if err != nil {
		return nil, err
	}
	return ob, nil
}

func join(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// layer is the cachekit.layer attribute of a result: where the answer came
// from.
func layer(r cachekit.CallResult) string {
	switch r {
	case cachekit.CallL1Hit, cachekit.CallStaleHit:
		return "l1"
	case cachekit.CallL2Hit:
		return "l2"
	}
	return "none"
}

// ObserveCall implements cachekit.Observer.
func (o *Observer) ObserveCall(e cachekit.CallEvent) {
	ctx := e.Ctx
	res := e.Result.String()
	attrs := metric.WithAttributes(AttrFunction.String(e.Function), AttrResult.String(res))
	o.calls.Add(ctx, 1, attrs)
	if e.Result != cachekit.CallBypass {
		o.callSecs.Record(ctx, e.Duration.Seconds(), attrs)
	}
	if !o.spans || e.Start.IsZero() {
		return
	}
	_, span := o.tracer.Start(ctx, "cachekit "+e.Function,
		trace.WithTimestamp(e.Start), trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(AttrFunction.String(e.Function), AttrResult.String(res),
			AttrHit.Bool(e.Result.Hit()), AttrLayer.String(layer(e.Result))))
	if e.Result == cachekit.CallError {
		span.SetStatus(codes.Error, "the call failed")
	}
	span.End(trace.WithTimestamp(e.Start.Add(e.Duration)))
}

// ObserveBackend implements cachekit.Observer.
func (o *Observer) ObserveBackend(e cachekit.BackendEvent) {
	ctx := e.Ctx
	out := e.Outcome.String()
	o.backendOps.Add(ctx, 1, metric.WithAttributes(AttrBackend.String(e.Backend), AttrOp.String(e.Op), AttrOutcome.String(out)))
	if e.Outcome == cachekit.BackendSkipped {
		return
	}
	o.backendSecs.Record(ctx, e.Duration.Seconds(), metric.WithAttributes(AttrBackend.String(e.Backend), AttrOp.String(e.Op)))
	if !o.spans {
		return
	}
	_, span := o.tracer.Start(ctx, "cachekit.backend "+e.Op,
		trace.WithTimestamp(e.Start), trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(AttrBackend.String(e.Backend), AttrOp.String(e.Op), AttrOutcome.String(out)))
	if e.Outcome != cachekit.BackendOK {
		span.SetStatus(codes.Error, "backend "+out)
	}
	span.End(trace.WithTimestamp(e.Start.Add(e.Duration)))
}

// infoCounter is an observable counter read from Info.
type infoCounter struct {
	name, unit, desc string
	v                func(*cachekit.Info) uint64
}

var infoCounters = []infoCounter{
	{"cachekit.l1.evictions", "{entry}", "Unexpired L1 entries dropped to make room.", func(i *cachekit.Info) uint64 { return i.L1Evictions }},
	{"cachekit.breaker.transitions", "{transition}", "Circuit breaker state changes.", func(i *cachekit.Info) uint64 { return i.Resilience.BreakerTransitions }},
	{"cachekit.breaker.opens", "{open}", "Times the circuit breaker opened.", func(i *cachekit.Info) uint64 { return i.Resilience.BreakerOpens }},
	{"cachekit.breaker.skips", "{operation}", "Backend operations not made because the breaker was open.", func(i *cachekit.Info) uint64 { return i.Resilience.BreakerSkips }},
	{"cachekit.read_budget.timeouts", "{operation}", "Backend operations cut by their read budget or timeout.", func(i *cachekit.Info) uint64 { return i.Resilience.BudgetTimeouts }},
	{"cachekit.backpressure.skips", "{operation}", "Backend operations skipped and loads run in the caller because too many were in flight.", func(i *cachekit.Info) uint64 { return i.Resilience.BackpressureSkips }},
	{"cachekit.write_queue.writes", "{write}", "Backend writes handed to the write-behind queue.", func(i *cachekit.Info) uint64 { return i.Resilience.WritesQueued }},
	{"cachekit.write_queue.dropped", "{write}", "Backend writes dropped (queue full, breaker open, Close's deadline).", func(i *cachekit.Info) uint64 { return i.Resilience.WritesDropped }},
	{"cachekit.lock.acquired", "{lock}", "Misses that took the cross-process stampede lock.", func(i *cachekit.Info) uint64 { return i.Resilience.LockAcquired }},
	{"cachekit.lock.waits", "{wait}", "Misses answered by another process's result after waiting on the stampede lock.", func(i *cachekit.Info) uint64 { return i.Resilience.LockWaits }},
	{"cachekit.lock.fallbacks", "{miss}", "Misses that ran the function without the stampede lock.", func(i *cachekit.Info) uint64 { return i.Resilience.LockFallbacks }},
	{"cachekit.refreshes", "{refresh}", "Completed stale-while-revalidate background refreshes.", func(i *cachekit.Info) uint64 { return i.Refreshes }},
	{"cachekit.refresh_errors", "{refresh}", "Background refreshes whose function failed.", func(i *cachekit.Info) uint64 { return i.RefreshErrors }},
	{"cachekit.decode_errors", "{entry}", "Stored entries that could not be decoded or decrypted.", func(i *cachekit.Info) uint64 { return i.DecodeErrors }},
	{"cachekit.encode_errors", "{result}", "Results that could not be serialized.", func(i *cachekit.Info) uint64 { return i.EncodeErrors }},
	{"cachekit.too_large", "{result}", "Results above the maximum value size.", func(i *cachekit.Info) uint64 { return i.TooLarge }},
	{"cachekit.encryptions", "{value}", "Values encrypted.", func(i *cachekit.Info) uint64 { return i.Encryption.Encryptions }},
	{"cachekit.invalidations.sent", "{message}", "L1 invalidation messages published to other caches.", func(i *cachekit.Info) uint64 { return i.Coherence.Sent }},
	{"cachekit.invalidations.send_errors", "{message}", "L1 invalidation messages that could not be published.", func(i *cachekit.Info) uint64 { return i.Coherence.SendErrors }},
	{"cachekit.invalidations.received", "{message}", "L1 invalidation messages from other caches that were applied.", func(i *cachekit.Info) uint64 { return i.Coherence.Received }},
	{"cachekit.invalidations.dropped", "{message}", "L1 invalidation messages ignored as duplicates or out of order.", func(i *cachekit.Info) uint64 { return i.Coherence.Dropped }},
	{"cachekit.invalidations.evictions", "{entry}", "L1 entries removed by invalidation messages.", func(i *cachekit.Info) uint64 { return i.Coherence.Evicted }},
	{"cachekit.coherence.flushes", "{flush}", "Whole-L1 flushes after the invalidation channel came back.", func(i *cachekit.Info) uint64 { return i.Coherence.Flushes }},
	{"cachekit.coherence.disconnects", "{disconnect}", "Times the invalidation channel went down.", func(i *cachekit.Info) uint64 { return i.Coherence.Disconnects }},
}

var breakerStates = []string{"closed", "open", "half-open"}

// Watch registers the observable instruments that read cache's Info at
// each collection (L1, breaker, write queue, locks, refreshes,
// encryption, the L1 invalidation channel). Unregister the returned registration to stop.
func (o *Observer) Watch(cache *cachekit.Cache) (metric.Registration, error) {
	var obs []metric.Observable
	counters := make([]metric.Int64ObservableCounter, len(infoCounters))
	for n, ic := range infoCounters {
		c, err := o.meter.Int64ObservableCounter(ic.name, metric.WithUnit(ic.unit), metric.WithDescription(ic.desc))
		if err != nil {
			return nil, err
		}
		counters[n] = c
		obs = append(obs, c)
	}
	l1Bytes, err1 := o.meter.Int64ObservableGauge("cachekit.l1.bytes", metric.WithUnit("By"), metric.WithDescription("Bytes held by the in-process tier (L1)."))
	l1Entries, err2 := o.meter.Int64ObservableGauge("cachekit.l1.entries", metric.WithUnit("{entry}"), metric.WithDescription("Entries held by the in-process tier (L1)."))
	breaker, err3 := o.meter.Int64ObservableGauge("cachekit.breaker.state", metric.WithUnit("1"), metric.WithDescription("Circuit breaker state: 1 for the current state, 0 for the others."))
	decrypt, err4 := o.meter.Int64ObservableCounter("cachekit.decrypt_failures", metric.WithUnit("{entry}"), metric.WithDescription("Encrypted entries rejected, by reason."))
	keyReads, err5 := o.meter.Int64ObservableCounter("cachekit.key_reads", metric.WithUnit("{read}"), metric.WithDescription("Successful decryptions by master key (0: the current key)."))
	coh, err6 := o.meter.Int64ObservableGauge("cachekit.coherence.state", metric.WithUnit("1"), metric.WithDescription("L1 invalidation channel: 1 for the current state (up, down), 0 for the other; absent when the channel is off."))
	for _, err := range []error{err1, err2, err3, err4, err5, err6} {
		if err != nil {
			return nil, err
		}
	}
	obs = append(obs, l1Bytes, l1Entries, breaker, decrypt, keyReads, coh)
	return o.meter.RegisterCallback(func(_ context.Context, ob metric.Observer) error {
		i := cache.Info()
		for n, ic := range infoCounters {
			ob.ObserveInt64(counters[n], int64(ic.v(&i)))
		}
		ob.ObserveInt64(l1Bytes, i.L1Bytes)
		ob.ObserveInt64(l1Entries, int64(i.L1Entries))
		if i.Resilience.Breaker != "" {
			for _, s := range breakerStates {
				v := int64(0)
				if s == i.Resilience.Breaker {
					v = 1
				}
				ob.ObserveInt64(breaker, v, metric.WithAttributes(attribute.String("state", s)))
			}
		}
		if st := i.Coherence.State; st == "up" || st == "down" {
			for _, s := range []string{"up", "down"} {
				v := int64(0)
				if s == st {
					v = 1
				}
				ob.ObserveInt64(coh, v, metric.WithAttributes(attribute.String("state", s)))
			}
		}
		if i.Encryption.Enabled {
			f := i.Encryption.Failures
			for _, r := range []struct {
				reason string
				v      uint64
			}{{"tamper", f.Tamper}, {"wrong_key", f.WrongKey}, {"plaintext", f.Plaintext}, {"wrong_tenant", f.WrongTenant}, {"corrupt", f.Corrupt}} {
				ob.ObserveInt64(decrypt, int64(r.v), metric.WithAttributes(attribute.String("reason", r.reason)))
			}
		}
		for n, r := range i.Encryption.Reads {
			ob.ObserveInt64(keyReads, int64(r), metric.WithAttributes(attribute.String("key", strconv.Itoa(n))))
		}
		return nil
	}, obs...)
}

package cachekitotel_test

import (
	"context"
	"errors"
	"testing"

	"github.com/cachekit-go/cachekit"
	"github.com/cachekit-go/cachekit/backend/backendtest"
	"github.com/cachekit-go/cachekit/backend/memory"
	"github.com/cachekit-go/cachekit/extra/cachekitotel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

func getUser(_ context.Context, id int) (string, error) {
	if id < 0 {
		return "", errors.New("no such user")
	}
	return "user", nil
}

func attrs(kv []attribute.KeyValue) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, a := range kv {
		m[a.Key] = a.Value
	}
	return m
}

func TestSpansAndMetrics(t *testing.T) {
	ctx := context.Background()
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	o, err := cachekitotel.New(cachekitotel.Options{TracerProvider: tp, MeterProvider: mp})
	if err != nil {
		t.Fatal(err)
	}
	c, err := cachekit.New(cachekit.WithObserver(o), cachekit.WithBackend(memory.New(memory.Options{})))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := o.Watch(c); err != nil {
		t.Fatal(err)
	}

	// The calls run under a parent span: the cache's spans hang under it.
	ctx, parent := tp.Tracer("test").Start(ctx, "request")
	users := cachekit.MustWrap1(c, getUser, cachekit.Name("users.get"))
	remote := cachekit.MustWrap1(c, getUser, cachekit.Name("users.remote"), cachekit.L1(false))
	_, _ = users.Call(ctx, 1) // miss
	_, _ = users.Call(ctx, 1) // L1 hit
	_, _ = users.Call(ctx, -1)
	_, _ = remote.Call(ctx, 2)
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	_, _ = remote.Call(ctx, 2) // L2 hit
	parent.End()

	type seen struct {
		result string
		hit    bool
		layer  string
	}
	var calls []seen
	var backendGets int
	for _, s := range spans.GetSpans() {
		a := attrs(s.Attributes)
		switch {
		case s.Name == "request":
			continue
		case s.Parent.SpanID() != parent.SpanContext().SpanID():
			t.Errorf("span %q is not under the caller's span", s.Name)
		}
		switch s.Name {
		case "cachekit users.get", "cachekit users.remote":
			calls = append(calls, seen{a[cachekitotel.AttrResult].AsString(), a[cachekitotel.AttrHit].AsBool(), a[cachekitotel.AttrLayer].AsString()})
			if (a[cachekitotel.AttrResult].AsString() == "error") != (s.Status.Code == codes.Error) {
				t.Errorf("span %q status %v", s.Name, s.Status)
			}
			if !s.EndTime.After(s.StartTime) && !s.EndTime.Equal(s.StartTime) {
				t.Errorf("span %q ends before it starts", s.Name)
			}
		case "cachekit.backend get":
			backendGets++
			if a[cachekitotel.AttrBackend].AsString() != "memory" || a[cachekitotel.AttrOutcome].AsString() != "ok" {
				t.Errorf("backend span attributes %v", a)
			}
		}
	}
	want := []seen{{"miss", false, "none"}, {"l1_hit", true, "l1"}, {"error", false, "none"}, {"miss", false, "none"}, {"l2_hit", true, "l2"}}
	if len(calls) != len(want) {
		t.Fatalf("call spans %v, want %v", calls, want)
	}
	for n := range want {
		if calls[n] != want[n] {
			t.Errorf("call span %d: %v, want %v", n, calls[n], want[n])
		}
	}
	if backendGets < 4 {
		t.Errorf("%d backend get spans", backendGets)
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	var l1Entries int64 = -1
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					key := m.Name
					if v, ok := p.Attributes.Value(cachekitotel.AttrFunction); ok {
						r, _ := p.Attributes.Value(cachekitotel.AttrResult)
						key += " " + v.AsString() + " " + r.AsString()
					}
					got[key] += p.Value
				}
			case metricdata.Gauge[int64]:
				if m.Name == "cachekit.l1.entries" {
					l1Entries = d.DataPoints[0].Value
				}
			}
		}
	}
	for k, v := range map[string]int64{
		"cachekit.calls users.get miss":      1,
		"cachekit.calls users.get l1_hit":    1,
		"cachekit.calls users.get error":     1,
		"cachekit.calls users.remote l2_hit": 1,
		"cachekit.write_queue.writes":        2,
		"cachekit.breaker.opens":             0,
	} {
		if got[k] != v {
			t.Errorf("%s = %d, want %d", k, got[k], v)
		}
	}
	if l1Entries != 1 {
		t.Errorf("cachekit.l1.entries = %d, want 1", l1Entries)
	}
}

// The coherent-L1 counters and state are exported: an invalidation on one
// cache is received and applied by the watched one.
func TestCoherenceMetrics(t *testing.T) {
	ctx := context.Background()
	shared := backendtest.NewLocalBus(memory.New(memory.Options{}))
	a, err := cachekit.New(cachekit.WithBackend(shared))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := cachekit.New(cachekit.WithBackend(shared))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	reader := sdkmetric.NewManualReader()
	o, err := cachekitotel.New(cachekitotel.Options{MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)), NoSpans: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.Watch(b); err != nil {
		t.Fatal(err)
	}
	fa := cachekit.MustWrap1(a, getUser, cachekit.Name("users.get"))
	fb := cachekit.MustWrap1(b, getUser, cachekit.Name("users.get"))
	if _, err := fa.Call(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := fb.Call(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := fa.Invalidate(ctx, 1); err != nil {
		t.Fatal(err)
	}
	info := b.Info().Coherence
	if info.Received == 0 || info.Evicted == 0 {
		t.Fatalf("b applied no invalidation: %+v", info)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	sums := map[string]int64{}
	states := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					sums[m.Name] += p.Value
				}
			case metricdata.Gauge[int64]:
				if m.Name == "cachekit.coherence.state" {
					for _, p := range d.DataPoints {
						s, _ := p.Attributes.Value("state")
						states[s.AsString()] = p.Value
					}
				}
			}
		}
	}
	if sums["cachekit.invalidations.received"] != int64(info.Received) || sums["cachekit.invalidations.evictions"] != int64(info.Evicted) {
		t.Errorf("received %d, evictions %d exported; Info says %+v", sums["cachekit.invalidations.received"], sums["cachekit.invalidations.evictions"], info)
	}
	if states["up"] != 1 || states["down"] != 0 {
		t.Errorf("cachekit.coherence.state = %v, want up=1 down=0", states)
	}
}

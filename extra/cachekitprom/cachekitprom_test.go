package cachekitprom_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/cachekit-go/cachekit"
	"github.com/cachekit-go/cachekit/backend/backendtest"
	"github.com/cachekit-go/cachekit/backend/memory"
	"github.com/cachekit-go/cachekit/extra/cachekitprom"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func getUser(_ context.Context, id int) (string, error) {
	if id < 0 {
		return "", errors.New("no such user")
	}
	return "user", nil
}

// scrape GETs /metrics from a server exporting reg and parses the text
// exposition format.
func scrape(t *testing.T, reg *prometheus.Registry) map[string]*dto.MetricFamily {
	t.Helper()
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	req.Header.Set("Accept", "text/plain")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// value returns the value of the sample of family name whose labels
// include want (a histogram's sample count), and whether there is one.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

func TestScrapedWorkload(t *testing.T) {
	ctx := context.Background()
	m := cachekitprom.New()
	c, err := cachekit.New(cachekit.WithObserver(m), cachekit.WithBackend(memory.New(memory.Options{})))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m.Watch(c)
	reg := prometheus.NewRegistry()
	reg.MustRegister(m)

	users := cachekit.MustWrap1(c, getUser, cachekit.Name("users.get"))
	remote := cachekit.MustWrap1(c, getUser, cachekit.Name("users.remote"), cachekit.L1(false))
	for range 3 {
		_, _ = users.Call(ctx, 1) // miss, then two L1 hits
	}
	_, _ = users.Call(cachekit.Bypass(ctx), 1) // bypass
	_, _ = users.Call(ctx, -1)                 // error
	_, _ = remote.Call(ctx, 2)                 // miss
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	_, _ = remote.Call(ctx, 2) // L2 hit

	fams := scrape(t, reg)
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"cachekit_calls_total", map[string]string{"function": "users.get", "result": "miss"}, 1},
		{"cachekit_calls_total", map[string]string{"function": "users.get", "result": "l1_hit"}, 2},
		{"cachekit_calls_total", map[string]string{"function": "users.get", "result": "bypass"}, 1},
		{"cachekit_calls_total", map[string]string{"function": "users.get", "result": "error"}, 1},
		{"cachekit_calls_total", map[string]string{"function": "users.remote", "result": "miss"}, 1},
		{"cachekit_calls_total", map[string]string{"function": "users.remote", "result": "l2_hit"}, 1},
		{"cachekit_call_duration_seconds", map[string]string{"function": "users.get", "result": "l1_hit"}, 2},
		{"cachekit_call_duration_seconds", map[string]string{"function": "users.remote", "result": "l2_hit"}, 1},
		{"cachekit_l1_entries", nil, 1},
		{"cachekit_breaker_state", map[string]string{"state": "closed"}, 1},
		{"cachekit_breaker_state", map[string]string{"state": "open"}, 0},
		{"cachekit_write_queue_writes_total", nil, 2},
		{"cachekit_write_queue_dropped_total", nil, 0},
	} {
		if got, ok := value(fams, tc.name, tc.labels); !ok || got != tc.want {
			t.Errorf("%s%v = %v (found %v), want %v", tc.name, tc.labels, got, ok, tc.want)
		}
	}
	if _, ok := value(fams, "cachekit_calls_total", map[string]string{"result": "bypass", "function": "users.remote"}); ok {
		t.Error("a series for a result that never happened")
	}
	// Backend reads: the histogram counts the operations made.
	gets, _ := value(fams, "cachekit_backend_operations_total", map[string]string{"backend": "memory", "op": "get", "outcome": "ok"})
	timed, _ := value(fams, "cachekit_backend_operation_duration_seconds", map[string]string{"backend": "memory", "op": "get"})
	if gets < 4 || timed != gets {
		t.Errorf("%v backend gets counted, %v timed; want at least 4, all timed", gets, timed)
	}
	if b, _ := value(fams, "cachekit_l1_bytes", nil); b <= 0 {
		t.Errorf("cachekit_l1_bytes = %v", b)
	}
	// No label carries a key or an argument.
	for name, f := range fams {
		for _, m := range f.Metric {
			for _, l := range m.Label {
				if strings.Contains(l.GetValue(), "args:") || strings.Contains(l.GetValue(), "func:") {
					t.Errorf("%s has label %s=%q", name, l.GetName(), l.GetValue())
				}
			}
		}
	}
}

// exported returns the names of every metric the Collector can export.
func exported(t *testing.T) map[string]bool {
	t.Helper()
	m := cachekitprom.New()
	ch := make(chan *prometheus.Desc, 100)
	m.Describe(ch)
	close(ch)
	names := map[string]bool{}
	for d := range ch {
		// Desc has no accessor for its name; its String form holds it.
		mm := regexp.MustCompile(`fqName: "([^"]+)"`).FindStringSubmatch(d.String())
		if mm == nil {
			t.Fatalf("no name in %s", d)
		}
		names[mm[1]] = true
	}
	if len(names) < 20 {
		t.Fatalf("only %d metrics described: %v", len(names), names)
	}
	return names
}

var metricName = regexp.MustCompile(`\bcachekit_[a-z0-9_]+`)

// The Grafana dashboard uses only metrics the Collector exports (a
// histogram's _bucket, _sum and _count series included).
func TestDashboardMetricsExist(t *testing.T) {
	names := exported(t)
	data, err := os.ReadFile("../../docs/grafana/cachekit-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatal(err)
	}
	used := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			for _, n := range metricName.FindAllString(tg.Expr, -1) {
				used++
				base := n
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					if b, ok := strings.CutSuffix(n, suffix); ok && names[b] {
						base = b
					}
				}
				if !names[base] {
					t.Errorf("panel %q uses %s, which the Collector does not export", p.Title, n)
				}
			}
		}
	}
	if used == 0 {
		t.Fatal("the dashboard names no cachekit metric")
	}
}

// docs/observability.md lists every metric the Collector exports, and no
// other.
func TestDocsListEveryMetric(t *testing.T) {
	names := exported(t)
	data, err := os.ReadFile("../../docs/observability.md")
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `(cachekit_[a-z0-9_]+)` \\|").FindAllStringSubmatch(string(data), -1) {
		listed[m[1]] = true
	}
	for n := range names {
		if !listed[n] {
			t.Errorf("docs/observability.md does not list %s", n)
		}
	}
	for n := range listed {
		if !names[n] {
			t.Errorf("docs/observability.md lists %s, which the Collector does not export", n)
		}
	}
}

// The coherent-L1 counters are exported: an invalidation on one cache is
// sent once and received (and applied) by the other.
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
	m := cachekitprom.New()
	m.Watch(b)
	reg := prometheus.NewRegistry()
	reg.MustRegister(m)

	fa := cachekit.MustWrap1(a, getUser, cachekit.Name("users.get"))
	fb := cachekit.MustWrap1(b, getUser, cachekit.Name("users.get"))
	if _, err := fa.Call(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := fb.Call(ctx, 1); err != nil { // into b's L1
		t.Fatal(err)
	}
	before := b.Info().Coherence
	if err := fa.Invalidate(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	after := b.Info().Coherence
	if after.Received <= before.Received || after.Evicted <= before.Evicted {
		t.Fatalf("b did not apply a's invalidation: %+v -> %+v", before, after)
	}
	fams := scrape(t, reg)
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"cachekit_invalidations_received_total", nil, float64(after.Received)},
		{"cachekit_invalidation_evictions_total", nil, float64(after.Evicted)},
		{"cachekit_invalidations_sent_total", nil, float64(after.Sent)},
		{"cachekit_coherence_disconnects_total", nil, 0},
		{"cachekit_coherence_state", map[string]string{"state": "up"}, 1},
		{"cachekit_coherence_state", map[string]string{"state": "down"}, 0},
	} {
		if got, ok := value(fams, tc.name, tc.labels); !ok || got != tc.want {
			t.Errorf("%s%v = %v (found %v), want %v", tc.name, tc.labels, got, ok, tc.want)
		}
	}
	// Without a channel the state gauge is absent, not "down".
	if _, ok := value(scrape(t, regFor(t)), "cachekit_coherence_state", nil); ok {
		t.Error("cachekit_coherence_state exported for a cache without an invalidation channel")
	}
}

// regFor is a registry with a Collector watching a cache over the plain
// memory backend (no invalidation channel).
func regFor(t *testing.T) *prometheus.Registry {
	t.Helper()
	c, err := cachekit.New(cachekit.WithBackend(memory.New(memory.Options{})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	m := cachekitprom.New()
	m.Watch(c)
	reg := prometheus.NewRegistry()
	reg.MustRegister(m)
	return reg
}

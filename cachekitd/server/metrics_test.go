package server_test

import (
	"bytes"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/cachekit-go/cachekit/cachekitd/server"
)

// TestMetricsExposition parses /metrics with Prometheus's own text parser
// (what a scraper runs) after a known mix of requests, and checks that the
// counters and histograms agree with what was sent.
func TestMetricsExposition(t *testing.T) {
	t.Parallel()
	ts := newServer(t, stores()[0].open(t, storeLimitsNone), func(c *server.Config) {
		c.RateLimit, c.RateBurst = 1, 3
	})
	for range 2 {
		call(t, ts, keyAcme, "PUT", "/v1/cache/m", []byte("v"))
	}
	for range 3 {
		call(t, ts, keyAcme, "GET", "/v1/cache/m", nil) // burst 3: the PUTs and the first GET pass
	}
	call(t, ts, "ck_test_nobody0123456789abcdef", "GET", "/v1/cache/m", nil)
	call(t, ts, keyAcme, "GET", "/nowhere", nil)

	r := call(t, ts, "", "GET", "/metrics", nil)
	if r.status != 200 || r.header.Get("Content-Type") != "text/plain; version=0.0.4; charset=utf-8" {
		t.Fatalf("metrics = %d %q", r.status, r.header.Get("Content-Type"))
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(r.body))
	if err != nil {
		t.Fatalf("the Prometheus parser refuses /metrics: %v\n%s", err, r.body)
	}
	want := map[string]dto.MetricType{
		"cachekitd_requests_total":           dto.MetricType_COUNTER,
		"cachekitd_request_duration_seconds": dto.MetricType_HISTOGRAM,
		"cachekitd_requests_in_flight":       dto.MetricType_GAUGE,
		"cachekitd_auth_failures_total":      dto.MetricType_COUNTER,
		"cachekitd_rate_limited_total":       dto.MetricType_COUNTER,
		"cachekitd_store_errors_total":       dto.MetricType_COUNTER,
		"cachekitd_store_entries":            dto.MetricType_GAUGE,
		"cachekitd_store_bytes":              dto.MetricType_GAUGE,
		"cachekitd_build_info":               dto.MetricType_GAUGE,
		"go_goroutines":                      dto.MetricType_GAUGE,
	}
	for name, typ := range want {
		f, ok := fams[name]
		if !ok {
			t.Errorf("no family %s", name)
			continue
		}
		if f.GetType() != typ || f.GetHelp() == "" {
			t.Errorf("%s: type %v help %q, want %v with help", name, f.GetType(), f.GetHelp(), typ)
		}
	}

	requests := map[[2]string]float64{}
	for _, m := range fams["cachekitd_requests_total"].GetMetric() {
		requests[[2]string{label(m, "op"), label(m, "code")}] = m.GetCounter().GetValue()
	}
	for k, n := range map[[2]string]float64{
		{"put", "200"}: 2, {"get", "200"}: 1, {"get", "429"}: 2, {"get", "401"}: 1, {"other", "404"}: 1,
	} {
		if requests[k] != n {
			t.Errorf("requests_total%v = %v, want %v (all: %v)", k, requests[k], n, requests)
		}
	}
	for _, m := range fams["cachekitd_request_duration_seconds"].GetMetric() {
		h := m.GetHistogram()
		var sent float64
		for k, n := range requests {
			if k[0] == label(m, "op") {
				sent += n
			}
		}
		if float64(h.GetSampleCount()) != sent {
			t.Errorf("duration count for op %s = %d, want %v", label(m, "op"), h.GetSampleCount(), sent)
		}
		prev := uint64(0)
		for _, b := range h.GetBucket() {
			if b.GetCumulativeCount() < prev || b.GetCumulativeCount() > h.GetSampleCount() {
				t.Errorf("op %s: bucket le=%v count %d not cumulative", label(m, "op"), b.GetUpperBound(), b.GetCumulativeCount())
			}
			prev = b.GetCumulativeCount()
		}
	}
	for name, v := range map[string]float64{"cachekitd_auth_failures_total": 1, "cachekitd_rate_limited_total": 2, "cachekitd_store_errors_total": 0, "cachekitd_store_entries": 1} {
		if got := fams[name].GetMetric()[0]; gaugeOrCounter(got) != v {
			t.Errorf("%s = %v, want %v", name, gaugeOrCounter(got), v)
		}
	}
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func gaugeOrCounter(m *dto.Metric) float64 {
	if m.GetGauge() != nil {
		return m.GetGauge().GetValue()
	}
	return m.GetCounter().GetValue()
}

package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/internal/testenv"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// The tests build the service and run it as a user would.
var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "httpservice")
	if err != nil {
		panic(err)
	}
	binPath = filepath.Join(dir, "httpservice")
	build := exec.Command("go", "build", "-o", binPath, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		panic("building the service: " + err.Error())
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// start runs the service with env (on top of an environment without any
// cache configuration) and returns its base URL.
func start(t *testing.T, env ...string) string {
	t.Helper()
	cmd := exec.Command(binPath)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CACHEKIT_") && !strings.HasPrefix(kv, "REDIS_URL=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, append([]string{"ADDR=127.0.0.1:0"}, env...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("the service did not stop cleanly: %v", err)
			}
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			t.Error("the service did not stop within 10 s of SIGINT")
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("no listening line: %v", err)
	}
	url, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	if !ok {
		t.Fatalf("first line %q", line)
	}
	return url
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// sample returns the value of the series of name with labels (a counter or
// gauge), or -1.
func sample(t *testing.T, base, name string, labels map[string]string) float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var out float64 = -1
	f := fams[name]
	if f == nil {
		return out
	}
	for _, m := range f.Metric {
		if matches(m, labels) {
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			}
		}
	}
	return out
}

func matches(m *dto.Metric, labels map[string]string) bool {
	have := map[string]string{}
	for _, l := range m.Label {
		have[l.GetName()] = l.GetValue()
	}
	for k, v := range labels {
		if have[k] != v {
			return false
		}
	}
	return true
}

// exercise calls the cached handler and checks what the operator endpoints
// say afterwards; backend is the expected backend kind.
func exercise(t *testing.T, base, backend string) {
	// An id no earlier run used: a shared Redis may hold older entries.
	id := strconv.FormatInt(time.Now().UnixNano()%1e12+1, 10)
	for range 3 {
		if code, body := get(t, base+"/users/"+id); code != 200 || !strings.Contains(body, `"name":"user-`+id+`"`) {
			t.Fatalf("/users/%s: %d %q", id, code, body)
		}
	}
	if code, _ := get(t, base+"/users/0"); code != 404 {
		t.Fatalf("/users/0: %d", code)
	}
	fn := map[string]string{"function": "users.get"}
	with := func(k, v string) map[string]string {
		m := map[string]string{k: v}
		for a, b := range fn {
			m[a] = b
		}
		return m
	}
	if got := sample(t, base, "cachekit_calls_total", with("result", "miss")); got != 1 {
		t.Errorf("misses %v, want 1", got)
	}
	if got := sample(t, base, "cachekit_calls_total", with("result", "l1_hit")); got != 2 {
		t.Errorf("L1 hits %v, want 2", got)
	}
	if got := sample(t, base, "cachekit_calls_total", with("result", "error")); got != 1 {
		t.Errorf("errors %v, want 1", got)
	}
	if got := sample(t, base, "cachekit_l1_entries", nil); got != 1 {
		t.Errorf("L1 entries %v, want 1", got)
	}
	if backend != "none" {
		if got := sample(t, base, "cachekit_backend_operations_total", map[string]string{"backend": backend, "op": "get", "outcome": "ok"}); got < 2 {
			t.Errorf("backend gets %v, want at least 2", got)
		}
		if got := sample(t, base, "cachekit_breaker_state", map[string]string{"state": "closed"}); got != 1 {
			t.Errorf("breaker closed = %v", got)
		}
	}
	if code, body := get(t, base+"/healthz"); code != 200 || !strings.Contains(body, `"ok"`) {
		t.Errorf("/healthz: %d %q", code, body)
	}
	code, body := get(t, base+"/readyz")
	var ready struct {
		Status, Backend string
		BackendOK       bool `json:"backend_ok"`
	}
	if err := json.Unmarshal([]byte(body), &ready); err != nil || code != 200 || ready.Status != "ok" || ready.Backend != backend || !ready.BackendOK {
		t.Errorf("/readyz: %d %q (%v)", code, body, err)
	}
}

func TestServiceInProcess(t *testing.T) {
	exercise(t, start(t), "none")
}

func TestServiceRedis(t *testing.T) {
	addr := testenv.Require(t, "CACHEKIT_TEST_REDIS_ADDR")
	exercise(t, start(t, "REDIS_URL=redis://"+addr+"/0"), "redis")
}

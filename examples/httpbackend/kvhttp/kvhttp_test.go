package kvhttp_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/backend"
	"github.com/cachekit-go/cachekit/backend/backendtest"
	"github.com/cachekit-go/cachekit/examples/httpbackend/kvhttp"
)

// newPair starts the example service on a real loopback HTTP server and
// returns a backend talking to it.
func newPair(t *testing.T, h http.Handler) *kvhttp.Backend {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	b, err := kvhttp.New(srv.URL, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestConformance(t *testing.T) {
	t.Parallel()
	b := newPair(t, kvhttp.NewServer())
	backendtest.Run(t, func(*testing.T) backend.Backend { return b })
}

func TestEscapeKey(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"user:42": "user%3A42",
		"..":      "%2E%2E",
		"a/b c":   "a%2Fb%20c",
		"A-z_0~":  "A-z_0~",
		"é":       "%C3%A9",
	}
	for in, want := range tests {
		if got := kvhttp.EscapeKey(in); got != want {
			t.Errorf("EscapeKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestStatusClassification(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status int
		kind   backend.Kind
	}{
		{http.StatusBadRequest, backend.Permanent},
		{http.StatusUnauthorized, backend.Authentication},
		{http.StatusForbidden, backend.Authentication},
		{http.StatusRequestTimeout, backend.Transient},
		{http.StatusRequestEntityTooLarge, backend.Permanent},
		{http.StatusTooManyRequests, backend.Transient},
		{http.StatusInternalServerError, backend.Transient},
		{http.StatusServiceUnavailable, backend.Transient},
	}
	for _, tt := range tests {
		// An injected fault: a service that answers every request with one status.
		b := newPair(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(tt.status) }))
		_, _, err := b.Get(context.Background(), "k")
		var be *backend.Error
		if !errors.As(err, &be) || be.Kind != tt.kind || be.Backend != "kvhttp" || be.Op != "get" {
			t.Errorf("HTTP %d: %v, want kind %v", tt.status, err, tt.kind)
		}
		if ok, _ := b.HealthCheck(context.Background()); ok {
			t.Errorf("HTTP %d: HealthCheck reports healthy", tt.status)
		}
	}
}

func TestValueTooLarge(t *testing.T) {
	t.Parallel()
	srv := kvhttp.NewServer()
	srv.MaxValueSize = 10
	b := newPair(t, srv)
	err := b.Set(context.Background(), "k", []byte(strings.Repeat("x", 11)), 0)
	if backend.KindOf(err) != backend.Permanent {
		t.Fatalf("Set over the server's limit: %v, want Permanent (413)", err)
	}
	b.MaxValueSize = 3
	if err := b.Set(context.Background(), "k", []byte("four"), 0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Get(context.Background(), "k"); backend.KindOf(err) != backend.Permanent {
		t.Fatalf("Get over MaxValueSize: %v, want Permanent", err)
	}
}

func TestDeadlineReachesTheNetwork(t *testing.T) {
	t.Parallel()
	// An injected fault: a service that never answers until the test ends.
	stop := make(chan struct{})
	b := newPair(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-stop:
		case <-r.Context().Done():
		}
	}))
	defer close(stop)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, _, err := b.Get(ctx, "k")
	if backend.KindOf(err) != backend.Timeout || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Get against a hung service: %v, want Timeout", err)
	}
}

func TestNewRejectsOtherSchemes(t *testing.T) {
	t.Parallel()
	if _, err := kvhttp.New("ftp://x", nil); err == nil {
		t.Fatal("New accepted an ftp URL")
	}
}

package server_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/cachekitd/server"
	"github.com/cachekit-go/cachekit/cachekitd/store"
)

// stallingStore is the one injected fault here: its Get waits until the
// request's context ends, the way a store call is cut short when the client
// goes away mid-request.
type stallingStore struct {
	store.Store
	entered chan struct{}
}

func (s stallingStore) Get(ctx context.Context, tenant, key string) (store.Entry, bool, error) {
	s.entered <- struct{}{}
	<-ctx.Done()
	return s.Store.Get(ctx, tenant, key)
}

// TestCancelledRequestIsNotAStoreError: a client that gives up while the store
// works is counted and logged as a cancellation (code 499), not as a store
// error or a 503 that would page an operator.
func TestCancelledRequestIsNotAStoreError(t *testing.T) {
	t.Parallel()
	st := stallingStore{Store: stores()[0].open(t, storeLimitsNone), entered: make(chan struct{}, 1)}
	var logs lockedBuffer
	ts := newServer(t, st, func(c *server.Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", ts.URL+"/v1/cache/slow", nil)
	req.Header.Set("Authorization", "Bearer "+keyAcme)
	go func() {
		<-st.entered
		cancel()
	}()
	if _, err := ts.Client().Do(req); !errors.Is(err, context.Canceled) {
		t.Fatalf("request error %v, want context.Canceled", err)
	}
	// The handler counts the cancellation, and the request's status is
	// counted when the handler has returned: wait for both.
	wants := []string{"cachekitd_client_cancellations_total 1", "cachekitd_store_errors_total 0", `cachekitd_requests_total{op="get",code="499"} 1`}
	has := func(body []byte) bool {
		for _, want := range wants {
			if !bytes.Contains(body, []byte(want)) {
				return false
			}
		}
		return true
	}
	var m reply
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if m = call(t, ts, "", "GET", "/metrics", nil); has(m.body) {
			break
		}
	}
	for _, want := range wants {
		if !bytes.Contains(m.body, []byte(want)) {
			t.Errorf("metrics lack %s:\n%s", want, m.body)
		}
	}
	if bytes.Contains(m.body, []byte(`code="503"`)) {
		t.Error("the cancelled request was counted as a 503")
	}
	out := logs.String()
	if strings.Contains(out, "store operation failed") || !strings.Contains(out, "request cancelled by the client") {
		t.Errorf("logs:\n%s", out)
	}
}

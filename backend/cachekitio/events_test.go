package cachekitio

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/backend"
)

// recorder collects what a subscription delivers.
type recorder struct {
	mu     sync.Mutex
	msgs   []backend.Invalidation
	states []backend.LinkState
}

func (r *recorder) msg(m backend.Invalidation) {
	r.mu.Lock()
	r.msgs = append(r.msgs, m)
	r.mu.Unlock()
}
func (r *recorder) state(s backend.LinkState) {
	r.mu.Lock()
	r.states = append(r.states, s)
	r.mu.Unlock()
}

func (r *recorder) wait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		r.mu.Lock()
		ok := cond()
		r.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s within 10s (messages %v, states %v)", what, r.msgs, r.states)
		}
	}
}

func TestSubscribeWithoutStreamIsErrNoStream(t *testing.T) {
	pki := newTestPKI(t, testHost)
	port := startTLSServer(t, pki, http.NotFoundHandler())
	b := newTestBackend(t, pki, port, nil)
	var r recorder
	if _, err := b.SubscribeInvalidations(r.msg, r.state); !errors.Is(err, ErrNoStream) {
		t.Fatalf("subscribing to a server without the stream: %v, want ErrNoStream", err)
	}
}

// A stream that ends is reported down and reopened; an unreadable event is
// reported as a possible gap; the sender header reaches the server.
func TestSubscribeReadsAndReopens(t *testing.T) {
	pki := newTestPKI(t, testHost)
	var mu sync.Mutex
	opened := 0
	var senders []string
	port := startTLSServer(t, pki, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			mu.Lock()
			senders = append(senders, r.Header.Get("X-CacheKit-Sender"))
			mu.Unlock()
			w.WriteHeader(http.StatusOK)
			return
		}
		if r.URL.Path != EventsPath || r.Header.Get("Authorization") != "Bearer "+string(testAPIKey) {
			http.NotFound(w, r)
			return
		}
		mu.Lock()
		opened++
		n := opened
		mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprintf(w, ": hello\n\nid: 1\ndata: {\"s\":\"other\",\"q\":%d,\"k\":[\"a\",\"b\"]}\n\n", n)
		if n == 1 {
			fmt.Fprint(w, "data: not json\n\n")
			return // the stream ends: the client reconnects
		}
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	b := newTestBackend(t, pki, port, nil)
	var r recorder
	stop, err := b.SubscribeInvalidations(r.msg, r.state)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	r.wait(t, "second message", func() bool { return len(r.msgs) == 2 })
	if m := r.msgs[0]; m.Sender != "other" || m.Seq != 1 || len(m.Keys) != 2 || m.Keys[1] != "b" {
		t.Fatalf("first message %+v", m)
	}
	want := []backend.LinkState{backend.LinkUp, backend.LinkReconnected, backend.LinkDown, backend.LinkReconnected}
	r.wait(t, "states", func() bool { return len(r.states) >= len(want) })
	for i, s := range want {
		if r.states[i] != s {
			t.Fatalf("states %v, want %v first", r.states, want)
		}
	}
	ctx := backend.WithInvalidationSender(context.Background(), "cache1")
	if err := b.Set(ctx, "k", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := b.Set(context.Background(), "k", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(senders) != 2 || senders[0] != "cache1" || senders[1] != "" {
		t.Fatalf("X-CacheKit-Sender of the writes: %q", senders)
	}
}

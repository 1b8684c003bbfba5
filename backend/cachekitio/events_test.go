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
	"github.com/cachekit-go/cachekit/backend/backendtest"
)

func TestSubscribeWithoutStreamIsErrNoStream(t *testing.T) {
	pki := newTestPKI(t, testHost)
	port := startTLSServer(t, pki, http.NotFoundHandler())
	b := newTestBackend(t, pki, port, nil)
	var r backendtest.InvalidationRecorder
	if _, err := b.SubscribeInvalidations(r.Message, r.State); !errors.Is(err, ErrNoStream) {
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
	r, stop := record(t, b)
	defer stop()
	r.WaitFor(t, "second message", 10*time.Second, func(m []backend.Invalidation, _ []backend.LinkState) bool { return len(m) == 2 })
	if msgs, _ := r.Snapshot(); msgs[0].Sender != "other" || msgs[0].Seq != 1 || len(msgs[0].Keys) != 2 || msgs[0].Keys[1] != "b" {
		t.Fatalf("first message %+v", msgs[0])
	}
	want := []backend.LinkState{backend.LinkUp, backend.LinkReconnected, backend.LinkDown, backend.LinkReconnected}
	r.WaitFor(t, "states", 10*time.Second, func(_ []backend.Invalidation, s []backend.LinkState) bool { return len(s) >= len(want) })
	_, states := r.Snapshot()
	for i, s := range want {
		if states[i] != s {
			t.Fatalf("states %v, want %v first", states, want)
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

// The stream's q numbers events per server connection: it restarts when a
// stream is reopened and differs between cachekitd replicas. The cache
// ignores a sender's message whose Seq is not above the last one it applied
// from that sender, so the backend must number what it delivers itself:
// a write announced with a lower q after a reconnect is still delivered
// with a higher Seq, and so applied.
func TestSubscribeSeqIncreasesAcrossReconnects(t *testing.T) {
	pki := newTestPKI(t, testHost)
	var mu sync.Mutex
	opened := 0
	port := startTLSServer(t, pki, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		opened++
		n := opened
		mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream")
		if n == 1 {
			fmt.Fprint(w, "id: 7\ndata: {\"s\":\"writer\",\"q\":7,\"k\":[\"a\"]}\n\n")
			return // the stream ends; the next one (another replica, say) starts at 1
		}
		fmt.Fprint(w, "id: 1\ndata: {\"s\":\"writer\",\"q\":1,\"k\":[\"a\"]}\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	b := newTestBackend(t, pki, port, nil)
	r, stop := record(t, b)
	defer stop()
	r.WaitFor(t, "two messages", 10*time.Second, func(m []backend.Invalidation, _ []backend.LinkState) bool { return len(m) == 2 })
	msgs, _ := r.Snapshot()
	if msgs[0].Sender != "writer" || msgs[1].Sender != "writer" || msgs[1].Seq <= msgs[0].Seq {
		t.Fatalf("messages %+v: the second write of the sender must come with a higher Seq", msgs)
	}
}

// record subscribes a recorder to b's invalidation stream.
func record(t *testing.T, b *Backend) (*backendtest.InvalidationRecorder, func()) {
	t.Helper()
	var r backendtest.InvalidationRecorder
	stop, err := b.SubscribeInvalidations(r.Message, r.State)
	if err != nil {
		t.Fatal(err)
	}
	return &r, stop
}

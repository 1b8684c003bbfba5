package cachekit_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"

	"github.com/cachekit-go/cachekit"
)

// resultCounter counts calls by function and result: the core of a metrics
// Observer (cachekitprom and cachekitotel are complete ones).
type resultCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (r *resultCounter) ObserveCall(e cachekit.CallEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n[e.Function+" "+e.Result.String()]++
}

func (r *resultCounter) ObserveBackend(cachekit.BackendEvent) {}

func ExampleWithObserver() {
	obs := &resultCounter{n: map[string]int{}}
	c, _ := cachekit.New(cachekit.WithObserver(obs))
	defer c.Close()
	getUser := cachekit.MustWrap1(c, getUserFromDB, cachekit.Name("users.get"))
	ctx := context.Background()
	for range 3 {
		_, _ = getUser.Call(ctx, 42)
	}
	fmt.Println(obs.n["users.get miss"], "miss,", obs.n["users.get l1_hit"], "L1 hits")
	// Output: 1 miss, 2 L1 hits
}

func ExampleCache_HealthHandler() {
	c, _ := cachekit.New()
	defer c.Close()
	mux := http.NewServeMux()
	h := c.HealthHandler(cachekit.ReadyWhenServing)
	mux.Handle("/healthz", h)
	mux.Handle("/readyz", h)

	srv := httptest.NewServer(mux)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/healthz")
	if err != nil {
		panic(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Print(resp.StatusCode, " ", string(body))
	// Output: 200 {"status":"ok"}
}

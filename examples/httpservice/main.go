// Command httpservice is a small net/http service with a cached handler and
// the endpoints an operator needs: /metrics (Prometheus, through the
// cachekitprom module), /healthz and /readyz (cachekit.Cache.HealthHandler).
//
//	go run .                              # in-process cache (the embedded default)
//	REDIS_URL=redis://localhost:6379 go run .   # L1 in front of Redis
//	curl localhost:8080/users/42          # slow the first time, then cached
//	curl localhost:8080/metrics | grep cachekit_calls_total
//
// ADDR sets the listening address (default :8080). The cache comes from
// cachekit.FromEnv, so every CACHEKIT_* variable applies. The service prints
// "listening on http://HOST:PORT" once it accepts connections.
//
// It is its own module (it requires the Prometheus client through
// cachekitprom) and is never released: its go.mod builds against this
// repository's tree.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/cachekit-go/cachekit"
	"github.com/cachekit-go/cachekit/extra/cachekitprom"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// User is what the cached handler serves.
type User struct {
	ID   int    `json:"id" msgpack:"id"`
	Name string `json:"name" msgpack:"name"`
}

// loadUser stands for a slow database query.
func loadUser(ctx context.Context, id int) (User, error) {
	select {
	case <-time.After(50 * time.Millisecond):
	case <-ctx.Done():
		return User{}, ctx.Err()
	}
	if id <= 0 {
		return User{}, errNotFound
	}
	return User{ID: id, Name: "user-" + strconv.Itoa(id)}, nil
}

var errNotFound = errors.New("no such user")

func main() {
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func run() error {
	metrics := cachekitprom.New()
	c, err := cachekit.FromEnv(cachekit.WithObserver(metrics))
	if err != nil {
		return err
	}
	defer c.Close()
	metrics.Watch(c)
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics)

	getUser, err := cachekit.Wrap1(c, loadUser, cachekit.Name("users.get"), cachekit.TTL(time.Minute))
	if err != nil {
		return err
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /users/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.Atoi(r.PathValue("id"))
		if err != nil {
			http.Error(w, "bad id", http.StatusBadRequest)
			return
		}
		u, err := getUser.Call(r.Context(), id)
		switch {
		case errors.Is(err, errNotFound):
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		case err != nil:
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(u)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	// Ready while the backend is down: the cache serves from L1 and the
	// function (see docs/observability.md for the policy).
	health := c.HealthHandler(cachekit.ReadyWhenServing)
	mux.Handle("GET /healthz", health)
	mux.Handle("GET /readyz", health)

	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = ":8080"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	fmt.Printf("listening on http://%s\n", ln.Addr())
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

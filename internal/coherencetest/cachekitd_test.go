package coherencetest

import (
	"crypto/x509"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/backend"
	"github.com/cachekit-go/cachekit/backend/cachekitio"
	"github.com/cachekit-go/cachekit/internal/testenv"
	"github.com/cachekit-go/cachekit/internal/testenv/cachekitdtest"
)

var restartMu sync.Mutex

func init() {
	newOtherBackend = func(cfg childConfig) (backend.Backend, func(), error) {
		if cfg.Kind != "cachekitd" {
			return nil, nil, fmt.Errorf("unknown backend kind %q", cfg.Kind)
		}
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, nil, fmt.Errorf("no certificate in %s", cfg.CAFile)
		}
		b, err := cachekitio.New(cachekitio.Options{
			APIKey:               cachekitio.Secret(cfg.APIKey),
			URL:                  cfg.URL,
			AllowPrivateNetworks: true,
			RootCAs:              pool,
			Resolver:             cachekitdtest.LoopbackResolver(cachekitdtest.Host),
			Timeout:              5 * time.Second,
		})
		if err != nil {
			return nil, nil, err
		}
		return b, func() { _ = b.Close() }, nil
	}
	addOther = func(t *testing.T, m map[string]childConfig) {
		if os.Getenv(cachekitdtest.EnvBinary) == "" {
			testenv.Missing(t, cachekitdtest.EnvBinary)
			return
		}
		d := cachekitdtest.Start(t, cachekitdtest.Config{})
		restartMu.Lock()
		restart[d.URL()] = d.Restart
		restartMu.Unlock()
		m["cachekitd"] = childConfig{Kind: "cachekitd", URL: d.URL(), APIKey: d.APIKey(), CAFile: d.CAFile()}

		// Two replicas over one Redis: the writer (process 0) talks to the
		// first, every other process to the second, so what they see went
		// through the replicas' relay. Restarts alternate between them.
		addr := os.Getenv("CACHEKIT_TEST_REDIS_ADDR")
		if addr == "" {
			return // deployments() already reported the missing Redis
		}
		pki := cachekitdtest.NewPKI(t, cachekitdtest.Host, "localhost", "127.0.0.1")
		rcfg := cachekitdtest.Config{PKI: pki, Flags: []string{"--store", "redis", "--redis-addrs", addr,
			"--redis-prefix", fmt.Sprintf("cohrep%d-%d", os.Getpid(), time.Now().UnixNano())}}
		a, b := cachekitdtest.Start(t, rcfg), cachekitdtest.Start(t, rcfg)
		var restarts int
		restartMu.Lock()
		restart[a.URL()] = func() {
			restarts++
			if restarts%2 == 1 {
				b.Restart()
			} else {
				a.Restart()
			}
		}
		restartMu.Unlock()
		m["cachekitd-replicas"] = childConfig{Kind: "cachekitd", URL: a.URL(), URLs: []string{a.URL(), b.URL()}, APIKey: a.APIKey(), CAFile: a.CAFile()}
	}
}

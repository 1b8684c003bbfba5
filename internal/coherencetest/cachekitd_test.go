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
	}
}

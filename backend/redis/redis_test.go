package redis_test

import (
	cryptorand "crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/backend"
	"github.com/cachekit-go/cachekit/backend/backendtest"
	"github.com/cachekit-go/cachekit/backend/redis"
	"github.com/cachekit-go/cachekit/internal/testenv"
)

// shared opens one backend per test binary and configuration: the suite
// calls newBackend once per subtest, and connections are cheap to share.
func open(t testing.TB, opts redis.Options) *redis.Backend {
	t.Helper()
	b, err := redis.New(opts)
	if err != nil {
		t.Fatalf("redis.New(%v): %v", opts, err)
	}
	t.Cleanup(b.Close)
	return b
}

// testTimeout replaces DefaultTimeout in tests: the test machine is shared
// and loaded (race detector, parallel packages), and no test is about the
// default bound itself.
const testTimeout = 20 * time.Second

func standaloneOptions(t testing.TB) redis.Options {
	return redis.Options{Addrs: []string{testenv.Require(t, "CACHEKIT_TEST_REDIS_ADDR")}, Timeout: testTimeout}
}

func clusterOptions(t testing.TB) redis.Options {
	addrs := testenv.Require(t, "CACHEKIT_TEST_REDIS_CLUSTER_ADDRS")
	return redis.Options{Addrs: strings.Split(addrs, ","), Mode: redis.ModeCluster, Timeout: testTimeout}
}

func sentinelOptions(t testing.TB) redis.Options {
	addrs := testenv.Require(t, "CACHEKIT_TEST_REDIS_SENTINEL_ADDRS")
	master := testenv.Require(t, "CACHEKIT_TEST_REDIS_SENTINEL_MASTER")
	return redis.Options{Addrs: strings.Split(addrs, ","), MasterName: master, Timeout: testTimeout}
}

func aclOptions(t testing.TB) redis.Options {
	o, err := redis.ParseURL(testenv.Require(t, "CACHEKIT_TEST_REDIS_ACL_URL"))
	if err != nil {
		t.Fatalf("ParseURL(CACHEKIT_TEST_REDIS_ACL_URL): %v", err)
	}
	o.Timeout = testTimeout
	return o
}

func TestConformance(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opts func(t testing.TB) redis.Options
	}{
		{"standalone", standaloneOptions},
		{"acl", aclOptions},
		{"cluster", clusterOptions},
		{"sentinel", sentinelOptions},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := open(t, tc.opts(t))
			backendtest.Run(t, func(t *testing.T) backend.Backend { return b })
		})
	}
}

func TestConformancePrefixAndReferenceLocks(t *testing.T) {
	t.Parallel()
	o := standaloneOptions(t)
	o.KeyPrefix = redis.ReferenceKeyPrefix
	o.ReferenceLockKeys = true
	b := open(t, o)
	backendtest.Run(t, func(t *testing.T) backend.Backend { return b })
}

// randText returns a random string for unique keys.
func randText() string { return cryptorand.Text() }

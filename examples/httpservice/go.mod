module github.com/cachekit-go/cachekit/examples/httpservice

// An example program, never released: it builds against this repository's
// tree (the replace lines), outside go.work; the test command runs it with
// GOWORK=off (docs/releasing.md).

go 1.25.0

require (
	// The SDK (any version: the replace below builds against the tree).
	github.com/cachekit-go/cachekit v0.0.0-20261204233630-165bd0e5612f
	// The Prometheus metrics of the cache.
	github.com/cachekit-go/cachekit/extra/cachekitprom v0.0.0-00010101000000-000000000000
	// The /metrics handler (promhttp), at cachekitprom's version.
	github.com/prometheus/client_golang v1.24.1
)

// Tests only: the text exposition parser the test reads /metrics with.
require (
	github.com/prometheus/client_model v0.6.2
	github.com/prometheus/common v0.70.1
)

require (
	github.com/beorn7/perks v1.0.1 // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/klauspost/cpuid/v2 v2.2.10 // indirect
	github.com/munnerz/goautoneg v0.0.0-20191010083416-a7dc8b61c822 // indirect
	github.com/pierrec/lz4/v4 v4.1.33 // indirect
	github.com/prometheus/procfs v0.21.1 // indirect
	github.com/redis/rueidis v1.0.79 // indirect
	github.com/zeebo/xxh3 v1.1.0 // indirect
	golang.org/x/crypto v0.55.0 // indirect
	golang.org/x/sys v0.47.0 // indirect
	google.golang.org/protobuf v1.36.11 // indirect
)

replace (
	github.com/cachekit-go/cachekit => ../..
	github.com/cachekit-go/cachekit/extra/cachekitprom => ../../extra/cachekitprom
)

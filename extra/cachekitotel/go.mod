module github.com/cachekit-go/cachekit/extra/cachekitotel

// OpenTelemetry spans and metrics for cachekit, in a module of its own so
// that the OpenTelemetry API never enters the SDK's go.mod: only programs
// that import this package download it (the way go-redis keeps extra/).

// The go directive supports the two newest Go releases (1.25 and 1.26).
go 1.25.0

require (
	// The root module at a commit on main (a pseudo-version until the first
	// tag); go.work builds it against the working tree. docs/releasing.md
	// says when to raise it.
	github.com/cachekit-go/cachekit v0.0.0-20261204233630-165bd0e5612f
	// The OpenTelemetry API (tracing and metrics): v1.46.0 is the newest
	// release whose go directive (1.25.0) allows Go 1.25.
	go.opentelemetry.io/otel v1.46.0
	go.opentelemetry.io/otel/metric v1.46.0
	go.opentelemetry.io/otel/trace v1.46.0
)

// Tests only: the SDK's in-memory span exporter (tracetest) and manual
// metric reader, at the API's version.
require (
	go.opentelemetry.io/otel/sdk v1.46.0
	go.opentelemetry.io/otel/sdk/metric v1.46.0
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/go-logr/logr v1.4.4 // indirect
	github.com/go-logr/stdr v1.2.2 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/klauspost/cpuid/v2 v2.2.10 // indirect
	github.com/pierrec/lz4/v4 v4.1.33 // indirect
	github.com/redis/rueidis v1.0.79 // indirect
	github.com/zeebo/xxh3 v1.1.0 // indirect
	go.opentelemetry.io/auto/sdk v1.2.1 // indirect
	golang.org/x/crypto v0.55.0 // indirect
	golang.org/x/sys v0.47.0 // indirect
)

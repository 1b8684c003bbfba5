module github.com/cachekit-go/cachekit/extra/cachekitprom

// Prometheus metrics for cachekit, in a module of its own so that
// prometheus/client_golang never enters the SDK's go.mod: only programs that
// import this package download it (the way go-redis keeps extra/).

// The go directive supports the two newest Go releases (1.25 and 1.26).
go 1.25.0

require (
	// The root module at a commit on main (a pseudo-version until the first
	// tag); go.work builds it against the working tree. docs/releasing.md
	// says when to raise it.
	github.com/cachekit-go/cachekit v0.0.0-20261204233630-165bd0e5612f
	// The Prometheus client: registry, collectors, exposition. v1.24.1 is
	// the newest release whose go directive (1.25.0) allows Go 1.25.
	github.com/prometheus/client_golang v1.24.1
)

// Tests only: the text exposition parser (expfmt) and the metric model it
// parses into, at the versions client_golang v1.24.1 requires.
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

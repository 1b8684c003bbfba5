module github.com/cachekit-go/cachekit/cachekitd

// cachekitd is its own module so that its dependencies never enter the SDK's
// go.mod. The go directive supports the two newest Go releases (1.25 and
// 1.26); every dependency is pinned at a version whose own go directive still
// allows 1.25.
go 1.25.0

// rueidis: the Redis/Valkey store (standalone and Cluster), the same client and
// version the SDK's Redis backend uses. Its go.mod says go 1.25.0.
require github.com/redis/rueidis v1.0.79

// x/sys comes with rueidis (its go.mod says go 1.25.0).
require golang.org/x/sys v0.47.0 // indirect

// Test-only: the metrics test parses /metrics with Prometheus's own text
// parser (expfmt) and reads the parsed families (client_model), which is what
// a scraper does; the server itself writes the exposition by hand. common
// v0.71.0 is the newest whose go.mod says go 1.25.0 (v0.72 needs 1.26).
require (
	github.com/prometheus/client_model v0.6.2 // go 1.22.0
	github.com/prometheus/common v0.71.0
)

// Test-only, with expfmt (protobuf: go 1.23).
require (
	github.com/munnerz/goautoneg v0.0.0-20191010083416-a7dc8b61c822 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)

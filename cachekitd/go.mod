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

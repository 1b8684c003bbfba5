module github.com/cachekit-go/cachekit

// The go directive supports the two newest Go releases (1.25 and 1.26).
// Dependencies are pinned at versions whose own go directive still allows 1.25.
go 1.25.0

require (
	github.com/klauspost/cpuid/v2 v2.2.10 // indirect
	github.com/pierrec/lz4/v4 v4.1.33 // indirect
	github.com/redis/rueidis v1.0.79 // indirect
	github.com/zeebo/xxh3 v1.1.0 // indirect
	golang.org/x/crypto v0.55.0 // indirect
	golang.org/x/sys v0.47.0 // indirect
)

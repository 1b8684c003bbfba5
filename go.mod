module github.com/cachekit-go/cachekit

// The go directive supports the two newest Go releases (1.25 and 1.26).
// Dependencies are pinned at versions whose own go directive still allows 1.25.
go 1.25.0

// Each dependency earns its place:
require (
	// LZ4 block decompression for the ByteStorage envelope (protocol/envelope);
	// compression is our own, to match lz4_flex byte for byte.
	github.com/pierrec/lz4/v4 v4.1.33
	// The Redis client (backend/redis): auto-pipelining, Cluster and Sentinel
	// in one client. Its go directive is 1.25.0.
	github.com/redis/rueidis v1.0.79
	// xxHash3-64, the envelope checksum; no such hash in the standard library.
	github.com/zeebo/xxh3 v1.1.0
	// BLAKE2b for keys (protocol/key, protocol/interop) and file names
	// (backend/file). v0.55.0 is the newest release whose go directive is 1.25.
	golang.org/x/crypto v0.55.0
)

require (
	github.com/klauspost/cpuid/v2 v2.2.10 // indirect
	golang.org/x/sys v0.47.0 // indirect
)

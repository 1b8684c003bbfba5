// The side-by-side benchmark suite: its own module so that the peers it
// measures never enter the SDK's go.mod. It is never published and always
// measures the working tree it sits in (the replace below); keep it out of
// go.work, whose version selection the peers would otherwise join (run.sh
// sets GOWORK=off).
module github.com/cachekit-go/cachekit/bench

// The go directive supports Go 1.25 and 1.26: every dependency is pinned at
// a version whose own go directive allows 1.25.
go 1.25.0

// The SDK, from this working tree.
require github.com/cachekit-go/cachekit v0.0.0

// The peers the issue compares against, each at the newest version whose go
// directive allows 1.25 (go-redis v9.23 needs go 1.26, so v9.22).
require (
	github.com/dgraph-io/ristretto/v2 v2.4.2 // hit-ratio peer (Zipf)
	github.com/go-redis/cache/v9 v9.0.0 // read-through peer, local TinyLFU and Redis
	github.com/maypok86/otter/v2 v2.4.0 // in-process peer: L1 hit floor, Zipf, memory, stampede
	github.com/redis/go-redis/v9 v9.22.0 // raw GET limit, and go-redis/cache's client
	github.com/redis/rueidis v1.0.79 // raw GET/SET limit (the client the SDK's Redis backend uses)
	github.com/viccon/sturdyc v1.1.5 // read-through peer (L1 hit, stampede)
)

// The raw limits of the byte pipeline (the SDK already depends on them).
require (
	github.com/pierrec/lz4/v4 v4.1.33 // raw LZ4 block
	github.com/zeebo/xxh3 v1.1.0 // raw xxHash3-64
	golang.org/x/crypto v0.55.0 // blake2b for the hand-written key
)

// Text in the PNG charts (basicfont); the charts are otherwise image/png.
require golang.org/x/image v0.41.0

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/dustin/go-humanize v1.0.1 // indirect
	github.com/klauspost/compress v1.13.6 // indirect
	github.com/klauspost/cpuid/v2 v2.2.10 // indirect
	github.com/vmihailenco/go-tinylfu v0.2.2 // indirect
	github.com/vmihailenco/msgpack/v5 v5.3.4 // indirect
	github.com/vmihailenco/tagparser/v2 v2.0.0 // indirect
	go.uber.org/atomic v1.12.0 // indirect
	golang.org/x/sync v0.1.0 // indirect
	golang.org/x/sys v0.47.0 // indirect
)

replace github.com/cachekit-go/cachekit => ../

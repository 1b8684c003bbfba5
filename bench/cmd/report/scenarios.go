package main

// scenario is one table and one chart of BENCHMARKS.md: the benchmark it
// reads, the metric compared, the implementation the ratios are taken
// against, and the target for cachekit.
type scenario struct {
	bench string // benchmark function name, e.g. "BenchmarkL1Hit"
	title string
	about string // one paragraph: what is measured
	// metric is the unit compared ("ns/op", "cpu-ns/op", "heap/budget",
	// "extra-ms"). In-process scenarios compare CPU time per op: on a shared
	// machine wall time also counts the time other processes held the cores.
	metric string
	// ratio: "throughput" plots ref/impl time (higher is better, cachekit
	// relative to ref); "value" plots the metric itself (lower is better).
	ratio string
	ref   string // implementation the ratios are relative to ("" for value charts)
	// target is the bar cachekit must reach (throughput ratio vs ref, or the
	// largest value); 0 = none. targetText says it in words.
	target     float64
	targetText string
	// extra metrics shown in the table besides the compared one.
	extra []string
	// benchtime for this scenario's benchmarks in a measurement run.
	benchtime string
	// once: measured in the first round only (a slow, deterministic
	// measurement, not a timing).
	once bool
}

var scenarios = []scenario{
	{
		bench: "BenchmarkL1Hit", title: "L1 hit through a wrapper",
		about:  "One int argument, a small struct result, 1024 distinct arguments all cached. cachekit: `Func1.Call`; otter: a bare `GetIfPresent` with a precomputed key (the floor); sturdyc: `GetOrFetch` with a `Sprintf` key; go-redis/cache: `Get` from its TinyLFU local cache. parallel = 64 goroutines.",
		metric: "cpu-ns/op", ratio: "throughput", ref: "sturdyc", target: 1.0,
		targetText: "at most 1.0x sturdyc's time (bar >= 1.0 vs sturdyc) and at most 2x a bare otter Get (>= 0.5 vs otter), 0 allocs/op",
		extra:      []string{"ns/op"}, benchtime: "300ms",
	},
	{
		bench: "BenchmarkRedisHit", title: "Redis hit, L1 off",
		about:  "A wrapper call answered by Redis (L1 off), 1 KiB and 64 KiB payloads, 1/16/64 goroutines. raw-rueidis and raw-go-redis GET the very bytes cachekit stored (frame + envelope): the limit. raw-rueidis-unpack also does what any reader of those bytes must: LZ4-decompress the block (64 KiB: 41 KB read, 64 KiB out) and xxh3 it (pierrec/lz4, zeebo/xxh3), the floor for a reader that checks the envelope. go-redis/cache reads its own MessagePack entry of the same payload.",
		metric: "ns/op", ratio: "throughput", ref: "raw-rueidis", target: 0.85,
		targetText: "at least 0.85x raw rueidis GET throughput and at least 1.5x go-redis/cache",
		benchtime:  "300ms",
	},
	{
		bench: "BenchmarkRedisMiss", title: "Redis miss + store",
		about:  "A miss that runs the function and stores its 1 KiB result, 16 goroutines, every key new. Limit: raw rueidis GET (nil) + SET. cachekit stores through its write-behind queue; its timed region ends with `Flush`, so every store is included, and dropped/op counts the writes the queue dropped (a run with drops did not store everything and cannot meet the target). cpu-ns/op is this process's CPU time per op, srv-cpu-ns/op redis-server's (INFO cpu): on the 2-core machine their sum is what an op costs when the cores are the limit.",
		metric: "ns/op", ratio: "throughput", ref: "raw-rueidis", target: 0.85,
		targetText: "at least 0.85x raw GET + SET, with no write dropped",
		extra:      []string{"dropped/op", "cpu-ns/op", "srv-cpu-ns/op"}, benchtime: "500ms",
	},
	{
		bench: "BenchmarkSecure", title: "Secure path, 64 KiB",
		about:  "Encrypted entries through the cache API with L1 off over the in-process memory backend (so only the pipeline is measured): MessagePack, envelope, AES-256-GCM bound to tenant and key, frame. read = `Get`; round trip = `Set` + `Get`. Limit: raw LZ4 block + xxh3 + AES-GCM on the same bytes, nothing else (no frame, no key binding), each step returning a fresh slice.",
		metric: "cpu-ns/op", ratio: "throughput", ref: "raw-lz4-xxh3-aesgcm", target: 0.8,
		targetText: "at least 0.8x raw LZ4 + xxh3 + AES-GCM, read and round trip",
		extra:      []string{"ns/op"}, benchtime: "300ms",
	},
	{
		bench: "BenchmarkEnvelope", title: "Envelope encode + decode",
		about:  "`envelope.Pack` + `envelope.Unpack` (LZ4 block compatible with lz4_flex byte for byte, xxHash3-64, MessagePack framing) against pierrec/lz4's block compressor (its hash table reused) + xxh3, both returning fresh output slices as an API must, compressible (half repetitive) and random data.",
		metric: "cpu-ns/op", ratio: "throughput", ref: "raw-lz4-xxh3", target: 0.85,
		targetText: "at least 0.85x raw LZ4 block + xxh3 at every size",
		extra:      []string{"ns/op"}, benchtime: "200ms",
	},
	{
		bench: "BenchmarkZipf", title: "Zipf 1.01 over 1M keys, L1 only",
		about:  "A read-through over one Zipf(1.01) trace on 1M keys, every cache holding the same number of entries (100k; cachekit's byte budget is 100k times its charge per entry). The first pass over the 2M-access trace warms the caches untimed. Time per op includes the misses.",
		metric: "cpu-ns/op", ratio: "throughput", ref: "otter", target: 0.8,
		targetText: "hit ratio at least otter's, throughput at least 0.8x otter's",
		extra:      []string{"hit%", "ns/op"}, benchtime: "1s",
	},
	{
		bench: "BenchmarkL1Memory", title: "L1 heap for its byte budget",
		about:  "Live heap after writing 1M distinct keys into a 64 MiB budget, values of 16 B, 100 B, 1 KiB (a fresh slice each). otter gets the same budget with a weigher charging key + value + 96 B. Measured in the first round only (it is not a timing).",
		metric: "heap/budget", ratio: "value", target: 1.25,
		targetText: "heap within 1.25x of the byte budget",
		extra:      []string{"heapB/entry"}, benchtime: "1x", once: true,
	},
	{
		bench: "BenchmarkKeygen", title: "Key generation",
		about:  "`key.Build` for 1, 3 and 10 arguments against the same MessagePack preimage written by hand, blake2b-256 and hex into the same key shape.",
		metric: "cpu-ns/op", ratio: "throughput", ref: "by-hand", target: 0.8,
		targetText: "at most 1.25x the hand-written key's time (kept from the issue's measurement)",
		extra:      []string{"ns/op"}, benchtime: "200ms",
	},
	{
		bench: "BenchmarkStampede", title: "1000 concurrent misses, 50 ms loader",
		about:  "1000 goroutines miss one key at once; the loader sleeps 50 ms. extra-ms: wall time beyond 50 ms until the last caller has its value; calls/op: loader runs (1 is right).",
		metric: "extra-ms", ratio: "value", target: 0,
		targetText: "one loader call; extra time comparable to otter and sturdyc",
		extra:      []string{"calls/op"}, benchtime: "5x",
	},
}

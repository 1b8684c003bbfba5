package cachekit

import (
	"log/slog"
	"os"
	"time"

	"github.com/cachekit-go/cachekit/backend"
	"github.com/cachekit-go/cachekit/backend/memory"
)

// Presets are the Go form of Python's intents (@cache.minimal, .production,
// .secure, .dev, .test, .io). Each is nothing but an Option that applies a
// documented list of options, so anything it sets can be overridden by an
// option placed after it:
//
//	cachekit.New(cachekit.Production(), cachekit.WithL1Size(10<<20))

// ProductionBackendTimeout is the per-operation backend timeout of the
// Production and IO presets.
const ProductionBackendTimeout = 2 * time.Second

// Minimal is the speed-first preset: integrity off (raw MessagePack in the
// frame, "0s" keys, no LZ4 or checksum), L1 on.
//
//	WithIntegrity(false), WithL1(true)
func Minimal() Option {
	return Options(WithIntegrity(false), WithL1(true))
}

// Production is the reliability preset: integrity on, L1 on, every backend
// operation bounded by ProductionBackendTimeout, shared loads bounded by
// DefaultLoaderTimeout.
//
//	WithIntegrity(true), WithL1(true), WithBackendTimeout(ProductionBackendTimeout),
//	WithLoaderTimeout(DefaultLoaderTimeout)
func Production() Option {
	return Options(WithIntegrity(true), WithL1(true),
		WithBackendTimeout(ProductionBackendTimeout), WithLoaderTimeout(DefaultLoaderTimeout))
}

// Secure is the preset for sensitive data: Production plus required
// encryption (AES-256-GCM before any byte reaches the backend, see
// Encryption) and an L1 that keeps serialized bytes, so each caller decodes
// its own copy instead of sharing one decoded value.
//
// Secure does not carry a key: FromEnv takes it from CACHEKIT_MASTER_KEY,
// or WithEncryption gives it (before or after Secure). Without a key, New
// and FromEnv fail with ErrEncryptionRequired rather than store plaintext.
// Its failure policy is the Python SDK's default: an entry that fails
// decryption is counted, evicted and recomputed; add
// WithEncryption(Encryption{FailClosed: true}) to get errors instead.
// WithoutEncryption after Secure lifts the requirement.
//
//	Production(), WithL1Bytes(true), <encryption required>
func Secure() Option {
	return Options(Production(), WithL1Bytes(true), func(c *config) { c.needEncryption = true })
}

// Dev is the development preset: debug logging to stderr, so every fail-open
// event is visible, and a short default TTL of one minute.
//
//	WithLogger(<debug text logger on stderr>), WithTTL(time.Minute)
func Dev() Option {
	return Options(
		WithLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))),
		WithTTL(time.Minute),
	)
}

// Test is the preset for tests: a fresh in-memory backend (so the full
// serialization path runs without a server), no stale-while-revalidate, no
// refresh jitter, and a discarding logger.
//
//	WithBackend(memory.New(memory.Options{})), WithStaleWhileRevalidate(0),
//	WithLogger(<discard>), <no jitter>
func Test() Option {
	return Options(
		func(c *config) {
			c.backend, c.backendSet, c.backendFactory, c.ownsBackend = memory.New(memory.Options{}), true, nil, true
		},
		WithStaleWhileRevalidate(0),
		WithLogger(slog.New(slog.DiscardHandler)),
		withJitter(0),
	)
}

// IO is the preset for the hosted CacheKit API (cachekit.io): Production with
// the cachekitio backend built from the environment (CACHEKIT_API_KEY,
// CACHEKIT_API_URL, ...). The Cache owns that backend and closes it.
//
//	Production(), <backend from cachekitio.FromEnv>
func IO() Option {
	return Options(Production(), withBackendFactory(func() (backend.Backend, error) {
		return newCachekitIO()
	}))
}

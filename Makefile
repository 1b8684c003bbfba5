# The two commands of the README:
#   go run ./examples/quickstart    the main job, on the embedded default
#   make test                       the whole test suite (installs and starts its servers)
# A focused run starts only the servers named and tests only PKG:
#   SERVICES=redis,memcached make test PKG=./backend/redis
.PHONY: test services
test:
	./scripts/test.sh

# Starts the test servers and keeps them up for development (Ctrl-C stops them).
services:
	SERVICES_ONLY=1 ./scripts/test.sh

# The side-by-side benchmark suite (bench/, its own module): starts a private
# redis-server, runs every scenario in interleaved rounds, writes
# BENCHMARKS.md and bench/charts/*.png.
.PHONY: bench
bench:
	./bench/run.sh

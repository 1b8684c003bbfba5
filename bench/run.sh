#!/usr/bin/env bash
# The benchmark command (`make bench`): starts a private redis-server on a
# free loopback port (no persistence, data only in a temporary directory),
# runs every scenario of the suite in interleaved rounds and writes
# BENCHMARKS.md, bench/charts/*.png and bench/results.txt; stops the server.
#
#   bench/run.sh                   5 rounds of everything (about 10 minutes)
#   bench/run.sh -rounds 1         one quick round
#   bench/run.sh -only 'L1Hit|Zipf' some scenarios (regexp on the benchmark name)
#   bench/run.sh -parse bench/results.txt   re-render from a saved run
set -euo pipefail
# The suite is outside go.work (see bench/go.mod).
export GOWORK=off
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/cachekit-bench.XXXXXX")
export RUN_DIR ROOT
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"
cleanup() { stop_all; rm -rf "$RUN_DIR"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

need_cmd redis-server redis-server
need_cmd redis-cli redis-tools
mkdir -p "$RUN_DIR/redis"
redis_ready() { [ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" = PONG ]; }
spawn_on_port redis redis_ready redis-server --port '{port}' --bind 127.0.0.1 --save "" --appendonly no \
	--dir "$RUN_DIR/redis" --daemonize no --loglevel warning
port=$SPAWNED_PORT
export CACHEKIT_TEST_REDIS_ADDR="127.0.0.1:$port"
log "redis-server $(redis-server --version | awk '{print $3}') on $CACHEKIT_TEST_REDIS_ADDR"

cd "$ROOT/bench"
# BENCHMARKS.md goes to the repository root, charts and raw output to bench/.
go run ./cmd/report -out "$ROOT/bench" "$@"
mv "$ROOT/bench/BENCHMARKS.md" "$ROOT/BENCHMARKS.md"

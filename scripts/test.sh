#!/usr/bin/env bash
# The one test command (`make test`, called by .ci/run): installs what is
# missing, starts private servers on free loopback ports, exports their
# addresses, runs go vet, staticcheck and `go test -race` over every module,
# and stops the servers again.
#
#   scripts/test.sh                  everything
#   scripts/test.sh -run TestFoo     extra flags go to every `go test`
#   SERVICES_ONLY=1 scripts/test.sh  start the servers, print the env file, wait
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
RUN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/cachekit-test.XXXXXX")
export RUN_DIR ROOT
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
cleanup() { stop_all; [ -n "${KEEP_RUN_DIR:-}" ] || rm -rf "$RUN_DIR"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

STATICCHECK_VERSION=v0.8.2 # honnef.co/go/tools; staticcheck 2026.1.x
# The go directives promise the two newest Go releases: every module must also
# build (tests included) with the oldest one. The toolchain comes from the Go
# module proxy; MIN_GO_TOOLCHAIN= (empty) skips the check.
MIN_GO_TOOLCHAIN=${MIN_GO_TOOLCHAIN-go1.25.7}

SERVICES=()
# shellcheck disable=SC1090
for f in scripts/services/*.sh; do [ -e "$f" ] && source "$f"; done
for s in "${SERVICES[@]}"; do
	log "starting $s"
	"start_$s"
done

if [ -n "${SERVICES_ONLY:-}" ]; then
	log "servers up; source $RUN_DIR/env in another shell; Ctrl-C stops them"
	cat "$RUN_DIR/env"
	while true; do sleep 3600; done
fi

mapfile -t MODULES < <(find . -name go.mod -not -path './.cache/*' -printf '%h\n' | sort)
log "modules: ${MODULES[*]}"

fail=0
for m in "${MODULES[@]}"; do
	log "== $m: gofmt, vet, staticcheck, vet with $MIN_GO_TOOLCHAIN"
	unformatted=$(cd "$m" && gofmt -l . | grep -v '^\.cache/' || true)
	if [ -n "$unformatted" ]; then
		log "gofmt needed in $m: $unformatted"
		fail=1
	fi
	(cd "$m" && go vet ./...) || fail=1
	(cd "$m" && go run "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION" ./...) || fail=1
	if [ -n "$MIN_GO_TOOLCHAIN" ]; then
		(cd "$m" && GOTOOLCHAIN=$MIN_GO_TOOLCHAIN go vet ./...) || { log "$m does not build with $MIN_GO_TOOLCHAIN"; fail=1; }
	fi
done

for m in "${MODULES[@]}"; do
	log "== $m: go test -race"
	(cd "$m" && go test -race -count=1 -timeout 12m "$@" ./...) || fail=1
done

# The fault-injection suite (internal/faulttest, issue 18) asserts latency and
# throughput bounds that the race detector's slowdown would break, so its
# timed scenarios skip under -race and run here, once, without it.
log "== .: fault-injection suite without -race"
go test -count=1 -timeout 10m "$@" ./internal/faulttest/ || fail=1

if [ "$fail" != 0 ]; then
	log "FAILED"
	exit 1
fi
log "all green"

#!/usr/bin/env bash
# The one test command (`make test`, called by .ci/run): installs what is
# missing, starts private servers on free loopback ports, exports their
# addresses, runs the lint step (go generate check, layering and module
# checks, shellcheck, gofmt, go vet, staticcheck, vet with the oldest Go) and
# `go test -race -shuffle=on` over every module, and stops the servers again.
#
#   scripts/test.sh                  everything
#   scripts/test.sh -run TestFoo     extra flags go to every `go test`
#   SERVICES_ONLY=1 scripts/test.sh  start the servers, print the env file, wait
#   SERVICES=redis,memcached PKG=./backend/redis scripts/test.sh
#                                    a focused run: only those servers (none
#                                    with SERVICES=), then go vet and go test
#                                    of PKG only (space-separated patterns,
#                                    from the root; go.work covers every module)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
RUN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/cachekit-test.XXXXXX")
export RUN_DIR ROOT
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
# shellcheck disable=SC2317 # run by the trap
cleanup() { stop_all; [ -n "${KEEP_RUN_DIR:-}" ] || rm -rf "$RUN_DIR"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

STATICCHECK_VERSION=v0.8.2 # honnef.co/go/tools; staticcheck 2026.1.x
# The go directives promise the two newest Go releases: every module must also
# build (tests included) with the oldest one. The toolchain comes from the Go
# module proxy; MIN_GO_TOOLCHAIN= (empty) skips the check.
MIN_GO_TOOLCHAIN=${MIN_GO_TOOLCHAIN-go1.25.7}

# SERVICES (comma-separated) picks the servers to start; unset means all.
want_set=${SERVICES+set} want=${SERVICES-}
SERVICES=()
# shellcheck disable=SC1090
for f in scripts/services/*.sh; do [ -e "$f" ] && source "$f"; done
if [ -n "$want_set" ]; then
	known=" ${SERVICES[*]} "
	IFS=, read -ra SERVICES <<<"$want"
	for s in "${SERVICES[@]}"; do
		[[ $known == *" $s "* ]] || die "SERVICES: unknown service '$s' (known:$known)"
	done
fi
for s in "${SERVICES[@]}"; do
	log "starting $s"
	"start_$s"
done

if [ -n "${SERVICES_ONLY:-}" ]; then
	log "servers up; source $RUN_DIR/env in another shell; Ctrl-C stops them"
	cat "$RUN_DIR/env"
	while true; do sleep 3600; done
fi

finish() {
	if [ "$fail" != 0 ]; then
		log "FAILED"
		exit 1
	fi
	log "all green"
	exit 0
}

fail=0
if [ -n "${PKG:-}" ]; then
	read -ra pkgs <<<"$PKG"
	log "== focused run: go vet, go test -race -shuffle=on ${pkgs[*]}"
	go vet "${pkgs[@]}" || fail=1
	go test -race -count=1 -shuffle=on -timeout 12m "$@" "${pkgs[@]}" || fail=1
	finish
fi

mapfile -t MODULES < <(find . -name go.mod -not -path './.cache/*' -printf '%h\n' | sort)
log "modules: ${MODULES[*]}"
# in_module DIR CMD...: runs CMD in module DIR, in the go.work workspace when
# go.work lists the module, else on its own (GOWORK=off, as a consumer builds
# it) so that a module not (yet) in go.work still builds.
mapfile -t WORK_MODULES < <(go work edit -json | sed -n 's/.*"DiskPath": "\(.*\)".*/\1/p')
in_module() {
	local m=$1 w
	shift
	for w in "${WORK_MODULES[@]}"; do
		if [ "$w" = "$m" ]; then
			(cd "$m" && "$@")
			return
		fi
	done
	(cd "$m" && GOWORK=off "$@")
}

# Generated files (funcs.go, funcs_gen_test.go) must be what `go generate`
# writes. On CI's clean checkout this is `go generate ./... && git diff
# --exit-code`; in a working tree with edits it flags only what generate itself
# changes (and leaves the regenerated files for you to commit).
tree_state() { { git diff HEAD --binary; git ls-files -z --others --exclude-standard | xargs -0r sha256sum; } | sha256sum; }
if git rev-parse --git-dir >/dev/null 2>&1; then
	before=$(tree_state)
	for m in "${MODULES[@]}"; do in_module "$m" go generate ./... || fail=1; done
	if [ "$(tree_state)" != "$before" ]; then
		log "go generate changed files: commit what it wrote"
		git status --short >&2
		fail=1
	fi
else
	log "not a git checkout: skipping the go generate check"
fi

# Layering: protocol/ is one self-contained layer (the byte-level contract);
# none of its packages may import anything of this module outside protocol/.
mod=$(awk '$1 == "module" { print $2; exit }' go.mod) # not go list -m: in a workspace it lists every module
outside=$(go list -deps ./protocol/... | grep "^$mod/" | grep -v "^$mod/protocol/" || true)
if [ -n "$outside" ]; then
	log "protocol/ imports packages outside protocol/: $outside"
	fail=1
fi

# Satellite modules (the ones go.work lists: they are released) require a
# real version of the root module (see docs/releasing.md): not the zero
# pseudo-version, not a replace, and a pseudo-version must name a commit of
# this repository that go.work maps to the working tree. A module outside
# go.work is never released and may build against the tree with a replace.
check_root_requirement() {
	local gomod=$1 v
	v=$(awk -v m="$mod" '$1 == m && $2 ~ /^v/ {print $2}' "$gomod")
	[ -n "$v" ] || return 0 # does not use the root module
	if grep -Eq "^[[:space:]]*replace[[:space:]]+${mod}[[:space:]]|^[[:space:]]+${mod}[[:space:]]+=>" "$gomod"; then
		log "$gomod replaces $mod: require a released version or a pseudo-version (docs/releasing.md)"
		return 1
	fi
	if [ "$v" = v0.0.0-00010101000000-000000000000 ]; then
		log "$gomod requires $mod at the zero pseudo-version: require a real version (docs/releasing.md)"
		return 1
	fi
	if [[ $v =~ ^v0\.0\.0-([0-9]{14})-([0-9a-f]{12})$ ]]; then
		local when=${BASH_REMATCH[1]} hash=${BASH_REMATCH[2]} commit
		if ! commit=$(git rev-parse -q --verify "$hash^{commit}" 2>/dev/null); then
			if [ "$(git rev-parse --is-shallow-repository 2>/dev/null)" = true ]; then
				log "shallow clone: cannot check that $gomod's $v names a commit"
				return 0
			fi
			log "$gomod requires $mod $v, but no commit $hash exists (docs/releasing.md)"
			return 1
		fi
		if ! git merge-base --is-ancestor "$commit" HEAD; then
			log "$gomod requires $mod $v, but commit $hash is not in this branch's history"
			return 1
		fi
		if [ "$(TZ=UTC git log -1 --format=%cd --date=format-local:%Y%m%d%H%M%S "$commit")" != "$when" ]; then
			log "$gomod requires $mod $v, but commit $hash was not made at $when UTC"
			return 1
		fi
		if ! grep -Eq "^[[:space:]]*replace[[:space:]]+${mod}[[:space:]]+${v}[[:space:]]+=>" go.work; then
			log "go.work does not map $mod $v (the version $gomod requires) to the working tree"
			return 1
		fi
		# go.work builds the satellite against the tree; build it once as a
		# consumer gets it, against the root module at that commit, so the
		# requirement names a version the satellite really works with.
		local tmp
		tmp=$(mktemp -d "$RUN_DIR/consumer.XXXXXX")
		mkdir "$tmp/root"
		git archive "$commit" | tar -x -C "$tmp/root"
		cp -r "$(dirname "$gomod")" "$tmp/satellite"
		if ! (cd "$tmp/satellite" && go mod edit -replace="$mod=$tmp/root" &&
			GOWORK=off GOFLAGS=-mod=mod go vet ./...); then
			log "$(dirname "$gomod") does not build against $mod $v: raise the requirement (docs/releasing.md)"
			return 1
		fi
	fi
}
if git rev-parse --git-dir >/dev/null 2>&1; then
	for m in "${WORK_MODULES[@]}"; do
		[ "$m" = . ] || check_root_requirement "$m/go.mod" || fail=1
	done
fi

log "== shellcheck"
need_cmd shellcheck shellcheck
mapfile -t SCRIPTS < <(find . -name '*.sh' -not -path './.cache/*' | sort)
shellcheck -x "${SCRIPTS[@]}" .ci/run || fail=1

for m in "${MODULES[@]}"; do
	log "== $m: gofmt, vet, staticcheck, vet with $MIN_GO_TOOLCHAIN"
	unformatted=$(cd "$m" && { gofmt -l . | grep -v '^\.cache/' || true; })
	if [ -n "$unformatted" ]; then
		log "gofmt needed in $m: $unformatted"
		fail=1
	fi
	in_module "$m" go vet ./... || fail=1
	in_module "$m" go run "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION" ./... || fail=1
	if [ -n "$MIN_GO_TOOLCHAIN" ]; then
		GOTOOLCHAIN=$MIN_GO_TOOLCHAIN in_module "$m" go vet ./... || { log "$m does not build with $MIN_GO_TOOLCHAIN"; fail=1; }
	fi
done

for m in "${MODULES[@]}"; do
	log "== $m: go test -race -shuffle=on"
	in_module "$m" go test -race -count=1 -shuffle=on -timeout 12m "$@" ./... || fail=1
done

# The fault-injection suite (internal/faulttest, issue 18) asserts latency and
# throughput bounds that the race detector's slowdown would break, so its
# timed scenarios skip under -race and run here, once, without it.
log "== .: fault-injection suite without -race"
in_module . go test -count=1 -timeout 10m "$@" ./internal/faulttest/ || fail=1
finish

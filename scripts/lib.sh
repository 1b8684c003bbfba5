# shellcheck shell=bash
# Helpers for scripts/test.sh and scripts/services/*.sh: find free loopback
# ports, start private server processes, wait for them, stop them at the end.
# Only processes started through `spawn` are ever stopped.

: "${RUN_DIR:?RUN_DIR must be set before sourcing scripts/lib.sh}"
ROOT=${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
CACHE_DIR=${CACHE_DIR:-$ROOT/.cache}
mkdir -p "$CACHE_DIR"
: >"$RUN_DIR/pids"
: >"$RUN_DIR/ports"

log() { printf '[test] %s\n' "$*" >&2; }
die() { printf '[test] FATAL: %s\n' "$*" >&2; exit 1; }

# port_open PORT: true when something listens on 127.0.0.1:PORT.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# free_port: prints a loopback port nobody listens on and that this run has not
# handed out yet.
free_port() {
	local p i
	for i in $(seq 1 200); do
		p=$((20000 + RANDOM % 12000)) # below the kernel ephemeral range (32768+)
		grep -qx "$p" "$RUN_DIR/ports" && continue
		port_open "$p" && continue
		echo "$p" >>"$RUN_DIR/ports"
		echo "$p"
		return 0
	done
	die "no free port found"
}

# wait_port PORT [SECONDS]: waits until 127.0.0.1:PORT accepts connections.
wait_port() {
	local port=$1 secs=${2:-20} i
	for i in $(seq 1 $((secs * 10))); do
		port_open "$port" && return 0
		sleep 0.1
	done
	return 1
}

# spawn NAME CMD...: starts CMD in the background, logging to $RUN_DIR/NAME.log,
# and records its pid so cleanup stops it.
spawn() {
	local name=$1
	shift
	"$@" >"$RUN_DIR/$name.log" 2>&1 &
	echo "$! $name" >>"$RUN_DIR/pids"
	disown "$!" # stop_all's kills are expected: no "Killed" job notices
}

# stop_all: stops every process spawn started (and nothing else).
stop_all() {
	local pid name
	[ -f "$RUN_DIR/pids" ] || return 0
	while read -r pid name; do
		kill "$pid" 2>/dev/null || true
	done <"$RUN_DIR/pids"
	sleep 0.3
	while read -r pid name; do
		kill -9 "$pid" 2>/dev/null || true
	done <"$RUN_DIR/pids"
}

# show_log NAME: prints the tail of a service log (for failures).
show_log() { tail -n 40 "$RUN_DIR/$1.log" >&2 || true; }

# need_cmd CMD DEBIAN_PACKAGE: installs the package when CMD is missing.
need_cmd() {
	command -v "$1" >/dev/null 2>&1 && return 0
	[ "$(id -u)" = 0 ] || die "$1 is missing and we are not root to install $2"
	if [ -z "${APT_UPDATED:-}" ]; then
		log "apt-get update"
		apt-get update -qq >/dev/null
		APT_UPDATED=1
	fi
	log "installing $2"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
	command -v "$1" >/dev/null 2>&1 || die "installing $2 did not provide $1"
}

# export_env NAME VALUE: exports a variable to the tests and records it in
# $RUN_DIR/env so a developer can source it.
export_env() {
	export "$1=$2"
	printf 'export %s=%q\n' "$1" "$2" >>"$RUN_DIR/env"
}

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
	local p
	for _ in $(seq 1 200); do
		p=$((20000 + RANDOM % 12000)) # below the kernel ephemeral range (32768+)
		grep -qx "$p" "$RUN_DIR/ports" && continue
		port_open "$p" && continue
		echo "$p" >>"$RUN_DIR/ports"
		echo "$p"
		return 0
	done
	die "no free port found"
}

# listens PID PORT: true when process PID itself has a socket listening on
# PORT. An open port alone proves nothing: another process may have taken the
# port between free_port and the server's bind (then the server exits, or,
# worse, the tests would talk to a stranger).
listens() {
	local pid=$1 port=$2 hex inode
	[ -r /proc/net/tcp ] || { port_open "$port"; return; } # not Linux: best effort
	hex=$(printf ':%04X' "$port")
	# /proc/net/tcp*: field 2 is the local address ADDR:PORT in hex, field 4
	# the state (0A = LISTEN), field 10 the socket's inode.
	while read -r inode; do
		find "/proc/$pid/fd" -maxdepth 1 -lname "socket:\[$inode\]" 2>/dev/null | grep -q . && return 0
	done < <(awk -v p="$hex" 'substr($2, length($2) - 4) == p && $4 == "0A" { print $10 }' \
		/proc/net/tcp /proc/net/tcp6 2>/dev/null)
	return 1
}

# spawn_on_port NAME READY CMD...: starts CMD (each "{port}" in its arguments
# replaced by a free port) as spawn does, and waits until that very process
# listens on the port and `READY PORT` succeeds (READY may be `true`). When the
# server exits or another process took the port first, it tries again on
# another port, up to 5 times. Sets SPAWNED_PORT.
spawn_on_port() {
	local name=$1 ready=$2 attempt port pid a
	shift 2
	local args=()
	for attempt in 1 2 3 4 5; do
		port=$(free_port)
		args=()
		for a in "$@"; do args+=("${a//\{port\}/$port}"); done
		spawn "$name" "${args[@]}"
		pid=$(tail -n 1 "$RUN_DIR/pids" | cut -d' ' -f1)
		for _ in $(seq 1 300); do
			if listens "$pid" "$port" && "$ready" "$port"; then
				# shellcheck disable=SC2034 # read by the service scripts
				SPAWNED_PORT=$port
				return 0
			fi
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		log "$name did not start on 127.0.0.1:$port (attempt $attempt of 5)"
		show_log "$name"
		kill "$pid" 2>/dev/null || true
		sleep 0.2
		kill -9 "$pid" 2>/dev/null || true
		# Forget the pid so that stop_all never signals a process that
		# reuses it later.
		sed -i "/^$pid $name\$/d" "$RUN_DIR/pids"
	done
	die "$name did not start"
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

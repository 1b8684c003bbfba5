# shellcheck shell=bash
# memcached for backend/memcached: two private instances on free loopback
# ports, so the tests exercise the consistent-hashing ring across servers.
# Exports CACHEKIT_TEST_MEMCACHED_SERVERS=127.0.0.1:P1,127.0.0.1:P2.
SERVICES+=(memcached)

start_memcached() {
	need_cmd memcached memcached
	local user_args=() servers="" i
	# memcached refuses to run as root without -u; run it as root's own
	# user only when we are root (it never binds anything but loopback).
	[ "$(id -u)" = 0 ] && user_args=(-u root)
	for i in 1 2; do
		# -U 0: no UDP; -m 64: 64 MiB of item memory is plenty for the tests.
		spawn_on_port "memcached$i" true memcached -l 127.0.0.1 -p '{port}' -U 0 -m 64 -t 2 "${user_args[@]}"
		servers="${servers:+$servers,}127.0.0.1:$SPAWNED_PORT"
	done
	export_env CACHEKIT_TEST_MEMCACHED_SERVERS "$servers"
}

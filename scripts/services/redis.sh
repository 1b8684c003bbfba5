# shellcheck shell=bash
# Private Redis servers for the tests, all on free loopback ports, no
# persistence (--save "" --appendonly no), data only in $RUN_DIR:
#   standalone   CACHEKIT_TEST_REDIS_ADDR            host:port, no auth
#   ACL          CACHEKIT_TEST_REDIS_ACL_URL         redis://user:password@host:port/0 (default user off)
#   cluster      CACHEKIT_TEST_REDIS_CLUSTER_ADDRS   3 masters, comma-separated host:port
#   sentinel     CACHEKIT_TEST_REDIS_SENTINEL_ADDRS  one sentinel watching a master with one replica
#                CACHEKIT_TEST_REDIS_SENTINEL_MASTER master name ("mymaster")
SERVICES+=(redis)

# redis_instance NAME [EXTRA ARGS...]: starts one redis-server on a free port
# (another one when a stranger takes it first), in its own directory under
# $RUN_DIR, and waits until it answers PING; sets SPAWNED_PORT.
redis_instance() {
	local name=$1
	shift
	mkdir -p "$RUN_DIR/$name"
	spawn_on_port "$name" redis_ping redis-server --port '{port}' --bind 127.0.0.1 --save "" --appendonly no \
		--dir "$RUN_DIR/$name" --daemonize no --loglevel warning "$@"
}

# redis_ping PORT: true when the server on PORT answers PING (authenticating
# with REDIS_AUTH, redis-cli arguments, when set).
REDIS_AUTH=()
redis_ping() {
	[ "$(redis-cli -h 127.0.0.1 -p "$1" "${REDIS_AUTH[@]}" ping 2>/dev/null)" = PONG ]
}

start_redis() {
	need_cmd redis-server redis-server
	need_cmd redis-cli redis-tools
	local p p2 acl_port c1 c2 c3 m r s i
	local acl_user=cachekit acl_pass
	acl_pass=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')

	# One instance after the other: each must hold its own port before the
	# next picks one, and the replica and sentinel need the master's port.
	redis_instance redis
	p=$SPAWNED_PORT

	mkdir -p "$RUN_DIR/redis-acl"
	cat >"$RUN_DIR/redis-acl/users.acl" <<-ACL
		user default off
		user $acl_user on >$acl_pass ~* &* +@all
	ACL
	REDIS_AUTH=(--user "$acl_user" --pass "$acl_pass" --no-auth-warning)
	redis_instance redis-acl --aclfile "$RUN_DIR/redis-acl/users.acl"
	REDIS_AUTH=()
	acl_port=$SPAWNED_PORT

	# A cluster node also listens on its port + 10000 (the cluster bus); if
	# that one is taken the node exits and spawn_on_port tries another port.
	for i in 1 2 3; do
		redis_instance "redis-cluster-$i" --cluster-enabled yes \
			--cluster-config-file nodes.conf --cluster-node-timeout 2000
		printf -v "c$i" %s "$SPAWNED_PORT"
	done

	redis_instance redis-sentinel-master
	m=$SPAWNED_PORT
	redis_instance redis-sentinel-replica --replicaof 127.0.0.1 "$m"
	r=$SPAWNED_PORT
	mkdir -p "$RUN_DIR/redis-sentinel"
	cat >"$RUN_DIR/redis-sentinel/sentinel.conf" <<-CONF
		bind 127.0.0.1
		dir $RUN_DIR/redis-sentinel
		sentinel monitor mymaster 127.0.0.1 $m 1
		sentinel down-after-milliseconds mymaster 2000
		sentinel failover-timeout mymaster 10000
	CONF
	spawn_on_port redis-sentinel redis_ping redis-server "$RUN_DIR/redis-sentinel/sentinel.conf" --sentinel --port '{port}'
	s=$SPAWNED_PORT

	if ! redis-cli --cluster create "127.0.0.1:$c1" "127.0.0.1:$c2" "127.0.0.1:$c3" \
		--cluster-replicas 0 --cluster-yes >"$RUN_DIR/redis-cluster-create.log" 2>&1; then
		show_log redis-cluster-create
		die "redis-cli --cluster create failed"
	fi
	local ok=
	for i in $(seq 1 150); do
		ok=1
		for p2 in "$c1" "$c2" "$c3"; do
			redis-cli -h 127.0.0.1 -p "$p2" cluster info 2>/dev/null | grep -q '^cluster_state:ok' || ok=
		done
		[ -n "$ok" ] && break
		sleep 0.1
	done
	if [ -z "$ok" ]; then
		show_log "redis-cluster-$c1"
		die "redis cluster did not reach cluster_state:ok"
	fi

	ok=
	for i in $(seq 1 100); do
		if redis-cli -h 127.0.0.1 -p "$s" sentinel get-master-addr-by-name mymaster 2>/dev/null | grep -qx "$m" &&
			redis-cli -h 127.0.0.1 -p "$s" sentinel replicas mymaster 2>/dev/null | grep -qx "$r" &&
			redis-cli -h 127.0.0.1 -p "$r" info replication 2>/dev/null | grep -q '^master_link_status:up'; then
			ok=1
			break
		fi
		sleep 0.1
	done
	if [ -z "$ok" ]; then
		show_log redis-sentinel
		show_log redis-sentinel-replica
		die "redis sentinel setup did not come up"
	fi

	export_env CACHEKIT_TEST_REDIS_ADDR "127.0.0.1:$p"
	export_env CACHEKIT_TEST_REDIS_ACL_URL "redis://$acl_user:$acl_pass@127.0.0.1:$acl_port/0"
	export_env CACHEKIT_TEST_REDIS_CLUSTER_ADDRS "127.0.0.1:$c1,127.0.0.1:$c2,127.0.0.1:$c3"
	export_env CACHEKIT_TEST_REDIS_SENTINEL_ADDRS "127.0.0.1:$s"
	export_env CACHEKIT_TEST_REDIS_SENTINEL_MASTER mymaster
}

# shellcheck shell=bash
# Private Redis servers for the tests, all on free loopback ports, no
# persistence (--save "" --appendonly no), data only in $RUN_DIR:
#   standalone   CACHEKIT_TEST_REDIS_ADDR            host:port, no auth
#   ACL          CACHEKIT_TEST_REDIS_ACL_URL         redis://user:password@host:port/0 (default user off)
#   cluster      CACHEKIT_TEST_REDIS_CLUSTER_ADDRS   3 masters, comma-separated host:port
#   sentinel     CACHEKIT_TEST_REDIS_SENTINEL_ADDRS  one sentinel watching a master with one replica
#                CACHEKIT_TEST_REDIS_SENTINEL_MASTER master name ("mymaster")
SERVICES+=(redis)

# redis_instance NAME PORT [EXTRA ARGS...]: starts one redis-server in its own
# directory under $RUN_DIR.
redis_instance() {
	local name=$1 port=$2
	shift 2
	mkdir -p "$RUN_DIR/$name"
	spawn "$name" redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
		--dir "$RUN_DIR/$name" --daemonize no --loglevel warning "$@"
}

# redis_wait NAME PORT [REDIS-CLI ARGS...]: waits until the instance answers PING.
redis_wait() {
	local name=$1 port=$2 i
	shift 2
	for i in $(seq 1 100); do
		if [ "$(redis-cli -h 127.0.0.1 -p "$port" "$@" ping 2>/dev/null)" = PONG ]; then
			return 0
		fi
		sleep 0.1
	done
	show_log "$name"
	die "redis $name on port $port did not answer PING"
}

start_redis() {
	need_cmd redis-server redis-server
	need_cmd redis-cli redis-tools
	local p p2 acl_port c1 c2 c3 m r s i
	local acl_user=cachekit acl_pass
	acl_pass=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')

	# Start everything first, then wait: the instances boot in parallel.
	p=$(free_port)
	redis_instance redis "$p"

	acl_port=$(free_port)
	mkdir -p "$RUN_DIR/redis-acl"
	cat >"$RUN_DIR/redis-acl/users.acl" <<-ACL
		user default off
		user $acl_user on >$acl_pass ~* &* +@all
	ACL
	redis_instance redis-acl "$acl_port" --aclfile "$RUN_DIR/redis-acl/users.acl"

	c1=$(free_port) c2=$(free_port) c3=$(free_port)
	for i in "$c1" "$c2" "$c3"; do
		redis_instance "redis-cluster-$i" "$i" --cluster-enabled yes \
			--cluster-config-file nodes.conf --cluster-node-timeout 2000
	done

	m=$(free_port) r=$(free_port) s=$(free_port)
	redis_instance redis-sentinel-master "$m"
	redis_instance redis-sentinel-replica "$r" --replicaof 127.0.0.1 "$m"
	mkdir -p "$RUN_DIR/redis-sentinel"
	cat >"$RUN_DIR/redis-sentinel/sentinel.conf" <<-CONF
		port $s
		bind 127.0.0.1
		dir $RUN_DIR/redis-sentinel
		sentinel monitor mymaster 127.0.0.1 $m 1
		sentinel down-after-milliseconds mymaster 2000
		sentinel failover-timeout mymaster 10000
	CONF
	spawn redis-sentinel redis-server "$RUN_DIR/redis-sentinel/sentinel.conf" --sentinel

	redis_wait redis "$p"
	redis_wait redis-acl "$acl_port" --user "$acl_user" --pass "$acl_pass" --no-auth-warning
	for i in "$c1" "$c2" "$c3"; do redis_wait "redis-cluster-$i" "$i"; done
	redis_wait redis-sentinel-master "$m"
	redis_wait redis-sentinel-replica "$r"
	redis_wait redis-sentinel "$s"

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

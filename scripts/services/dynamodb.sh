# shellcheck shell=bash
# DynamoDB-compatible test server for backend/dynamodb: dynalite (npm), kept in
# memory (no --path, so nothing touches the disk), listening on a free loopback
# port. Exports CACHEKIT_TEST_DYNAMODB_ENDPOINT=http://127.0.0.1:PORT.
#
# dynalite is pinned; it is installed once into $CACHE_DIR/npm and reused.
# Tables are ACTIVE at once (--createTableMs 0) so tests do not wait 500 ms
# per table. dynalite implements DescribeTimeToLive but not UpdateTimeToLive
# and never deletes expired items itself, which is exactly the situation the
# backend must handle (expired items are misses until DynamoDB removes them).

DYNALITE_VERSION=4.0.0

SERVICES+=(dynamodb)

start_dynamodb() {
	local npm_dir="$CACHE_DIR/npm" cli have=""
	need_cmd node nodejs
	need_cmd npm npm
	cli="$npm_dir/node_modules/dynalite/cli.js"
	if [ -f "$npm_dir/node_modules/dynalite/package.json" ]; then
		have=$(node -p "require('$npm_dir/node_modules/dynalite/package.json').version" 2>/dev/null || true)
	fi
	if [ "$have" != "$DYNALITE_VERSION" ]; then
		log "installing dynalite@$DYNALITE_VERSION into $npm_dir"
		mkdir -p "$npm_dir"
		npm install --prefix "$npm_dir" --no-audit --no-fund --loglevel=error \
			"dynalite@$DYNALITE_VERSION" >"$RUN_DIR/dynamodb-install.log" 2>&1 ||
			{ cat "$RUN_DIR/dynamodb-install.log" >&2; die "npm install dynalite@$DYNALITE_VERSION failed"; }
	fi
	[ -f "$cli" ] || die "dynalite CLI not found at $cli"

	# spawn_on_port retries on another port when another process takes the
	# free port before dynalite binds it (dynalite then exits with EADDRINUSE).
	spawn_on_port dynamodb true node "$cli" --host 127.0.0.1 --port '{port}' \
		--createTableMs 0 --deleteTableMs 0 --updateTableMs 0
	export_env CACHEKIT_TEST_DYNAMODB_ENDPOINT "http://127.0.0.1:$SPAWNED_PORT"
}

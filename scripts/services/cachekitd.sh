# shellcheck shell=bash
# cachekitd, the self-hosted CacheKit HTTP API server (module ./cachekitd).
# start_cachekitd only builds the binary: tests start their own instances with
# the flags they need (TLS files, API keys, store, limits; see
# docs/cachekitd.md or `cachekitd --help`), usually with
#   --addr 127.0.0.1:0 --addr-file FILE
# and read the chosen address from FILE.
SERVICES+=(cachekitd)

start_cachekitd() {
	need_cmd go golang-go
	log "building cachekitd into $RUN_DIR"
	(cd "$ROOT/cachekitd" && go build -o "$RUN_DIR/cachekitd" ./cmd/cachekitd) || die "building cachekitd failed"
	export_env CACHEKIT_TEST_CACHEKITD_BIN "$RUN_DIR/cachekitd"
}

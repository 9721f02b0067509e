#!/usr/bin/env bash
# The influxdb image's entrypoint for the STAND-IN influxd/influx, written for this project. It does what
# influxdata/influxdata-docker@d457cb9363532cbbc8d63ef7d1b065336ef0302d influxdb/2.7/alpine/entrypoint.sh does:
# - `influxd` (or no command, `run`, or a first argument starting with "-") runs the server; anything else is
#   exec'd as it is (as root);
# - the config file: INFLUXD_CONFIG_PATH, else /etc/influxdb2/config.{json,toml,yaml,yml}, else
#   /etc/defaults/influxdb2/config.yml; bolt and engine paths from flags, INFLUXD_* or that file (influxd
#   print-config); their directories 0700 and the config volume /etc/influxdb2 0775, chowned to influxdb;
# - when the bolt file does not exist and DOCKER_INFLUXDB_INIT_MODE=setup (upgrade needs 1.x data: refused
#   here): _USERNAME, _PASSWORD, _ORG and _BUCKET are required (also as *_FILE), a temporary server runs on
#   :$INFLUXD_INIT_PORT, `influx setup` (with _RETENTION and _ADMIN_TOKEN, CLI config _CLI_CONFIG_NAME) runs
#   against it, then `run-parts --regex ".*sh$" --report --exit-on-error /docker-entrypoint-initdb.d` with
#   INFLUX_HOST at that server; a failure deletes the bolt and engine files (the next start retries); the CLI
#   config is then rewritten to the final port;
# - finally the server runs as user influxdb (gosu, where upstream has su-exec): PID 1, SIGTERM stops it.
set -eo pipefail

log() { # level message [key value]...
	local level=$1 msg=$2 attrs='"system": "docker"'
	shift 2
	while [ $# -gt 1 ]; do attrs="$attrs, \"$1\": \"$2\""; shift 2; done
	printf >&2 '%s\t%s\t%s\t{%s}\n' "$(date --utc +'%FT%T.%NZ')" "$level" "$msg" "$attrs"
}

CONFIG_VOLUME=/etc/influxdb2
set_config_path() {
	local path=/etc/defaults/influxdb2/config.yml name
	if [ -n "${INFLUXD_CONFIG_PATH:-}" ]; then
		path=$INFLUXD_CONFIG_PATH
	else
		for name in config.json config.toml config.yaml config.yml; do
			if [ -f "$CONFIG_VOLUME/$name" ]; then path=$CONFIG_VOLUME/$name; break; fi
		done
	fi
	export INFLUXD_CONFIG_PATH=$path
}

config_get() { influxd print-config --key-name "$@"; }

create_directories() {
	local bolt_dir
	bolt_dir=$(dirname "$BOLT_PATH")
	mkdir -p "$bolt_dir" "$ENGINE_PATH"
	chmod 700 "$bolt_dir" "$ENGINE_PATH" || :
	mkdir -p "$CONFIG_VOLUME" || :
	chmod 775 "$CONFIG_VOLUME" || :
	if [ "$(id -u)" = 0 ]; then
		find "$bolt_dir" "$ENGINE_PATH" "$CONFIG_VOLUME" \! -user influxdb -exec chown influxdb '{}' +
	fi
}

from_file() { # VAR: VAR_FILE's content, when that file exists
	local file_var="${1}_FILE"
	if [ -n "${!file_var:-}" ]; then
		if [ -e "${!file_var}" ]; then printf -v "$1" '%s' "$(<"${!file_var}")"; else echo "$file_var defined, but file not existing, skipping."; fi
	fi
}

cleanup() {
	log warn "cleaning bolt and engine files to prevent conflicts on retry" bolt_path "$BOLT_PATH" engine_path "$ENGINE_PATH"
	rm -rf "$BOLT_PATH" "${ENGINE_PATH:?}/"*
}

init_influxd() {
	if [ "$DOCKER_INFLUXDB_INIT_MODE" = upgrade ]; then
		log error "DOCKER_INFLUXDB_INIT_MODE=upgrade needs influxd upgrade and 1.x data; this influxd is a stand-in without them"
		exit 1
	elif [ "$DOCKER_INFLUXDB_INIT_MODE" != setup ]; then
		log error "found invalid DOCKER_INFLUXDB_INIT_MODE, valid values are 'setup' and 'upgrade'" DOCKER_INFLUXDB_INIT_MODE "$DOCKER_INFLUXDB_INIT_MODE"
		exit 1
	fi
	local var missing=0
	for var in DOCKER_INFLUXDB_INIT_USERNAME DOCKER_INFLUXDB_INIT_PASSWORD DOCKER_INFLUXDB_INIT_ORG DOCKER_INFLUXDB_INIT_BUCKET; do
		if [ -z "${!var:-}" ]; then log error "missing parameter, cannot init InfluxDB" parameter "$var"; missing=1; fi
	done
	[ "$missing" = 0 ] || exit 1
	trap cleanup EXIT

	local final_bind init_bind=":$INFLUXD_INIT_PORT" final_port
	final_bind=$(config_get http-bind-address "$@")
	[ "$init_bind" = "$final_bind" ] && log warn "influxd setup binding to same addr as final config, server will be exposed before ready" addr "$init_bind"
	log info "booting influxd server in the background"
	INFLUXD_HTTP_BIND_ADDRESS=$init_bind INFLUXD_TLS_CERT='' INFLUXD_TLS_KEY='' influxd "$@" &
	local pid=$!
	trap "kill -TERM $pid; wait $pid" TERM
	trap "kill -INT $pid; wait $pid" INT
	export INFLUX_HOST="http://localhost:$INFLUXD_INIT_PORT"
	local pings=0
	until influx ping >/dev/null 2>&1; do
		if ! kill -0 "$pid" 2>/dev/null; then log error "influxd crashed during startup" total_pings "$pings"; exit 1; fi
		if [ "$pings" -ge "$INFLUXD_INIT_PING_ATTEMPTS" ]; then log error "influxd took too long to start up" total_pings "$pings"; exit 1; fi
		sleep 1
		pings=$((pings + 1))
	done
	log info "got response from influxd, proceeding" total_pings "$pings"

	local args=(--force --username "$DOCKER_INFLUXDB_INIT_USERNAME" --password "$DOCKER_INFLUXDB_INIT_PASSWORD"
		--org "$DOCKER_INFLUXDB_INIT_ORG" --bucket "$DOCKER_INFLUXDB_INIT_BUCKET" --name "$DOCKER_INFLUXDB_INIT_CLI_CONFIG_NAME")
	[ -n "${DOCKER_INFLUXDB_INIT_RETENTION:-}" ] && args+=(--retention "$DOCKER_INFLUXDB_INIT_RETENTION")
	[ -n "${DOCKER_INFLUXDB_INIT_ADMIN_TOKEN:-}" ] && args+=(--token "$DOCKER_INFLUXDB_INIT_ADMIN_TOKEN")
	influx setup "${args[@]}"

	DOCKER_INFLUXDB_INIT_USER_ID=$(influx user list -n "$DOCKER_INFLUXDB_INIT_USERNAME" --hide-headers | cut -f 1)
	DOCKER_INFLUXDB_INIT_ORG_ID=$(influx org list -n "$DOCKER_INFLUXDB_INIT_ORG" --hide-headers | cut -f 1)
	DOCKER_INFLUXDB_INIT_BUCKET_ID=$(influx bucket list -n "$DOCKER_INFLUXDB_INIT_BUCKET" --hide-headers | cut -f 1)
	export DOCKER_INFLUXDB_INIT_USER_ID DOCKER_INFLUXDB_INIT_ORG_ID DOCKER_INFLUXDB_INIT_BUCKET_ID
	if [ -d /docker-entrypoint-initdb.d ]; then
		log info "Executing user-provided scripts" script_dir /docker-entrypoint-initdb.d
		run-parts --regex ".*sh$" --report --exit-on-error /docker-entrypoint-initdb.d
	fi

	log info "initialization complete, shutting down background influxd"
	kill -TERM "$pid"
	wait "$pid" || true
	trap - EXIT INT TERM
	final_port=${final_bind##*:}
	sed -i "s#http://localhost:$INFLUXD_INIT_PORT#http://localhost:$final_port#g" "$INFLUX_CONFIGS_PATH"
}

main() {
	set_config_path
	local run=false
	if [ $# = 0 ] || [ "$1" = run ] || [ "${1:0:1}" = - ]; then
		run=true
	elif [ "$1" = influxd ] && { [ $# = 1 ] || [ "$2" = run ] || [ "${2:0:1}" = - ]; }; then
		run=true
		shift
	fi
	$run || exec "$@"
	[ "${1:-}" = run ] && shift

	from_file DOCKER_INFLUXDB_INIT_PASSWORD
	from_file DOCKER_INFLUXDB_INIT_USERNAME
	from_file DOCKER_INFLUXDB_INIT_ADMIN_TOKEN
	BOLT_PATH=$(config_get bolt-path "$@")
	ENGINE_PATH=$(config_get engine-path "$@")
	export BOLT_PATH ENGINE_PATH
	create_directories

	if [ -f "$BOLT_PATH" ]; then
		log info "found existing boltdb file, skipping setup wrapper" bolt_path "$BOLT_PATH"
	elif [ -z "${DOCKER_INFLUXDB_INIT_MODE:-}" ]; then
		log warn "boltdb not found at configured path, but DOCKER_INFLUXDB_INIT_MODE not specified, skipping setup wrapper" bolt_path "$BOLT_PATH"
	else
		init_influxd "$@"
		create_directories
	fi
	if [ "$(id -u)" = 0 ]; then
		exec gosu influxdb "$BASH_SOURCE" "$@"
	fi
	exec influxd "$@"
}

main "$@"

#!/usr/bin/env bash
# The clickhouse image's entrypoint for the STAND-IN server, written for this project. It does what
# ClickHouse/docker-library@9d3f97b6 server/26.3.17.110/entrypoint.sh does on the paths the program uses:
# - run as root: the server runs as user clickhouse (CLICKHOUSE_UID/CLICKHOUSE_GID to override; as root with
#   CLICKHOUSE_RUN_AS_ROOT=1); the data, tmp, user-files and log directories are created and chowned
#   (CLICKHOUSE_DO_NOT_CHOWN=1 skips that);
# - CLICKHOUSE_SKIP_USER_SETUP=1 leaves the users alone; else CLICKHOUSE_USER/CLICKHOUSE_PASSWORD make
#   users.d/default-user.xml with that user (password in clear, as upstream) instead of `default`, and with
#   neither `default` is limited to localhost;
# - no arguments, or a first argument starting with "--": exec the server with --config-file=$CLICKHOUSE_CONFIG
#   and those arguments; anything else is exec'd as it is.
# CLICKHOUSE_DB and /docker-entrypoint-initdb.d need a SQL engine (upstream runs them through clickhouse-client
# against a temporary server): the stand-in refuses to start with either rather than ignore it.
set -eo pipefail
shopt -s nullglob

CLICKHOUSE_CONFIG=${CLICKHOUSE_CONFIG:-/etc/clickhouse-server/config.xml}
DO_CHOWN=1
if [ "${CLICKHOUSE_RUN_AS_ROOT:=0}" = 1 ] || [ "${CLICKHOUSE_DO_NOT_CHOWN:-0}" = 1 ]; then DO_CHOWN=0; fi
if [ "$(id -u)" = 0 ]; then
	if [ "$CLICKHOUSE_RUN_AS_ROOT" = 1 ]; then USER=0 GROUP=0; else
		USER=${CLICKHOUSE_UID:-$(id -u clickhouse)} GROUP=${CLICKHOUSE_GID:-$(id -g clickhouse)}
	fi
else
	USER=$(id -u) GROUP=$(id -g) DO_CHOWN=0
fi

own_dir() {
	[ -n "$1" ] || return 0
	mkdir -p "$1"
	if [ "$DO_CHOWN" = 1 ] && { [ "$(stat -c %u "$1")" != "$USER" ] || [ "$(stat -c %g "$1")" != "$GROUP" ]; }; then
		chown -R "$USER:$GROUP" "$1"
	fi
}

users() {
	local file=/etc/clickhouse-server/users.d/default-user.xml
	CLICKHOUSE_USER=${CLICKHOUSE_USER:-default}
	if [ "${CLICKHOUSE_SKIP_USER_SETUP:-0}" = 1 ]; then
		echo "$0: explicitly skip changing user 'default'"
	elif [ "$CLICKHOUSE_USER" != default ] || [ -n "${CLICKHOUSE_PASSWORD:-}" ]; then
		echo "$0: create new user '$CLICKHOUSE_USER' instead 'default'"
		cat >"$file" <<-EOT
			<clickhouse><users><default remove="remove"/>
			<${CLICKHOUSE_USER}><profile>default</profile><networks><ip>::/0</ip></networks>
			<password><![CDATA[${CLICKHOUSE_PASSWORD//]]>/]]]]><![CDATA[>}]]></password><quota>default</quota>
			</${CLICKHOUSE_USER}></users></clickhouse>
		EOT
	else
		echo "$0: neither CLICKHOUSE_USER nor CLICKHOUSE_PASSWORD is set, disabling network access for user 'default'"
		echo '<clickhouse><users><default><networks><ip>::1</ip><ip>127.0.0.1</ip></networks></default></users></clickhouse>' >"$file"
	fi
}

if [ $# -lt 1 ] || [[ "$1" == --* ]]; then
	if [ -n "${CLICKHOUSE_DB:-}" ] || [ -n "$(ls -A /docker-entrypoint-initdb.d/)" ]; then
		echo >&2 "$0: CLICKHOUSE_DB and /docker-entrypoint-initdb.d need a SQL engine; this clickhouse-server is a stand-in without one"
		exit 1
	fi
	for dir in /var/lib/clickhouse /var/lib/clickhouse/tmp /var/lib/clickhouse/user_files /var/log/clickhouse-server; do
		own_dir "$dir"
	done
	cd /var/lib/clickhouse
	users
	if [ "$USER" = "$(id -u)" ]; then
		exec clickhouse-server --config-file="$CLICKHOUSE_CONFIG" "$@"
	fi
	exec gosu "$USER:$GROUP" clickhouse-server --config-file="$CLICKHOUSE_CONFIG" "$@"
fi
exec "$@"

#!/usr/bin/env bash
# The postgres images' entrypoint, written for this project. It does what docker-library/postgres's
# docker-entrypoint.sh does, as documented and as that file reads at the commits that last built the pinned tags
# (each 18/16/14 alpine3.23/docker-entrypoint.sh, identical in all three):
#   18.1:  docker-library/postgres@fd482cfacff9eaef8e0833084d4f2407f8078c58 (parent of 12eb5762 "Update 18 to 18.2")
#   16.11: docker-library/postgres@2c1a455e1e9e5f0f0a791264c2eec5ef36e1e36f (parent of bf13909e "Update 16 to 16.12")
#   14.20: docker-library/postgres@ec0cb67f0f214ae5d93e5a2254974462a27f44a1 (parent of 9cd70834 "Update 14 to 14.21")
#
# - A first argument starting with "-" means postgres flags: `postgres` is put in front.
# - For `postgres` (not --help/--version/...): POSTGRES_PASSWORD, POSTGRES_USER (default postgres), POSTGRES_DB
#   (default the user) and POSTGRES_INITDB_ARGS, each also as *_FILE; PGDATA's directory is made 0700 and owned
#   by postgres, /var/run/postgresql 3775; run as root, it re-executes itself as postgres (gosu).
# - Only when $PGDATA/PG_VERSION is missing: refuse an empty POSTGRES_PASSWORD unless POSTGRES_HOST_AUTH_METHOD is
#   trust; (PGDATA in the 18+ layout) refuse to start beside a cluster of the old layout; initdb with the user and
#   password (--pwfile) and POSTGRES_INITDB_ARGS (and --waldir from POSTGRES_INITDB_WALDIR); append
#   `host all all all <POSTGRES_HOST_AUTH_METHOD or password_encryption>` to pg_hba.conf; start a server on the
#   socket only (listen_addresses='', port PGPORT), create POSTGRES_DB, run /docker-entrypoint-initdb.d/* in name
#   order (*.sh executed if executable else sourced, *.sql, *.sql.gz, *.sql.xz, *.sql.zst through psql with
#   ON_ERROR_STOP), stop it (fast).
# - An existing cluster is used as it is: the POSTGRES_* variables (the password too) change nothing.
# - Finally exec the command: postgres runs as PID 1, so the image's STOPSIGNAL (SIGINT, fast shutdown) reaches it.
set -Eeo pipefail

# VAR or VAR_FILE (exclusive), else the default.
env_or_file() {
	local var=$1 file_var="${1}_FILE" default=${2:-}
	if [ -n "${!var:-}" ] && [ -n "${!file_var:-}" ]; then
		echo >&2 "error: both $var and $file_var are set (but are exclusive)"
		exit 1
	fi
	local value=$default
	if [ -n "${!var:-}" ]; then
		value=${!var}
	elif [ -n "${!file_var:-}" ]; then
		value=$(<"${!file_var}")
	fi
	export "$var=$value"
	unset "$file_var"
}

wants_help() {
	local arg
	for arg; do
		case "$arg" in -'?'|--help|--describe-config|-V|--version) return 0 ;; esac
	done
	return 1
}

read_settings() {
	env_or_file POSTGRES_PASSWORD
	env_or_file POSTGRES_USER postgres
	env_or_file POSTGRES_DB "$POSTGRES_USER"
	env_or_file POSTGRES_INITDB_ARGS
	: "${POSTGRES_HOST_AUTH_METHOD:=}"
	CLUSTER_EXISTS=
	OLD_LAYOUT=()
	if [ -s "$PGDATA/PG_VERSION" ]; then
		CLUSTER_EXISTS=yes
	elif [ "$PGDATA" = "/var/lib/postgresql/$PG_MAJOR/docker" ]; then
		# The 18+ layout: a cluster at the volume root, in data/ or in another major's directory is left alone.
		local d
		for d in /var/lib/postgresql /var/lib/postgresql/data /var/lib/postgresql/*/docker; do
			[ -s "$d/PG_VERSION" ] && OLD_LAYOUT+=("$d")
		done
		if [ ${#OLD_LAYOUT[@]} -eq 0 ] && [ "$PG_MAJOR" -ge 18 ] && mountpoint -q /var/lib/postgresql/data; then
			OLD_LAYOUT+=("/var/lib/postgresql/data (unused mount/volume)")
		fi
	fi
}

make_directories() {
	mkdir -p "$PGDATA"
	chmod 00700 "$PGDATA" || :
	mkdir -p /var/run/postgresql || :
	chmod 03775 /var/run/postgresql || :
	if [ -n "${POSTGRES_INITDB_WALDIR:-}" ]; then
		mkdir -p "$POSTGRES_INITDB_WALDIR"
		[ "$(id -u)" = 0 ] && find "$POSTGRES_INITDB_WALDIR" \! -user postgres -exec chown postgres '{}' +
		chmod 700 "$POSTGRES_INITDB_WALDIR"
	fi
	if [ "$(id -u)" = 0 ]; then
		find "$PGDATA" \! -user postgres -exec chown postgres '{}' +
		find /var/run/postgresql \! -user postgres -exec chown postgres '{}' +
	fi
}

refuse_bad_first_start() {
	if [ -z "$POSTGRES_PASSWORD" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != trust ]; then
		cat >&2 <<-'EOF'
			Error: Database is uninitialized and superuser password is not specified.
			       You must specify POSTGRES_PASSWORD to a non-empty value for the
			       superuser. For example, "-e POSTGRES_PASSWORD=password" on "docker run".
			       (POSTGRES_HOST_AUTH_METHOD=trust allows every connection without one: not recommended.)
		EOF
		exit 1
	fi
	if [ "$POSTGRES_HOST_AUTH_METHOD" = trust ]; then
		echo >&2 'WARNING: POSTGRES_HOST_AUTH_METHOD is "trust": every connection is accepted without a password.'
	fi
	if [ ${#OLD_LAYOUT[@]} -gt 0 ]; then
		cat >&2 <<-EOF
			Error: in 18+ the data directory is $PGDATA (the volume at /var/lib/postgresql), but
			       there is PostgreSQL data in: ${OLD_LAYOUT[*]}
			       That is usually an older major's cluster: upgrade it (pg_upgrade, or dump and restore)
			       instead of starting a new, empty cluster beside it. See docker-library/postgres#1259.
		EOF
		exit 1
	fi
}

initdb_cluster() {
	# initdb wants the current uid in /etc/passwd: fake it with nss_wrapper for an arbitrary --user.
	if ! getent passwd "$(id -u)" >/dev/null; then
		local wrapper
		for wrapper in {/usr,}/lib{/*,}/libnss_wrapper.so; do
			if [ -s "$wrapper" ]; then
				NSS_WRAPPER_PASSWD=$(mktemp) NSS_WRAPPER_GROUP=$(mktemp)
				export LD_PRELOAD=$wrapper NSS_WRAPPER_PASSWD NSS_WRAPPER_GROUP
				printf 'postgres:x:%s:%s:PostgreSQL:%s:/bin/false\n' "$(id -u)" "$(id -g)" "$PGDATA" >"$NSS_WRAPPER_PASSWD"
				printf 'postgres:x:%s:\n' "$(id -g)" >"$NSS_WRAPPER_GROUP"
				break
			fi
		done
	fi
	local extra=()
	[ -n "${POSTGRES_INITDB_WALDIR:-}" ] && extra+=(--waldir "$POSTGRES_INITDB_WALDIR")
	# The password through a file descriptor, never argv; a trailing newline, since --pwfile refuses an empty file.
	# POSTGRES_INITDB_ARGS is word-split by the shell, as upstream's eval does.
	eval 'initdb --username="$POSTGRES_USER" --pwfile=<(printf "%s\n" "$POSTGRES_PASSWORD") '"$POSTGRES_INITDB_ARGS"' "${extra[@]}" "$@"'
	if [[ "${LD_PRELOAD:-}" == */libnss_wrapper.so ]]; then
		rm -f "$NSS_WRAPPER_PASSWD" "$NSS_WRAPPER_GROUP"
		unset LD_PRELOAD NSS_WRAPPER_PASSWD NSS_WRAPPER_GROUP
	fi
}

append_host_rule() { # server args: postgres decides the default method from its password_encryption
	[ "${1:-}" = postgres ] && shift
	local method
	method=$(postgres -C password_encryption "$@")
	: "${POSTGRES_HOST_AUTH_METHOD:=$method}"
	{
		echo
		[ "$POSTGRES_HOST_AUTH_METHOD" = trust ] && echo '# warning trust is enabled for all connections'
		echo "host all all all $POSTGRES_HOST_AUTH_METHOD"
	} >>"$PGDATA/pg_hba.conf"
}

sql() { # psql as the superuser, on the setup server's socket
	local run=(psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc)
	[ -n "$POSTGRES_DB" ] && run+=(--dbname "$POSTGRES_DB")
	PGHOST= PGHOSTADDR= "${run[@]}" "$@"
}
# The upstream entrypoint's name for it, which sourced init scripts may call.
docker_process_sql() { sql "$@"; }

setup_server_start() {
	[ "${1:-}" = postgres ] && shift
	# Socket only, so nothing outside the container reaches the cluster before its setup is done.
	set -- "$@" -c listen_addresses='' -p "${PGPORT:-5432}"
	NOTIFY_SOCKET= PGUSER="${PGUSER:-$POSTGRES_USER}" pg_ctl -D "$PGDATA" -o "$(printf '%q ' "$@")" -w start
}

setup_server_stop() {
	PGUSER="${PGUSER:-postgres}" pg_ctl -D "$PGDATA" -m fast -w stop
}

create_database() {
	local exists
	exists=$(POSTGRES_DB= sql --dbname postgres --set db="$POSTGRES_DB" --tuples-only <<-'EOSQL'
		SELECT 1 FROM pg_database WHERE datname = :'db' ;
	EOSQL
	)
	if [ -z "$exists" ]; then
		POSTGRES_DB= sql --dbname postgres --set db="$POSTGRES_DB" <<-'EOSQL'
			CREATE DATABASE :"db" ;
		EOSQL
	fi
}

run_init_files() {
	local f
	for f; do
		case "$f" in
			*.sh)
				if [ -x "$f" ]; then
					echo "$0: running $f"
					"$f"
				else
					echo "$0: sourcing $f"
					# shellcheck disable=SC1090
					. "$f"
				fi ;;
			*.sql) echo "$0: running $f"; sql -f "$f" ;;
			*.sql.gz) echo "$0: running $f"; gunzip -c "$f" | sql ;;
			*.sql.xz) echo "$0: running $f"; xzcat "$f" | sql ;;
			*.sql.zst) echo "$0: running $f"; zstd -dc "$f" | sql ;;
			*) echo "$0: ignoring $f" ;;
		esac
	done
}

main() {
	if [ "${1:0:1}" = - ]; then
		set -- postgres "$@"
	fi
	if [ "$1" = postgres ] && ! wants_help "$@"; then
		read_settings
		make_directories
		if [ "$(id -u)" = 0 ]; then
			exec gosu postgres "$BASH_SOURCE" "$@"
		fi
		if [ -z "$CLUSTER_EXISTS" ]; then
			refuse_bad_first_start
			ls /docker-entrypoint-initdb.d/ >/dev/null # fail now on an unreadable init directory
			initdb_cluster
			append_host_rule "$@"
			# psql needs it when local connections require a password (--auth-local in POSTGRES_INITDB_ARGS).
			export PGPASSWORD="${PGPASSWORD:-$POSTGRES_PASSWORD}"
			setup_server_start "$@"
			create_database
			shopt -s nullglob
			run_init_files /docker-entrypoint-initdb.d/*
			shopt -u nullglob
			setup_server_stop
			unset PGPASSWORD
			echo
			echo 'PostgreSQL init process complete; ready for start up.'
			echo
		else
			echo
			echo 'PostgreSQL Database directory appears to contain a database; Skipping initialization'
			echo
		fi
	fi
	exec "$@"
}

main "$@"

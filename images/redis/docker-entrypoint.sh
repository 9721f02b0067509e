#!/bin/sh
# The redis image's entrypoint, written for this project. It does what
# redis/docker-library-redis@e5650da99bb377b2ed4f9f1ef993ff24729b1c16 7.4/alpine/docker-entrypoint.sh does:
# - a first argument that is a flag (-x, --x) or a *.conf file means redis-server arguments;
# - redis-server started as root: whatever in the working directory (/data) is not owned by redis is chowned to
#   it, then the script re-executes itself as redis (gosu); other commands run as they are;
# - umask 0077 when it is the default 0022, so the RDB/AOF files are private;
# - exec: redis-server is PID 1 and gets docker stop's SIGTERM.
set -e
case "$1" in
	-*|*.conf) set -- redis-server "$@" ;;
esac
if [ "$1" = redis-server ] && [ "$(id -u)" = 0 ]; then
	find . \! -user redis -exec chown redis '{}' +
	exec gosu redis "$0" "$@"
fi
if [ "$(umask)" = 0022 ]; then
	umask 0077
fi
exec "$@"

#!/bin/sh
# Entrypoint of the versitygw image, with the interface of the official image's
# docker-entrypoint.sh (versity/versitygw at v1.7.0):
#   arguments given:  run versitygw with exactly those arguments;
#   none given:       build the command from the environment:
#     VGW_BACKEND       posix, scoutfs, s3, azure or plugin (required)
#     VGW_ARGS          global flags, word-split, placed before the backend
#     VGW_BACKEND_ARG   one argument after the backend (e.g. the posix directory), kept whole
#     VGW_BACKEND_ARGS  more backend arguments, word-split
#   VGW_BINARY          the binary (default /usr/local/bin/versitygw)
set -e

vgw=${VGW_BINARY:-/usr/local/bin/versitygw}
if [ ! -x "$vgw" ]; then
	echo "Entrypoint error: versitygw binary not found at $vgw" >&2
	exit 1
fi

if [ $# -gt 0 ]; then
	exec "$vgw" "$@"
fi

case "${VGW_BACKEND:-}" in
	posix | scoutfs | s3 | azure | plugin) ;;
	"")
		echo "No command arguments were given and VGW_BACKEND is unset: set VGW_BACKEND to posix, scoutfs, s3, azure or plugin, or pass the versitygw arguments to the container." >&2
		exit 1
		;;
	*)
		echo "VGW_BACKEND invalid backend (was '$VGW_BACKEND')." >&2
		exit 1
		;;
esac

# Global flags go before the backend subcommand; word splitting of the *_ARGS variables is intended.
# shellcheck disable=SC2086
set -- ${VGW_ARGS:-} "$VGW_BACKEND"
if [ -n "${VGW_BACKEND_ARG:-}" ]; then
	set -- "$@" "$VGW_BACKEND_ARG"
fi
# shellcheck disable=SC2086
set -- "$@" ${VGW_BACKEND_ARGS:-}

exec "$vgw" "$@"

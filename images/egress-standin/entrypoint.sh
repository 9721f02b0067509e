#!/usr/bin/env bash
# As livekit/egress@v1.14.1 build/egress/entrypoint.sh: clean /home/egress/tmp, raise the open-files limit, then
# exec the service under tini. (Upstream also starts PulseAudio for Chrome; the stand-in has neither.)
set -euo pipefail
rm -rf /home/egress/tmp/*
ulimit -n 65536 || true
exec /tini -- egress

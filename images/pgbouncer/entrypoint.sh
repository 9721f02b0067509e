#!/bin/sh
# As cloudnative-pg/pgbouncer-containers@7b391dfab305 entrypoint.sh: pgbouncer on its ini, as a child of sh
# (components/database.py replaces this entrypoint with pgbouncer itself, so it is PID 1 and gets SIGINT).
/usr/bin/pgbouncer /etc/pgbouncer/pgbouncer.ini

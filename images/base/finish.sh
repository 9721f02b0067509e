#!/bin/sh
# Runs inside the freshly debootstrapped bookworm root (chroot), before `docker import`.
# Part of the base's recipe: a change here changes the base tag (scripts/build-images).
set -eu
export DEBIAN_FRONTEND=noninteractive LC_ALL=C

# The point release's security and stable updates, on top of what debootstrap took from bookworm.
mirror=$1 security=$2
cat > /etc/apt/sources.list <<EOS
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb $security bookworm-security main
EOS
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
chmod 755 /usr/sbin/policy-rc.d
apt-get update -qq
apt-get -y -qq -o Dpkg::Options::=--force-confold upgrade
rm -f /usr/sbin/policy-rc.d

# en_US.UTF-8, what LANG names in the postgres and clickhouse images (docker-library/postgres's Debian
# variant makes it the same way).
localedef -i en_US -c -f UTF-8 -A /usr/share/locale/locale.alias en_US.UTF-8

# postgresql-common's postinst made a "main" cluster; no image wants one (an empty volume must stay empty).
for v in /etc/postgresql/*/main; do [ -d "$v" ] && pg_dropcluster "$(basename "$(dirname "$v")")" main || :; done
rm -rf /var/lib/postgresql/* /etc/postgresql/*
sed -i 's/^#\?\s*create_main_cluster.*/create_main_cluster = false/' /etc/postgresql-common/createcluster.conf

# No service users in the base: each image adds the official image's user with its uid/gid, and those
# collide across images (redis's gid 1000 is influxdb's too).
for u in postgres redis; do
  if getent passwd "$u" >/dev/null; then userdel "$u"; fi
  if getent group "$u" >/dev/null; then groupdel "$u"; fi
done

# Groups the packages created took gids from 100 up (ssl-cert: 101), where the official images put their own
# users (clickhouse is uid/gid 101): move them to 900 and up, fixing the files they own.
gid=900
for group in $(awk -F: '$3 >= 100 && $3 < 900 { print $1 }' /etc/group); do
  old=$(getent group "$group" | cut -d: -f3)
  groupmod -g "$gid" "$group"
  find / -xdev -gid "$old" -exec chgrp -h "$gid" '{}' +
  gid=$((gid + 1))
done
[ -z "$(awk -F: '$3 >= 100 && $3 < 65534' /etc/passwd)" ] || { echo "finish.sh: unexpected system users:" >&2; awk -F: '$3 >= 100 && $3 < 65534' /etc/passwd >&2; exit 1; }

# Package caches, lists, logs and docs (copyright files stay).
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/debconf/*-old /var/log/* /tmp/* /var/tmp/* \
  /usr/share/man/* /usr/share/info/* /usr/share/lintian/*
find /usr/share/doc -mindepth 1 ! -name copyright ! -type d -delete 2>/dev/null || :
find /usr/share/doc -mindepth 1 -type d -empty -delete 2>/dev/null || :
: > /etc/machine-id

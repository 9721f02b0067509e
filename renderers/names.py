"""Name rules several renderers share: what may reach a config line, a connection string or a shell word."""
from __future__ import annotations

import ipaddress
import re

# A Linux user name as useradd takes it by default (NAME_REGEX of adduser.conf, 32 characters).
LINUX_USER = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
# A PostgreSQL role or database name this project creates: lowercase, unquoted, within NAMEDATALEN (63 bytes).
POSTGRES_IDENTIFIER = re.compile(r"\A[a-z_][a-z0-9_]{0,62}\Z")
# A DNS name or a Docker network alias (those may hold '_'); never a space, '=', quote or ';' that would change
# a connection string, an ini line or a shell word.
HOST_NAME = re.compile(r"\A(?=.{1,253}\Z)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
                       r"(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\Z")


def is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def is_host(value: object) -> bool:
    """A host name, network alias or IP address."""
    return isinstance(value, str) and (HOST_NAME.match(value) is not None or is_ip(value))

"""redis.conf for the Cache component."""
from __future__ import annotations

from dataclasses import dataclass

# Room state and job queues must never be silently evicted; writes fail loudly instead.
MAXMEMORY_POLICY = "noeviction"


@dataclass(frozen=True, kw_only=True)
class RedisSettings:
    password: str
    port: int = 6379
    bind_address: str = "0.0.0.0"
    memory_limit_mb: int = 256
    data_dir: str = "/data"

    def __post_init__(self) -> None:
        if not self.password or any(c.isspace() or c == '"' for c in self.password):
            raise ValueError("password: must be non-empty, without whitespace or '\"'")
        if not 1 <= self.port <= 65535:
            raise ValueError(f"port: {self.port} is not in 1..65535")

    @property
    def maxmemory_mb(self) -> int:
        # Leave headroom under the container limit for the AOF rewrite's fork and buffers.
        return max(16, self.memory_limit_mb * 3 // 4)


def _conf_quoted(value: str) -> str:
    """Inside double quotes redis.conf reads backslash escapes (\\xHH, \\n, \\\\), so a literal
    backslash must be doubled or redis would enforce a different password than clients send.
    Whitespace and '"' are rejected by RedisSettings, so nothing else needs escaping."""
    return value.replace("\\", "\\\\")


def render_redis_conf(s: RedisSettings) -> str:
    return "\n".join(
        [
            f"bind {s.bind_address}",
            f"port {s.port}",
            "protected-mode yes",
            f'requirepass "{_conf_quoted(s.password)}"',
            f"dir {s.data_dir}",
            # Durability: every write is in the append-only file within a second of acknowledging it.
            "appendonly yes",
            "appendfsync everysec",
            "aof-use-rdb-preamble yes",
            f"maxmemory {s.maxmemory_mb}mb",
            f"maxmemory-policy {MAXMEMORY_POLICY}",
            "",
        ]
    )


def redis_healthcheck(port: int) -> tuple[str, ...]:
    """Authenticated PING: redis-cli reads the password from REDISCLI_AUTH, so it is not on the command line.

    An unauthenticated PING gets NOAUTH with exit status 0, hence the match on PONG.
    """
    return ("CMD-SHELL", f"redis-cli -h 127.0.0.1 -p {port} ping | grep -q PONG")

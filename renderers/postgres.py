"""Server settings and probes for the Database component (official postgres image)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class PostgresSettings:
    version: str  # "18.1"
    user: str
    database: str
    port: int = 5432
    listen_address: str = "*"
    memory_limit_mb: int = 512

    @property
    def major(self) -> int:
        return int(self.version.split(".", 1)[0])

    @property
    def volume_path(self) -> str:
        """Where the data volume is mounted.

        From postgres 18 the image keeps PGDATA in a major-versioned directory under
        /var/lib/postgresql (so pg_upgrade --link works) and declares the volume there;
        before 18 it is /var/lib/postgresql/data.
        """
        return "/var/lib/postgresql" if self.major >= 18 else "/var/lib/postgresql/data"

    @property
    def shm_size_mb(self) -> int:
        # Docker's default 64 MB /dev/shm is too small for parallel queries.
        return max(64, min(1024, self.memory_limit_mb // 4))


def postgres_server_args(s: PostgresSettings) -> list[str]:
    """`-c` settings sized to the container's memory limit (the usual 25% / 75% rule)."""
    shared_buffers = max(32, s.memory_limit_mb // 4)
    return [
        "-c", f"listen_addresses={s.listen_address}",
        "-c", f"port={s.port}",
        "-c", f"shared_buffers={shared_buffers}MB",
        "-c", f"effective_cache_size={max(64, s.memory_limit_mb * 3 // 4)}MB",
        "-c", "password_encryption=scram-sha-256",
        "-c", "log_min_duration_statement=1000",
    ]


# initdb's default trusts every local connection; with host networking that would be any
# process on the VM, so local and loopback connections need the password too.
INITDB_ARGS = "--auth-local=scram-sha-256 --auth-host=scram-sha-256"


def postgres_healthcheck(s: PostgresSettings) -> tuple[str, ...]:
    return ("CMD", "pg_isready", "-h", "127.0.0.1", "-p", str(s.port), "-U", s.user, "-d", s.database)


def backup_command(s: PostgresSettings, container: str) -> str:
    """A logical backup of the database to a local file, in pg_restore's custom format."""
    dump = f"pg_dump -h 127.0.0.1 -p {s.port} -U {s.user} -Fc {s.database}"
    return f"docker exec {container} sh -c 'PGPASSWORD=\"$POSTGRES_PASSWORD\" {dump}' > {s.database}.dump"

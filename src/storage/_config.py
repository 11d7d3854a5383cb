"""Connection settings, checked before anything connects. No I/O.

Three deployments, told apart by the URL alone:

- `redis://` / `rediss://` naming a single server: that server;
- the same naming any node of a Redis Cluster: the cluster (the drivers find out at connect
  time, from `INFO cluster`);
- `redis+sentinel://[[user]:password@]host:port[,host:port...]/service_name[/db]` (and
  `rediss+sentinel://` for TLS): the primary the sentinels name for `service_name`. The
  password is the data nodes'; the sentinels are asked without one.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from redis.connection import parse_url

from ._errors import StorageConfigurationError

_CREDENTIALS = re.compile(r"//[^@/]*@")
_SENTINEL_SCHEMES = {"redis+sentinel": False, "rediss+sentinel": True}
_SERVICE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def redact_url(url: str) -> str:
    """`url` with any password replaced by `***`, safe for errors and logs."""
    try:
        parts = urlsplit(url)
        has_password = parts.password is not None
    except ValueError:
        return _CREDENTIALS.sub("//***@", url)
    if not has_password:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=f"{user}:***@{host}").geturl()


@dataclass(frozen=True, slots=True)
class SentinelSettings:
    """Where the sentinels are and which primary to ask them for."""

    sentinels: tuple[tuple[str, int], ...]
    service_name: str
    db: int
    username: str | None
    password: str | None
    ssl: bool


def _sentinel_address(text: str) -> tuple[str, int]:
    host, separator, port = text.rpartition(":")
    if not separator or not host:
        raise ValueError(f"a sentinel address must be host:port, got {text!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"invalid sentinel port {port!r}")
    return host, int(port)


def parse_sentinel_url(url: str) -> SentinelSettings | None:
    """The Sentinel settings of a `redis+sentinel://` URL; `None` for any other scheme."""
    scheme, separator, rest = url.partition("://")
    if not separator or scheme.lower() not in _SENTINEL_SCHEMES:
        return None
    netloc, _, path = rest.partition("/")
    credentials, at, hosts = netloc.rpartition("@")
    username: str | None = None
    password: str | None = None
    if at:
        user, _, secret = credentials.partition(":")
        username, password = unquote(user) or None, unquote(secret) or None
    sentinels = tuple(_sentinel_address(address) for address in hosts.split(","))
    parts = path.split("/")
    if not parts[0] or len(parts) > 2 or not _SERVICE_NAME.fullmatch(parts[0]):
        raise ValueError("expected /service_name or /service_name/db after the sentinels")
    database = parts[1] if len(parts) == 2 else "0"
    if not database.isdigit():
        raise ValueError(f"the database must be a number, got {database!r}")
    return SentinelSettings(
        sentinels, parts[0], int(database), username, password, _SENTINEL_SCHEMES[scheme.lower()]
    )


def _replica_count(wait_for_replicas: int | None) -> int:
    text = os.environ.get("REDIS_WAIT_REPLICAS", "0")
    try:
        count = int(text) if wait_for_replicas is None else wait_for_replicas
    except ValueError:
        count = -1
    if isinstance(count, bool) or count < 0:
        raise StorageConfigurationError(
            "wait_for_replicas (REDIS_WAIT_REPLICAS) must be a whole number of replicas, 0 or more"
        )
    return count


@dataclass(frozen=True, slots=True)
class StorageConfig:
    """Where Redis is and how long to wait for it."""

    url: str
    connect_timeout: float
    timeout: float
    max_connections: int
    sentinel: SentinelSettings | None
    wait_for_replicas: int = 0
    """Replicas that must acknowledge a grant-critical write (`WAIT`); 0: none."""
    replica_wait_timeout: float = 0.1
    """Seconds such a write waits for them at most."""

    @classmethod
    def create(
        cls,
        redis_url: str | None,
        *,
        connect_timeout: float,
        timeout: float,
        max_connections: int,
        wait_for_replicas: int | None = None,
        replica_wait_timeout: float = 0.1,
    ) -> StorageConfig:
        """Validate the settings; the URL falls back to `REDIS_URL`, `wait_for_replicas` to
        `REDIS_WAIT_REPLICAS` (else 0)."""
        url = redis_url if redis_url is not None else os.environ.get("REDIS_URL")
        if not url:
            raise StorageConfigurationError(
                "no Redis URL: pass redis_url=... or set REDIS_URL "
                "(the composition root starts an embedded Redis when neither is given)"
            )
        try:
            sentinel = parse_sentinel_url(url)
            if sentinel is None:
                parse_url(url)
            database = urlsplit(url).path.strip("/")
            # redis-py silently falls back to db 0 for a non-numeric path.
            if url.startswith(("redis://", "rediss://")) and database and not database.isdigit():
                raise ValueError(f"the database must be a number, got {database!r}")
        except ValueError as exc:
            raise StorageConfigurationError(
                f"invalid Redis URL {redact_url(url)!r}: {exc}"
            ) from None
        for name, value in (("connect_timeout", connect_timeout), ("timeout", timeout)):
            if not value > 0:
                raise StorageConfigurationError(f"{name} must be a positive number of seconds")
        if max_connections < 1:
            raise StorageConfigurationError("max_connections must be at least 1")
        replicas = _replica_count(wait_for_replicas)
        if not replica_wait_timeout > 0:
            raise StorageConfigurationError(
                "replica_wait_timeout must be a positive number of seconds"
            )
        return cls(
            url, connect_timeout, timeout, max_connections, sentinel, replicas, replica_wait_timeout
        )

    @property
    def redacted_url(self) -> str:
        """The URL without its password."""
        return redact_url(self.url)

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments shared by the sync and the async connection pool."""
        return {
            "socket_connect_timeout": self.connect_timeout,
            "socket_timeout": self.timeout,
            "max_connections": self.max_connections,
        }

    def sentinel_options(self) -> dict[str, Any]:
        """Keyword arguments of the connections to the sentinels themselves."""
        assert self.sentinel is not None
        return {
            "socket_connect_timeout": self.connect_timeout,
            "socket_timeout": self.timeout,
            "ssl": self.sentinel.ssl,
        }

    def sentinel_data_options(self) -> dict[str, Any]:
        """Keyword arguments of the pool on the primary the sentinels name."""
        assert self.sentinel is not None
        return {
            **self.client_options(),
            "db": self.sentinel.db,
            "username": self.sentinel.username,
            "password": self.sentinel.password,
            "ssl": self.sentinel.ssl,
        }

    @property
    def replica_wait_ms(self) -> int:
        """`replica_wait_timeout` as the milliseconds `WAIT` takes (at least 1: 0 would
        wait forever)."""
        return max(1, round(self.replica_wait_timeout * 1000))

    def no_replica_wait_on_cluster(self) -> StorageConfigurationError:
        """The error for `wait_for_replicas` on a Redis Cluster, where a write's `WAIT` would
        have to go to the node of the write's slot: not done."""
        return StorageConfigurationError(
            f"{self.redacted_url} is a Redis Cluster node: wait_for_replicas "
            "(REDIS_WAIT_REPLICAS) works on a single node or under Sentinel only"
        )

    def check_cluster_database(self) -> None:
        """Raise `StorageConfigurationError` unless the URL names database 0, the only one a
        Redis Cluster has; called once the server turned out to be a cluster node."""
        database = urlsplit(self.url).path.strip("/")
        if database not in ("", "0"):
            raise StorageConfigurationError(
                f"{self.redacted_url} is a Redis Cluster node: a cluster has only database 0"
            )

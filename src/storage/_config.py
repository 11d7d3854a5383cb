"""Connection settings, checked before anything connects. No I/O."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from redis.connection import parse_url

from ._errors import StorageConfigurationError

_CREDENTIALS = re.compile(r"//[^@/]*@")


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
class StorageConfig:
    """Where Redis is and how long to wait for it."""

    url: str
    connect_timeout: float
    timeout: float
    max_connections: int

    @classmethod
    def create(
        cls,
        redis_url: str | None,
        *,
        connect_timeout: float,
        timeout: float,
        max_connections: int,
    ) -> StorageConfig:
        """Validate the settings; the URL falls back to `REDIS_URL`."""
        url = redis_url if redis_url is not None else os.environ.get("REDIS_URL")
        if not url:
            raise StorageConfigurationError(
                "no Redis URL: pass redis_url=... or set REDIS_URL "
                "(the composition root starts an embedded Redis when neither is given)"
            )
        try:
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
        return cls(url, connect_timeout, timeout, max_connections)

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

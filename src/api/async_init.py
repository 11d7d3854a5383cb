"""The API's async components, built from the storage the composition root passes in.

This module never creates a storage: the real migration left a fallback
`AsyncRedisStorage(redis_url)` here, which gave the process a second storage whose
defaults differed (and `/token` then demanded a bearer token).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..certmanager.async_manager import AsyncCertificateManager
from ..docker.async_manager import AsyncDockerManager
from ..docker.cli import DockerCli
from ..ports.async_manager import AsyncPortManager
from ..storage import UnifiedStorage, redact_url
from .routers.mcp import EventPublisher, McpToolServer, SessionManager
from .routers.oauth import OAuthSettings

DEFAULT_PORT_RANGE = (20000, 20999)
"""The host ports Docker services get: below Linux's ephemeral range (32768-60999), so a
port the kernel hands to an outgoing connection never collides with one allocated here."""
DEFAULT_OAUTH_ISSUER = "http://localhost:8080"
"""The `localhost` proxy target as `python -m src serve` publishes it by default."""


@dataclass(frozen=True, slots=True)
class AsyncComponents:
    """What the gateway serves with; every component shares the one storage."""

    storage: UnifiedStorage
    redis_url: str
    """Where the storage lives, password redacted (for status pages and logs)."""
    ports: AsyncPortManager
    docker: AsyncDockerManager
    certificates: AsyncCertificateManager
    mcp_sessions: SessionManager
    mcp_events: EventPublisher
    mcp_tools: McpToolServer
    oauth: OAuthSettings


async def init_async_components(
    redis_url: str,
    storage: UnifiedStorage,
    *,
    port_range: tuple[int, int] = DEFAULT_PORT_RANGE,
    oauth_issuer: str = DEFAULT_OAUTH_ISSUER,
) -> AsyncComponents:
    """Build the async components on `storage`; nothing is read or written yet.

    Args:
        redis_url: where `storage` lives; kept only in redacted form.
        storage: the process's one storage, from the composition root.
        port_range: the first and last host port (inclusive) Docker services are given.
        oauth_issuer: the OAuth server's public base URL (see `OAuthSettings.issuer`).

    Raises `ValueError` for an empty or invalid port range or an invalid issuer.
    """
    ports = AsyncPortManager(storage, *port_range)
    return AsyncComponents(
        storage=storage,
        redis_url=redact_url(redis_url),
        ports=ports,
        docker=AsyncDockerManager(storage, ports, DockerCli()),
        certificates=AsyncCertificateManager(storage),
        mcp_sessions=SessionManager(storage),
        mcp_events=EventPublisher(storage),
        mcp_tools=McpToolServer(storage),
        oauth=OAuthSettings(issuer=oauth_issuer),
    )

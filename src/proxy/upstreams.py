"""The proxy's upstream connections: one pool per proxy target, so that a slow or hanging
target fills its own pool and never delays another target.

The pools are httpcore's, the connection layer of httpx, used directly: the request the
proxy forwards is already complete (`forwarding` has set every header, `Host` and the
body's framing included), so httpx's client layer would only add work to every request
(its header model, auth and redirect handling, a cookie jar) and nothing the proxy uses.

A request that finds its target's pool full waits `upstream_pool_timeout` for a free
connection, then fails with `httpcore.PoolTimeout` (the proxy answers 503).
"""

from __future__ import annotations

from collections.abc import AsyncIterable

import httpcore
import httpx

from .forwarding import Header, UpstreamURL
from .network import AsyncioBackend
from .settings import ProxySettings

UPSTREAM_ERRORS: tuple[type[Exception], ...] = (
    httpcore.TimeoutException,
    httpcore.NetworkError,
    httpcore.ProtocolError,
    httpcore.UnsupportedProtocol,
)
"""What a failed upstream exchange raises: connecting, sending, or receiving."""


def upstream_pool(settings: ProxySettings) -> httpcore.AsyncConnectionPool:
    """A connection pool fit for forwarding to one target's upstreams: HTTP/1.1, TLS
    verified against certifi's roots (as httpx does, ignoring the environment), at most
    `upstream_connections` connections, each kept `upstream_keepalive` seconds when idle,
    no retry, and asyncio sockets (`network`)."""
    return httpcore.AsyncConnectionPool(
        network_backend=AsyncioBackend(settings.upstream_buffer_size),
        ssl_context=httpx.create_ssl_context(trust_env=False),
        max_connections=settings.upstream_connections,
        max_keepalive_connections=settings.upstream_connections,
        keepalive_expiry=settings.upstream_keepalive,
    )


class UpstreamPools:
    """The connection pools of the proxy targets, one per target hostname, created on
    first use.

    Args:
        settings: the bounds every pool and request gets: `upstream_timeout` bounds
            connecting and each read and write, `upstream_pool_timeout` the wait for a
            connection.
    """

    def __init__(self, settings: ProxySettings) -> None:
        self._settings = settings
        self._timeouts = {
            "connect": settings.upstream_timeout,
            "read": settings.upstream_timeout,
            "write": settings.upstream_timeout,
            "pool": settings.upstream_pool_timeout,
        }
        self._pools: dict[str, httpcore.AsyncConnectionPool] = {}

    async def send(
        self,
        hostname: str,
        method: str,
        url: UpstreamURL,
        headers: list[Header],
        body: AsyncIterable[bytes] | None,
    ) -> httpcore.Response:
        """Send a request through the pool of the target `hostname`; the response's body
        is streamed (close it). `url`'s request target goes out byte for byte; `headers`
        are all the request's. Raises one of `UPSTREAM_ERRORS`, or what `body` raises."""
        pool = self._pools.get(hostname)
        if pool is None:
            pool = self._pools[hostname] = upstream_pool(self._settings)
        request = httpcore.Request(
            method,
            httpcore.URL(scheme=url.scheme, host=url.host, port=url.port, target=url.target),
            headers=headers,
            content=body,
            extensions={"timeout": self._timeouts},
        )
        return await pool.handle_async_request(request)

    async def aclose(self) -> None:
        """Close every pool's connections."""
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            await pool.aclose()

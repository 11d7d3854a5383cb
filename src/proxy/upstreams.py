"""The proxy's upstream connections: one pool per proxy target, so that a slow or hanging
target fills its own pool and never delays another target.

A request that finds its target's pool full waits `upstream_pool_timeout` for a free
connection, then fails with `httpx.PoolTimeout` (the proxy answers 503).
"""

from __future__ import annotations

from http.cookiejar import CookieJar, DefaultCookiePolicy

import httpx

from .settings import ProxySettings


def proxy_http_client(settings: ProxySettings) -> httpx.AsyncClient:
    """An HTTP client fit for forwarding to one target's upstreams.

    It ignores proxy settings of the environment, follows no redirect (the client gets
    them), and keeps no cookie (an upstream's cookies belong to the client, and a shared jar
    would grow without end). Its pool holds `upstream_connections`; `upstream_timeout`
    bounds connecting and each read and write.
    """
    return httpx.AsyncClient(
        timeout=httpx.Timeout(settings.upstream_timeout, pool=settings.upstream_pool_timeout),
        limits=httpx.Limits(
            max_connections=settings.upstream_connections,
            max_keepalive_connections=settings.upstream_connections,
        ),
        trust_env=False,
        follow_redirects=False,
        cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
    )


class UpstreamPools:
    """The HTTP clients of the proxy targets, one per target hostname, created on first use.

    Args:
        settings: the bounds every pool gets.
    """

    def __init__(self, settings: ProxySettings) -> None:
        self._settings = settings
        self._clients: dict[str, httpx.AsyncClient] = {}

    def client_for(self, hostname: str) -> httpx.AsyncClient:
        """The client that forwards the traffic of the target `hostname`."""
        client = self._clients.get(hostname)
        if client is None:
            client = self._clients[hostname] = proxy_http_client(self._settings)
        return client

    async def aclose(self) -> None:
        """Close every pool's connections."""
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()

"""The proxy's limits: every bound on a client or a backend, with its default, in one place.

`python -m src serve` takes each as an option of the same name (`--head-timeout`, ...);
the README's table lists them. nginx's and Envoy's names for the same bound are given
where they differ, so an operator can carry a configuration over.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network, ip_address

MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class ProxySettings:
    """The proxy's bounds on clients and backends.

    Attributes:
        head_timeout: seconds a client gets to send a whole request head, from the moment
            the connection opens (or its previous response ends); past it, 408 and the
            connection is closed (nginx: `client_header_timeout`).
        body_timeout: seconds a request body may sit idle between two reads; past it, 408
            (nginx: `client_body_timeout`).
        max_body_size: bytes of request body a target accepts, unless its own
            `max_body_size` says otherwise; past it, 413 (nginx: `client_max_body_size`).
        max_connections_per_client: open connections one client address may hold; a
            connection past it is answered 503 at once and closed (nginx: `limit_conn`).
        upstream_connections: open connections to the upstreams of one proxy target
            (Envoy: a cluster's `max_connections`).
        upstream_pool_timeout: seconds a request waits for a free upstream connection of
            its target; past it, 503.
        upstream_timeout: seconds to connect to an upstream, and for each read and write
            (nginx: `proxy_connect_timeout`, `proxy_read_timeout`, `proxy_send_timeout`).
        upstream_keepalive: seconds an idle upstream connection is kept for the next request
            of its target; past it, the connection is closed (nginx: `keepalive_timeout` of
            an upstream).
        upstream_buffer_size: bytes of a response one upstream connection holds, received
            and not yet passed on to the client; past it, the proxy stops reading from the
            upstream until the client catches up (Envoy:
            `per_connection_buffer_limit_bytes`).
        trusted_proxies: networks whose `Forwarded`, `X-Forwarded-*` and `X-Real-IP`
            headers are believed and extended; from any other peer they are replaced.
    """

    head_timeout: float = 10.0
    body_timeout: float = 15.0
    max_body_size: int = 4 * MIB
    max_connections_per_client: int = 64
    upstream_connections: int = 32
    upstream_pool_timeout: float = 1.0
    upstream_timeout: float = 30.0
    upstream_keepalive: float = 5.0
    upstream_buffer_size: int = 64 * 1024
    trusted_proxies: tuple[IPv4Network | IPv6Network, ...] = ()

    def __post_init__(self) -> None:
        for name in (
            "head_timeout",
            "body_timeout",
            "upstream_pool_timeout",
            "upstream_timeout",
            "upstream_keepalive",
        ):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be a positive number of seconds")
        for name in (
            "max_body_size",
            "max_connections_per_client",
            "upstream_connections",
            "upstream_buffer_size",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")

    def is_trusted_proxy(self, address: str | None) -> bool:
        """Whether the peer `address` is one of the trusted proxies."""
        if address is None or not self.trusted_proxies:
            return False
        try:
            peer = ip_address(address)
        except ValueError:
            return False
        return any(peer in network for network in self.trusted_proxies)

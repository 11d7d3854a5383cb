"""The proxy's settings: the defaults are valid, a bound that cannot work is refused."""

from __future__ import annotations

import math
from ipaddress import ip_network

import pytest

from src.proxy.settings import ProxySettings

SECONDS = (
    "head_timeout",
    "body_timeout",
    "upstream_pool_timeout",
    "upstream_timeout",
    "upstream_keepalive",
)
COUNTS = (
    "max_body_size",
    "max_connections_per_client",
    "upstream_connections",
    "upstream_buffer_size",
)


@pytest.mark.parametrize("name", SECONDS)
@pytest.mark.parametrize("value", [0, -1.5, math.nan])
def test_a_timeout_must_be_a_positive_number_of_seconds(name: str, value: float) -> None:
    with pytest.raises(ValueError, match=f"^{name} must be a positive number of seconds$"):
        ProxySettings(**{name: value})  # type: ignore[arg-type]


@pytest.mark.parametrize("name", SECONDS)
def test_a_timeout_may_be_a_fraction_of_a_second(name: str) -> None:
    assert getattr(ProxySettings(**{name: 0.25}), name) == 0.25  # type: ignore[arg-type]


@pytest.mark.parametrize("name", COUNTS)
@pytest.mark.parametrize("value", [0, -1])
def test_a_count_must_be_at_least_one(name: str, value: int) -> None:
    with pytest.raises(ValueError, match=f"^{name} must be at least 1$"):
        ProxySettings(**{name: value})  # type: ignore[arg-type]


@pytest.mark.parametrize("name", COUNTS)
def test_a_count_of_one_is_allowed(name: str) -> None:
    assert getattr(ProxySettings(**{name: 1}), name) == 1  # type: ignore[arg-type]


TRUSTING = ProxySettings(trusted_proxies=(ip_network("10.0.0.0/8"), ip_network("fd00::/8")))


@pytest.mark.parametrize(
    ("address", "trusted"),
    [
        ("10.1.2.3", True),
        ("fd00::1", True),
        ("11.0.0.1", False),
        ("fe80::1", False),
        ("127.0.0.1", False),
        (None, False),
        ("not an address", False),
        ("", False),
    ],
)
def test_only_peers_inside_a_trusted_network_are_trusted_proxies(
    address: str | None, trusted: bool
) -> None:
    assert TRUSTING.is_trusted_proxy(address) is trusted


def test_no_peer_is_a_trusted_proxy_by_default() -> None:
    assert ProxySettings().is_trusted_proxy("10.1.2.3") is False

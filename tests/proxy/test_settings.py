"""The proxy's settings: bounds that make no sense are refused, and which peers are
trusted proxies."""

from __future__ import annotations

from ipaddress import ip_network

import pytest

from src.proxy.settings import ProxySettings


@pytest.mark.parametrize(
    "name", ["head_timeout", "body_timeout", "upstream_pool_timeout", "upstream_timeout"]
)
@pytest.mark.parametrize("value", [0, -1.0, float("nan")])
def test_timeouts_must_be_positive(name: str, value: float) -> None:
    with pytest.raises(ValueError, match=f"{name} must be a positive number of seconds"):
        ProxySettings(**{name: value})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "name", ["max_body_size", "max_connections_per_client", "upstream_connections"]
)
@pytest.mark.parametrize("value", [0, -5])
def test_counts_must_be_at_least_one(name: str, value: int) -> None:
    with pytest.raises(ValueError, match=f"{name} must be at least 1"):
        ProxySettings(**{name: value})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("address", "trusted"),
    [
        ("10.1.2.3", True),
        ("10.255.255.255", True),
        ("11.0.0.1", False),
        ("2001:db8::7", True),
        ("2001:db9::7", False),
        ("::ffff:10.1.2.3", False),
        ("not an address", False),
        ("", False),
        (None, False),
    ],
)
def test_trusted_proxies_are_the_configured_networks(address: str | None, trusted: bool) -> None:
    settings = ProxySettings(
        trusted_proxies=(ip_network("10.0.0.0/8"), ip_network("2001:db8::/32"))
    )
    assert settings.is_trusted_proxy(address) is trusted


def test_no_peer_is_trusted_by_default() -> None:
    assert not ProxySettings().is_trusted_proxy("127.0.0.1")

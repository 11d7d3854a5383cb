"""Route choice: route modes, whole-segment patterns, priorities, methods, destinations."""

from __future__ import annotations

from typing import Any

import pytest

from src.proxy.routing import (
    UnroutableError,
    ViaHostname,
    applicable_routes,
    checked_base_url,
    choose_route,
    path_matches,
    route_destination,
)
from src.storage import ProxyTarget, Route, RouteMode, RouteTargetType


def route(route_id: str, pattern: str = "/api", **fields: Any) -> Route:
    values: dict[str, Any] = {
        "route_id": route_id,
        "path_pattern": pattern,
        "target_type": RouteTargetType.URL,
        "target_value": f"http://{route_id}.internal:8080",
    }
    values.update(fields)
    return Route(**values)


def target(**fields: Any) -> ProxyTarget:
    return ProxyTarget(hostname="app.example.com", target_url="http://app:80", **fields)


ROUTES = [route("a"), route("b"), route("c", enabled=False)]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, ["a", "b"]),
        ({"disabled_routes": ["a"]}, ["b"]),
        ({"route_mode": RouteMode.SELECTIVE}, []),
        ({"route_mode": RouteMode.SELECTIVE, "enabled_routes": ["b", "c"]}, ["b"]),
        ({"route_mode": RouteMode.NONE, "enabled_routes": ["a"]}, []),
    ],
)
def test_applicable_routes(fields: dict[str, Any], expected: list[str]) -> None:
    assert [r.route_id for r in applicable_routes(target(**fields), ROUTES)] == expected


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("/api", "/api", True),
        ("/api", "/api/", True),
        ("/api", "/api/v1/x", True),
        ("/api", "/apis", False),
        ("/api", "/api.json", False),
        ("/api", "/API", False),
        ("/api", "/", False),
        ("/api/", "/api/x", True),
        ("/api/", "/api/", True),
        ("/api/", "/api", False),
        ("/", "/anything", True),
        ("/a/b", "/a/b/c", True),
        ("/a/b", "/a/bc", False),
    ],
)
def test_path_matches(pattern: str, path: str, expected: bool) -> None:
    assert path_matches(pattern, path) is expected


def test_choose_route_takes_the_first_match_in_priority_order() -> None:
    routes = [
        route("narrow", "/api/admin", priority=90),
        route("posts", "/api", priority=80, methods=["post"]),
        route("broad", "/api", priority=10),
    ]
    assert choose_route(routes, "/api/admin/x", "GET") == routes[0]
    assert choose_route(routes, "/api/x", "POST") == routes[1]
    assert choose_route(routes, "/api/x", "GET") == routes[2]
    assert choose_route(routes, "/other", "GET") is None
    assert choose_route([], "/api", "GET") is None


def test_destinations() -> None:
    assert route_destination(route("u")) == "http://u.internal:8080"
    port = route("p", target_type=RouteTargetType.PORT, target_value="9001")
    assert route_destination(port) == "http://127.0.0.1:9001"
    via = route("h", target_type=RouteTargetType.HOSTNAME, target_value="other.example.com")
    assert route_destination(via) == ViaHostname("other.example.com")
    service = route("s", target_type=RouteTargetType.SERVICE, target_value="web")
    with pytest.raises(UnroutableError, match="unknown service"):
        route_destination(service)


@pytest.mark.parametrize("value", ["0", "65536", "-1", "80a", "", "٣", " 80", "1e3"])
def test_bad_port_routes(value: str) -> None:
    with pytest.raises(UnroutableError, match="no valid port"):
        route_destination(route("p", target_type=RouteTargetType.PORT, target_value=value))


@pytest.mark.parametrize(
    "url",
    [
        "ftp://x/",
        "x.internal:8080",
        "/relative",
        "http://",
        "http://x:99999",
        "http://x:port",
        "http://x/?q=1",
        "http://x/#f",
        "http://user:secret@x/",
        "http://user@x/",
        "http://bücher.example/",
        "http://x/ä",
        "",
    ],
)
def test_bad_base_urls(url: str) -> None:
    with pytest.raises(UnroutableError):
        checked_base_url(url)
    with pytest.raises(UnroutableError):
        route_destination(route("u", target_value=url))


@pytest.mark.parametrize(
    "url",
    [
        "http://x",
        "https://x.example.com:8443/base/",
        "http://127.0.0.1:9000",
        "http://[::1]:8080/b",
        "http://xn--bcher-kva.example/",
    ],
)
def test_good_base_urls(url: str) -> None:
    assert checked_base_url(url) == url

"""Where a request goes: which routes apply to a proxy target, which one matches, and the
upstream it names. No I/O.

Routes are matched, like auth exclusions, on the path as the client sent it (undecoded),
by whole segments: `/api` matches `/api` and `/api/...`, never `/apis`; a pattern ending
in `/` matches what lies below it; `/` matches every path. Routing is not a security
boundary (authentication is decided before, on the target's own rules), so a path a
server would read differently simply misses a route and goes to the target's URL.

The gateway's own API (`API_URL`) is served on the gateway's host (`localhost`) only: a
route naming it applies to that host alone, so the default OAuth routes never take over
paths of other hosts.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from ..storage import API_URL, LOCALHOST, ProxyTarget, Route, RouteMode, RouteTargetType

_MAX_PORT = 65535


class UnroutableError(Exception):
    """A route or target names an upstream the proxy cannot forward to; the message says
    why, without the request's details."""


@dataclass(frozen=True, slots=True)
class ViaHostname:
    """A route that forwards to the URL of another proxy target."""

    hostname: str


def applicable_routes(target: ProxyTarget, routes: Sequence[Route]) -> list[Route]:
    """The enabled routes `target`'s route mode lets apply, in the order given; on a host
    other than the gateway's, none that names the gateway's API."""
    if target.route_mode is RouteMode.NONE:
        return []
    enabled = [
        route
        for route in routes
        if route.enabled and (target.hostname == LOCALHOST or not _names_the_api(route))
    ]
    if target.route_mode is RouteMode.SELECTIVE:
        return [route for route in enabled if route.route_id in target.enabled_routes]
    return [route for route in enabled if route.route_id not in target.disabled_routes]


def is_gateway_api(url: str) -> bool:
    """Whether the upstream URL `url` is the gateway's own API, which the proxy serves
    in-process: nothing listens on `API_URL`."""
    return url.rstrip("/") == API_URL


def _names_the_api(route: Route) -> bool:
    return route.target_type is RouteTargetType.URL and is_gateway_api(route.target_value)


def path_matches(pattern: str, path: str) -> bool:
    """Whether the route pattern `pattern` covers `path`, by whole segments."""
    if pattern.endswith("/"):
        return path.startswith(pattern)
    return path == pattern or path.startswith(f"{pattern}/")


def choose_route(routes: Sequence[Route], path: str, method: str) -> Route | None:
    """The first of `routes` (highest priority first) matching `path` and `method`."""
    for route in routes:
        methods = route.methods
        if path_matches(route.path_pattern, path) and (
            methods is None or method.upper() in (allowed.upper() for allowed in methods)
        ):
            return route
    return None


def checked_base_url(url: str) -> str:
    """`url` if the proxy can forward to it (absolute http(s), ASCII, no credentials, no
    query or fragment), else `UnroutableError`."""
    checked_base_url_parts(url)
    return url


# Cached: a target's URL is checked on each of its requests, and the parts never change.
@functools.lru_cache(maxsize=1024)
def checked_base_url_parts(url: str) -> SplitResult:
    """`checked_base_url`, answering with the URL's parts."""
    if not url.isascii():
        raise UnroutableError("the upstream URL is not ASCII (an IDN host goes in its xn-- form)")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        raise UnroutableError("the upstream URL is malformed") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnroutableError("the upstream URL is not an absolute http(s) URL")
    if parts.username is not None or parts.password is not None:
        # Credentials belong in a target's custom headers, where they are sent as written.
        raise UnroutableError("the upstream URL holds credentials")
    if parts.query or parts.fragment:
        raise UnroutableError("the upstream URL has a query or fragment")
    return parts


def route_destination(route: Route) -> str | ViaHostname:
    """The base URL `route` forwards to, or the proxy target whose URL it borrows.

    Raises `UnroutableError` for a `service` route (services are not resolved yet: the
    proxy answers 502 "unknown service") and for a malformed target value.
    """
    value = route.target_value
    if route.target_type is RouteTargetType.URL:
        return checked_base_url(value)
    if route.target_type is RouteTargetType.PORT:
        if not value.isascii() or not value.isdigit() or not 0 < int(value) <= _MAX_PORT:
            raise UnroutableError(f"route {route.route_id!r} names no valid port")
        return f"http://127.0.0.1:{int(value)}"
    if route.target_type is RouteTargetType.HOSTNAME:
        return ViaHostname(value)
    raise UnroutableError(f"route {route.route_id!r} forwards to an unknown service")

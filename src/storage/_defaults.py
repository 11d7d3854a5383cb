"""The records every process must see, and how an existing record is repaired. No I/O.

Startup used to build several storages with different defaults; one of them wrote the
`localhost` proxy target without `auth_excluded_paths`, and `/token` then demanded a bearer
token. Every entry point now writes (and repairs) the same defaults through `initialize()`.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from ._codec import decode_record, encode_record
from ._errors import CorruptRecordError
from ._models import ProxyTarget, Route, RouteTargetType

LOCALHOST = "localhost"
# The gateway's own API, which serves the OAuth endpoints below.
API_URL = "http://127.0.0.1:9000"
AUTH_EXCLUDED_PATHS: tuple[str, ...] = (
    "/token",
    "/device/",
    "/authorize",
    "/callback",
    "/jwks",
    "/.well-known/",
    "/register",
    "/health",
    "/revoke",
    "/introspect",
)
# The OAuth endpoints go to the API whatever else a target routes.
_OAUTH_ROUTE_PRIORITY = 95


def default_localhost_target() -> ProxyTarget:
    """The `localhost` proxy target as a fresh installation has it."""
    return ProxyTarget(
        hostname=LOCALHOST,
        target_url=API_URL,
        auth_enabled=True,
        auth_excluded_paths=list(AUTH_EXCLUDED_PATHS),
    )


def default_routes() -> list[Route]:
    """The routes a fresh installation has."""
    return [
        Route(
            route_id=f"oauth-{path.strip('/.').replace('/', '-')}",
            path_pattern=path,
            target_type=RouteTargetType.URL,
            target_value=API_URL,
            priority=_OAUTH_ROUTE_PRIORITY,
            description=f"OAuth endpoint {path}",
        )
        for path in AUTH_EXCLUDED_PATHS
    ]


def localhost_needs_repair(existing: ProxyTarget | None) -> bool:
    """Whether the stored `localhost` target is missing, or lacks or differs from the
    default auth settings."""
    return existing is None or not (
        existing.auth_enabled and existing.auth_excluded_paths == list(AUTH_EXCLUDED_PATHS)
    )


def repaired_localhost(key: str, raw: bytes | None) -> bytes | None:
    """The `localhost` record to write, or `None` when the stored one is already right.

    A missing record is created; an existing one keeps every field except the auth settings,
    which are restored when they lack or differ from the defaults. A corrupt record raises
    `CorruptRecordError` instead of being overwritten: nothing is lost silently.
    """
    existing = decode_record(key, raw, ProxyTarget)
    if not localhost_needs_repair(existing):
        return None
    if existing is None:
        return encode_record(default_localhost_target())
    return encode_record(
        existing.model_copy(
            update={"auth_enabled": True, "auth_excluded_paths": list(AUTH_EXCLUDED_PATHS)}
        )
    )


@dataclass(frozen=True, slots=True)
class DefaultsReport:
    """What `ensure_defaults()` found wrong with the defaults, and what it did about it."""

    missing: tuple[str, ...] = ()
    """The defaults that were missing or changed, e.g. `"proxy target localhost"`,
    `"auth exclusions of localhost"`, `"route oauth-token"`; all were written again."""
    corrupt: tuple[str, ...] = ()
    """The keys of default records that cannot be decoded; left untouched, not repaired."""

    @property
    def ok(self) -> bool:
        """Whether every default was in place."""
        return not self.missing and not self.corrupt


def defaults_report(
    localhost_key: str,
    raw_localhost: bytes | None,
    route_ids: Sequence[str],
    routes_stored: Sequence[bool],
    indexed: Collection[str],
) -> DefaultsReport:
    """Compare what Redis holds with the defaults: the `localhost` record as stored, and,
    for each default route id, whether its record exists; `indexed` is the route index."""
    missing: list[str] = []
    corrupt: list[str] = []
    try:
        localhost = decode_record(localhost_key, raw_localhost, ProxyTarget)
    except CorruptRecordError:
        corrupt.append(localhost_key)
    else:
        if localhost is None:
            missing.append(f"proxy target {LOCALHOST}")
        elif localhost_needs_repair(localhost):
            missing.append(f"auth exclusions of {LOCALHOST}")
    for route_id, stored in zip(route_ids, routes_stored, strict=True):
        if not stored or route_id not in indexed:
            missing.append(f"route {route_id}")
    return DefaultsReport(tuple(missing), tuple(corrupt))

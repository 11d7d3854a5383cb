"""The records every process must see, and how an existing record is repaired. No I/O.

Startup used to build several storages with different defaults; one of them wrote the
`localhost` proxy target without `auth_excluded_paths`, and `/token` then demanded a bearer
token. Every entry point now writes (and repairs) the same defaults through `initialize()`.
"""

from __future__ import annotations

from ._codec import decode_record, encode_record
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


def repaired_localhost(key: str, raw: bytes | None) -> bytes | None:
    """The `localhost` record to write, or `None` when the stored one is already right.

    A missing record is created; an existing one keeps every field except the auth settings,
    which are restored when they lack or differ from the defaults. A corrupt record raises
    `CorruptRecordError` instead of being overwritten: nothing is lost silently.
    """
    existing = decode_record(key, raw, ProxyTarget)
    if existing is None:
        return encode_record(default_localhost_target())
    wanted = list(AUTH_EXCLUDED_PATHS)
    if existing.auth_enabled and existing.auth_excluded_paths == wanted:
        return None
    return encode_record(
        existing.model_copy(update={"auth_enabled": True, "auth_excluded_paths": wanted})
    )

"""The records the storage keeps, as pydantic models.

They live in the storage package because storage imports no component.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ._keys import validate_hostname, validate_identifier
from ._oauth_models import normalize_scope, validate_user


def _now() -> datetime:
    return datetime.now(UTC)


class RouteMode(StrEnum):
    """Which routes apply to a proxy target."""

    ALL = "all"
    """Every enabled route, except those in `disabled_routes`."""
    SELECTIVE = "selective"
    """Only the routes in `enabled_routes`."""
    NONE = "none"
    """No route: every request goes to the target URL."""


class RouteTargetType(StrEnum):
    """What a route forwards to."""

    PORT = "port"
    SERVICE = "service"
    HOSTNAME = "hostname"
    URL = "url"


class ProxyTarget(BaseModel):
    """How requests for one hostname are proxied."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    hostname: str
    target_url: str
    enabled: bool = True
    cert_name: str | None = None
    custom_headers: dict[str, str] = Field(default_factory=dict)
    auth_enabled: bool = False
    auth_excluded_paths: list[str] = Field(default_factory=list)
    route_mode: RouteMode = RouteMode.ALL
    enabled_routes: list[str] = Field(default_factory=list)
    disabled_routes: list[str] = Field(default_factory=list)
    max_body_size: int | None = Field(default=None, ge=1)
    """Bytes of request body this target accepts; `None`: the proxy's `max_body_size`."""
    forward_credentials: bool = False
    """Whether the bearer token the gateway checked, and the gateway's cookies, are passed
    on to this target's upstream; by default they stay in the gateway."""
    allowed_users: list[str] | None = None
    """The users whose tokens this auth-enabled target admits; `None`: every user, and
    clients acting for themselves. Anyone else gets 403 `insufficient_scope`."""
    required_scopes: list[str] = Field(default_factory=list)
    """Scope tokens an access token must hold here (all of them); else 403
    `insufficient_scope`."""
    created_at: datetime = Field(default_factory=_now)

    @field_validator("allowed_users")
    @classmethod
    def _valid_users(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else [validate_user(user) for user in value]

    @field_validator("required_scopes")
    @classmethod
    def _valid_scopes(cls, value: list[str]) -> list[str]:
        if any(not scope or " " in scope for scope in value):
            raise ValueError("each required scope is one scope token")
        return normalize_scope(" ".join(value)).split()

    @field_validator("hostname")
    @classmethod
    def _valid_hostname(cls, value: str) -> str:
        return validate_hostname(value)

    @field_validator("auth_excluded_paths")
    @classmethod
    def _absolute_paths(cls, value: list[str]) -> list[str]:
        for path in value:
            if not path.startswith("/"):
                raise ValueError(f"excluded path {path!r} must start with '/'")
        return value


class Route(BaseModel):
    """A path-based routing rule; higher priority wins."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    route_id: str
    path_pattern: str
    target_type: RouteTargetType
    target_value: str
    priority: int = Field(default=50, ge=0, le=1000)
    methods: list[str] | None = None
    enabled: bool = True
    description: str = ""
    created_at: datetime = Field(default_factory=_now)

    @field_validator("route_id")
    @classmethod
    def _valid_id(cls, value: str) -> str:
        return validate_identifier(value, "route id")

    @field_validator("path_pattern")
    @classmethod
    def _absolute_pattern(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError(f"path pattern {value!r} must start with '/'")
        return value

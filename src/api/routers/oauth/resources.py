"""Resource indicators (RFC 8707): which proxy target a `resource` parameter names.

A resource is an absolute `http(s)` URL without a fragment whose host is an auth-enabled
proxy target; the hostname of that target becomes the tokens' audience. Any path may
follow (`https://mcp.example.com/mcp`): a token is valid on every path of its host, as
the protected-resource metadata says.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from ....storage import CorruptRecordError, InvalidKeyError, UnifiedStorage


class InvalidTargetError(ValueError):
    """The `resource` names no resource this gateway protects (`invalid_target`)."""


async def resource_audience(storage: UnifiedStorage, resource: str | None) -> str | None:
    """The hostname of the auth-enabled proxy target `resource` names; `None` for no
    resource. Raises `InvalidTargetError` for anything else; the message never quotes it."""
    if resource is None:
        return None
    try:
        parts = urlsplit(resource)
        hostname = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise InvalidTargetError("the resource is not a URL") from None
    if parts.scheme not in ("http", "https") or not hostname or parts.fragment:
        raise InvalidTargetError("the resource must be an absolute http(s) URL without fragment")
    try:
        target = await storage.aget_proxy_target(hostname)
    except (InvalidKeyError, CorruptRecordError):
        target = None
    if target is None or not target.auth_enabled:
        raise InvalidTargetError("the resource is not a protected host of this gateway")
    return target.hostname

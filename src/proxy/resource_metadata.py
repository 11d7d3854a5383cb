"""RFC 9728 protected-resource metadata: how a client of a proxy target learns which
authorization server issues the tokens the target accepts. No I/O: `UnifiedHandler`
answers the requests.

An auth-enabled proxy target is one protected resource: a token is valid on every path of
its host. Its identifier is the origin the client addressed (`<scheme>://<Host>`), and its
metadata lives at `<origin>/.well-known/oauth-protected-resource`; the 401 challenge points
there. RFC 9728 §3.1 also defines the path-suffixed form: the metadata of the resource
`<origin>/mcp` is at `<origin>/.well-known/oauth-protected-resource/mcp`, and §3.3 wants
its `resource` to be the identifier the URL was built from (`<origin>/mcp`). MCP clients
try that form first for a server URL with a path. Either way the document names the same
authorization server: the gateway's OAuth issuer.
"""

from __future__ import annotations

import re
from typing import Any

WELL_KNOWN_PATH = "/.well-known/oauth-protected-resource"
# A resource path the metadata may name: RFC 3986 path characters without '%' (so the
# identifier needs no decoding to compare) and without the quote that ends a challenge's
# parameter. The proxy refused dot-segments and encoded slashes before this is asked.
_RESOURCE_PATH = re.compile(r"(?:/[A-Za-z0-9\-._~!$&()*+,;=:@]+)+/?")


class UnknownResourceError(ValueError):
    """The path-suffixed metadata URL names no resource path the gateway can describe."""


def metadata_resource_path(raw_path: str) -> str | None:
    """The path of the resource whose metadata a request for `raw_path` asks for: `""` for
    the host itself, `"/mcp"` for `/.well-known/oauth-protected-resource/mcp`; `None` when
    `raw_path` is not a metadata URL at all.

    Raises `UnknownResourceError` for a suffix that is not a plain path.
    """
    if raw_path == WELL_KNOWN_PATH or raw_path == f"{WELL_KNOWN_PATH}/":
        return ""
    if not raw_path.startswith(f"{WELL_KNOWN_PATH}/"):
        return None
    suffix = raw_path.removeprefix(WELL_KNOWN_PATH)
    if not _RESOURCE_PATH.fullmatch(suffix):
        raise UnknownResourceError("no protected resource has this path")
    return suffix


def public_origin(scheme: str, authority: str) -> str:
    """The origin a client addressed: `scheme` of the connection, `authority` of its
    validated `Host` header (see `hosts.request_host`)."""
    return f"{scheme}://{authority}"


def metadata_url(origin: str) -> str:
    """The URL of the metadata of the resource at `origin`: what a 401 points to."""
    return f"{origin}{WELL_KNOWN_PATH}"


def resource_metadata(origin: str, resource_path: str, issuer: str) -> dict[str, Any]:
    """The metadata document of the resource `origin` + `resource_path`, whose tokens the
    authorization server `issuer` issues. Bearer tokens go in the `Authorization` header
    only: the proxy reads no other place."""
    return {
        "resource": f"{origin}{resource_path}",
        "authorization_servers": [issuer],
        "bearer_methods_supported": ["header"],
    }

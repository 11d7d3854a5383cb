"""`resource_metadata`: which metadata a path asks for, and the document."""

from __future__ import annotations

import pytest

from src.proxy.resource_metadata import (
    UnknownResourceError,
    metadata_resource_path,
    metadata_url,
    public_origin,
    resource_metadata,
)


@pytest.mark.parametrize(
    ("path", "resource_path"),
    [
        ("/.well-known/oauth-protected-resource", ""),
        ("/.well-known/oauth-protected-resource/", ""),
        ("/.well-known/oauth-protected-resource/mcp", "/mcp"),
        ("/.well-known/oauth-protected-resource/a/b:c@d", "/a/b:c@d"),
        ("/.well-known/oauth-protected-resource/mcp/", "/mcp/"),
        ("/.well-known/oauth-protected-resources", None),
        ("/.well-known/oauth-authorization-server", None),
        ("/x/.well-known/oauth-protected-resource", None),
        ("/", None),
    ],
)
def test_metadata_resource_path(path: str, resource_path: str | None) -> None:
    assert metadata_resource_path(path) == resource_path


@pytest.mark.parametrize("suffix", ["//", "/a//b", "/%41", '/"', "/a\\b", "/é", "/a b", "/\x00"])
def test_unplain_suffixes_name_no_resource(suffix: str) -> None:
    with pytest.raises(UnknownResourceError):
        metadata_resource_path(f"/.well-known/oauth-protected-resource{suffix}")


def test_document() -> None:
    origin = public_origin("https", "app.example.com:8443")
    assert metadata_url(origin) == (
        "https://app.example.com:8443/.well-known/oauth-protected-resource"
    )
    assert resource_metadata(origin, "/mcp", "https://gw.example.com") == {
        "resource": "https://app.example.com:8443/mcp",
        "authorization_servers": ["https://gw.example.com"],
        "bearer_methods_supported": ["header"],
    }

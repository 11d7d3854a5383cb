"""Reading OAuth requests: form bodies, client credentials, scopes, settings. No I/O."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest

from src.api.routers.oauth import OAuthSettings
from src.api.routers.oauth.client_auth import ClientAuthError, ClientCredentials, client_credentials
from src.api.routers.oauth.forms import FormError, parse_form
from src.api.routers.oauth.scopes import granted_scope
from src.storage import InvalidScopeError

FORM = "application/x-www-form-urlencoded"


def basic(raw: bytes) -> str:
    return "Basic " + base64.b64encode(raw).decode()


@pytest.mark.parametrize(
    ("content_type", "body", "expected"),
    [
        (FORM, b"", {}),
        (FORM, b"a=1&b=x+y&c=%2B%0A", {"a": "1", "b": "x y", "c": "+\n"}),
        (f"{FORM}; charset=UTF-8", b"a=%C3%A9", {"a": "é"}),
        ("Application/X-WWW-Form-Urlencoded", b"a=1", {"a": "1"}),
        (FORM, b"a=&b=2", {"b": "2"}),
    ],
)
def test_parse_form(content_type: str, body: bytes, expected: dict[str, str]) -> None:
    assert parse_form(content_type, body) == expected


@pytest.mark.parametrize(
    ("content_type", "body", "message"),
    [
        (None, b"a=1", "must be application/x-www-form-urlencoded"),
        ("application/json", b"a=1", "must be application/x-www-form-urlencoded"),
        ("multipart/form-data", b"a=1", "must be application/x-www-form-urlencoded"),
        (FORM, b"a=1&a=2", "a parameter is repeated"),
        (FORM, b"a=&a=2", "a parameter is repeated"),
        (FORM, b"a", "not a well-formed form"),
        (FORM, b"a=1&&b=2", "not a well-formed form"),
        (FORM, b"a=%ff", "not a well-formed form"),
        (FORM, "a=é".encode(), "not a well-formed form"),
    ],
)
def test_malformed_forms(content_type: str | None, body: bytes, message: str) -> None:
    with pytest.raises(FormError, match=message) as caught:
        parse_form(content_type, body)
    # The body may hold secrets: errors never quote it.
    assert "x" * 10 not in str(caught.value) and "%ff" not in str(caught.value)


def test_client_credentials() -> None:
    assert client_credentials([], {}) is None
    assert client_credentials([], {"client_id": "a"}) is None
    assert client_credentials(["Bearer expired"], {}) is None
    assert client_credentials([], {"client_id": "a", "client_secret": "s"}) == ClientCredentials(
        "a", "s", via_header=False
    )
    assert client_credentials(
        ["Bearer expired"], {"client_id": "a", "client_secret": "s"}
    ) == ClientCredentials("a", "s", via_header=False)
    assert client_credentials([basic(b"a%3Ab:s%20+x:y")], {}) == ClientCredentials(
        "a:b", "s  x:y", via_header=True
    )
    assert client_credentials([basic(b"a:s")], {"client_id": "a"}) == ClientCredentials(
        "a", "s", via_header=True
    )
    assert "s3cret" not in repr(ClientCredentials("a", "s3cret", via_header=False))


@pytest.mark.parametrize(
    ("headers", "form", "message"),
    [
        (["Basic !!"], {}, "not valid base64"),
        (["Basic " + base64.b64encode(b"\xff:x").decode()], {}, "not valid base64 of UTF-8"),
        ([basic(b"no-colon")], {}, "lack the ':'"),
        ([basic(b"a:s")], {"client_secret": "s"}, "more than one method"),
        ([basic(b"a:s")], {"client_id": "b"}, "differs"),
        (["Basic a", "Basic b"], {}, "several Authorization headers"),
    ],
)
def test_bad_client_credentials(headers: list[str], form: dict[str, str], message: str) -> None:
    with pytest.raises(ClientAuthError, match=message):
        client_credentials(headers, form)


def test_granted_scope() -> None:
    assert granted_scope(None, "read write") == "read write"
    assert granted_scope("write", "read write") == "write"
    assert granted_scope("write read", "read write") == "write read"
    with pytest.raises(InvalidScopeError, match="exceeds"):
        granted_scope("admin", "read write")
    with pytest.raises(InvalidScopeError, match="exceeds"):
        granted_scope("read", "")


def test_settings() -> None:
    settings = OAuthSettings(issuer="https://gw.example.com")
    assert settings.endpoint("/token") == "https://gw.example.com/token"
    assert (settings.access_token_ttl, settings.refresh_token_ttl) == (
        timedelta(hours=1),
        timedelta(days=30),
    )
    for issuer in ["gw.example.com", "ftp://gw", "https://gw/", "https://gw?x=1", "https://gw#f"]:
        with pytest.raises(ValueError, match="invalid issuer"):
            OAuthSettings(issuer=issuer)
    with pytest.raises(ValueError, match="access_token_ttl must be positive"):
        OAuthSettings(issuer="https://gw", access_token_ttl=timedelta(0))
    with pytest.raises(ValueError, match="refresh_token_ttl must be positive"):
        OAuthSettings(issuer="https://gw", refresh_token_ttl=timedelta(seconds=-1))

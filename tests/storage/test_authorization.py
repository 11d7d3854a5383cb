"""Pending sign-in requests and authorization codes, through the blocking API and its
async twins, on every topology."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis

from src.storage import (
    AuthorizationAsk,
    AuthorizationRequest,
    InvalidGrantError,
    OAuthGrantType,
    UnifiedStorage,
)

Call = Callable[..., Any]
REDIRECT = "http://127.0.0.1:5000/callback"


def challenge_of(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@pytest.fixture
def client_id(storage: UnifiedStorage) -> str:
    client = storage.register_public_oauth_client(
        "app", [OAuthGrantType.AUTHORIZATION_CODE, OAuthGrantType.REFRESH_TOKEN], [REDIRECT]
    )
    return client.client_id


def ask(client_id: str, verifier: str, audience: str | None = "mcp.example") -> AuthorizationAsk:
    return AuthorizationAsk(
        client_id=client_id,
        redirect_uri=REDIRECT,
        code_challenge=challenge_of(verifier),
        scope="read",
        state="xyz",
        resource=None if audience is None else f"https://{audience}/mcp",
        audience=audience,
    )


def signed_in(call: Call, client_id: str, verifier: str, ttl: float = 60) -> str:
    token = call("create_authorization_request", ask(client_id, verifier), "nonce", 60)
    request = call("take_authorization_request", token)
    code: str = call("issue_authorization_code", request, "alice", ttl)
    return code


def test_a_request_is_stored_under_its_token_hash_and_taken_once(
    call: Call, client_id: str, raw: redis.Redis, namespace: str
) -> None:
    verifier = secrets.token_urlsafe(48)
    token = call("create_authorization_request", ask(client_id, verifier), "browser-nonce", 60)
    key = f"{{{namespace}:authz-request:{hashlib.sha256(token.encode()).hexdigest()}}}:record"
    stored = raw.get(key)
    assert stored is not None and token.encode() not in stored and b"browser-nonce" not in stored
    assert 0 < raw.pttl(key) <= 60_000
    request = call("get_authorization_request", token)
    assert isinstance(request, AuthorizationRequest)
    assert (request.client_id, request.state, request.audience) == (client_id, "xyz", "mcp.example")
    assert request.browser_hash == hashlib.sha256(b"browser-nonce").hexdigest()
    assert call("take_authorization_request", token) == request
    assert call("take_authorization_request", token) is None
    assert call("get_authorization_request", token) is None
    for hostile in ["", "*", "x" * 10_000, "a b"]:
        assert call("get_authorization_request", hostile) is None


def test_a_request_expires(call: Call, client_id: str) -> None:
    token = call("create_authorization_request", ask(client_id, "v" * 43), "n", 0.1)
    time.sleep(0.2)
    assert call("get_authorization_request", token) is None


def test_a_code_gives_tokens_of_its_user_scope_and_audience(
    call: Call, client_id: str, raw: redis.Redis, namespace: str
) -> None:
    verifier = secrets.token_urlsafe(48)
    code = signed_in(call, client_id, verifier)
    key = f"{{{namespace}:authz-code:{hashlib.sha256(code.encode()).hexdigest()}}}:record"
    assert raw.get(key) is not None and 0 < raw.pttl(key) <= 60_000
    issued = call("redeem_authorization_code", code, client_id, REDIRECT, verifier, 60, 600)
    assert (issued.access.user, issued.access.scope, issued.access.audience) == (
        "alice",
        "read",
        "mcp.example",
    )
    record = call("get_access_token", issued.access_token)
    assert record is not None and record.audience == "mcp.example"
    # The refresh token carries the audience on.
    rotated = call("rotate_refresh_token", issued.refresh_token, client_id, 60, 600)
    assert rotated.access.audience == "mcp.example"


def test_a_code_presented_twice_revokes_its_tokens(call: Call, client_id: str) -> None:
    verifier = secrets.token_urlsafe(48)
    code = signed_in(call, client_id, verifier)
    issued = call("redeem_authorization_code", code, client_id, REDIRECT, verifier, 60, 600)
    rotated = call("rotate_refresh_token", issued.refresh_token, client_id, 60, 600)
    with pytest.raises(InvalidGrantError, match="already used") as reused:
        call("redeem_authorization_code", code, client_id, REDIRECT, verifier, 60, 600)
    assert code not in str(reused.value) and verifier not in str(reused.value)
    assert call("get_access_token", issued.access_token) is None
    assert call("get_access_token", rotated.access_token) is None
    assert call("introspect_token", rotated.refresh_token) is None


@pytest.mark.parametrize(
    "mismatch", ["verifier", "no verifier", "client", "redirect", "no redirect", "short verifier"]
)
def test_a_code_is_bound_and_used_up_by_a_failed_exchange(
    call: Call, client_id: str, storage: UnifiedStorage, mismatch: str
) -> None:
    verifier = secrets.token_urlsafe(48)
    code = signed_in(call, client_id, verifier)
    other = storage.register_public_oauth_client("other", [OAuthGrantType.AUTHORIZATION_CODE])
    arguments: dict[str, Any] = {"client": client_id, "redirect": REDIRECT, "verifier": verifier}
    changes: dict[str, dict[str, Any]] = {
        "verifier": {"verifier": secrets.token_urlsafe(48)},
        "no verifier": {"verifier": None},
        "short verifier": {"verifier": verifier[:42]},
        "client": {"client": other.client_id},
        "redirect": {"redirect": REDIRECT + "x"},
        "no redirect": {"redirect": None},
    }
    arguments.update(changes[mismatch])
    with pytest.raises(InvalidGrantError):
        call(
            "redeem_authorization_code",
            code,
            arguments["client"],
            arguments["redirect"],
            arguments["verifier"],
            60,
            600,
        )
    # Used up: the right exchange now fails too, and nothing was issued.
    with pytest.raises(InvalidGrantError):
        call("redeem_authorization_code", code, client_id, REDIRECT, verifier, 60, 600)
    assert call("list_user_tokens", "alice") == []


def test_an_expired_or_unknown_code_is_refused(call: Call, client_id: str) -> None:
    verifier = secrets.token_urlsafe(48)
    code = signed_in(call, client_id, verifier, ttl=0.1)
    time.sleep(0.2)
    for candidate in [code, "unknown", "", "x" * 10_000]:
        with pytest.raises(InvalidGrantError, match="unknown, expired"):
            call("redeem_authorization_code", candidate, client_id, REDIRECT, verifier, 60, 600)

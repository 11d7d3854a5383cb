"""Public clients, deleting a client with its tokens, and the registration attempt counter:
the storage side of dynamic client registration, blocking and async."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import redis

from src.storage import (
    AttemptCount,
    IssuedTokens,
    OAuthClient,
    OAuthGrantType,
    RegisteredClient,
    TokenEndpointAuthMethod,
    UnknownOAuthClientError,
)
from tests.keys_v2 import client_index_key, client_key

Call = Callable[..., Any]
REFRESH = [OAuthGrantType.REFRESH_TOKEN]
LOOPBACK_URI = "http://127.0.0.1:8765/callback"


def test_public_client(call: Call, raw: redis.Redis, namespace: str) -> None:
    client: OAuthClient = call("register_public_oauth_client", "app", REFRESH, [LOOPBACK_URI])
    assert (client.is_public, client.secret_hash) == (True, None)
    assert client.token_endpoint_auth_method is TokenEndpointAuthMethod.NONE
    assert call("get_oauth_client", client.client_id) == client
    # No secret opens it: it has none.
    for secret in ("", "x", "0" * 64):
        assert call("verify_client_secret", client.client_id, secret) is None
    stored = raw.get(client_key(namespace, client.client_id))
    assert stored is not None and b'"token_endpoint_auth_method":"none"' in stored


def test_public_clients_cannot_use_client_credentials(call: Call) -> None:
    with pytest.raises(ValueError, match="client_credentials"):
        call("register_public_oauth_client", "app", [OAuthGrantType.CLIENT_CREDENTIALS])


def test_confidential_auth_methods(call: Call) -> None:
    post: RegisteredClient = call(
        "register_oauth_client", "app", REFRESH, (), "", TokenEndpointAuthMethod.CLIENT_SECRET_POST
    )
    assert post.client.token_endpoint_auth_method is TokenEndpointAuthMethod.CLIENT_SECRET_POST
    assert call("verify_client_secret", post.client.client_id, post.client_secret) == post.client
    with pytest.raises(ValueError, match="public client"):
        call("register_oauth_client", "app", REFRESH, (), "", TokenEndpointAuthMethod.NONE)


def test_records_from_before_the_auth_method_are_confidential(
    call: Call, raw: redis.Redis, namespace: str
) -> None:
    registered: RegisteredClient = call("register_oauth_client", "old", REFRESH)
    key = client_key(namespace, registered.client.client_id)
    stored = raw.get(key)
    assert isinstance(stored, bytes)
    raw.set(key, stored.replace(b',"token_endpoint_auth_method":"client_secret_basic"', b""))
    client = call("get_oauth_client", registered.client.client_id)
    assert client.token_endpoint_auth_method is TokenEndpointAuthMethod.CLIENT_SECRET_BASIC
    assert call("verify_client_secret", client.client_id, registered.client_secret) == client


def test_delete_a_client_and_its_tokens(call: Call, raw: redis.Redis, namespace: str) -> None:
    doomed: RegisteredClient = call("register_oauth_client", "doomed", REFRESH)
    kept: RegisteredClient = call("register_oauth_client", "kept", REFRESH)
    doomed_id, kept_id = doomed.client.client_id, kept.client.client_id
    first: IssuedTokens = call("issue_token_pair", doomed_id, "alice", "", 60, 600)
    second: IssuedTokens = call("issue_token_pair", doomed_id, "bob", "", 60, 600)
    survivor: IssuedTokens = call("issue_token_pair", kept_id, "alice", "", 60, 600)

    assert call("delete_oauth_client", doomed_id) is True
    assert call("get_oauth_client", doomed_id) is None
    for issued in (first, second):
        assert call("get_access_token", issued.access_token) is None
        assert call("introspect_token", issued.refresh_token) is None
    assert not raw.exists(client_index_key(namespace, doomed_id))
    # Nothing can be issued to it any more, and the other client is untouched.
    with pytest.raises(UnknownOAuthClientError):
        call("issue_token_pair", doomed_id, "alice", "", 60, 600)
    assert call("get_access_token", survivor.access_token) is not None
    assert [token.client_id for token in call("list_user_tokens", "alice")] == [kept_id] * 2
    assert call("delete_oauth_client", doomed_id) is False


def test_delete_an_unknown_client(call: Call) -> None:
    assert call("delete_oauth_client", "no-such-client") is False


def test_registration_attempts_are_counted_per_address(
    call: Call, raw: redis.Redis, namespace: str
) -> None:
    counts = [call("count_registration_attempt", "192.0.2.1", 60).count for _ in range(3)]
    assert counts == [1, 2, 3]
    other: AttemptCount = call("count_registration_attempt", "2001:db8::1", timedelta(minutes=1))
    assert other.count == 1
    assert timedelta(seconds=59) < other.resets_in <= timedelta(minutes=1)
    # The address is hashed into the key: no address is ever a key part.
    keys = [key.decode() for key in raw.scan_iter(match=f"{{{namespace}:registrations:*")]
    assert len(keys) == 2
    assert not any("192.0.2.1" in key or "2001" in key for key in keys)


def test_the_window_ends(call: Call) -> None:
    assert call("count_registration_attempt", "192.0.2.9", 0.05).count == 1
    assert call("count_registration_attempt", "192.0.2.9", 0.05).count == 2
    time.sleep(0.1)
    assert call("count_registration_attempt", "192.0.2.9", 0.05).count == 1


def test_a_counter_that_lost_its_ttl_gets_one(call: Call, raw: redis.Redis, namespace: str) -> None:
    call("count_registration_attempt", "192.0.2.7", 60)
    (key,) = raw.scan_iter(match=f"{{{namespace}:registrations:*")
    raw.persist(key)
    assert call("count_registration_attempt", "192.0.2.7", 60).count == 2
    assert 0 < raw.pttl(key) <= 60_000


@pytest.mark.parametrize("address", ["", "x" * 257])
def test_bad_addresses(call: Call, address: str) -> None:
    with pytest.raises(ValueError, match="client address"):
        call("count_registration_attempt", address, 60)

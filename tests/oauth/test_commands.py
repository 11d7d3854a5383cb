"""The management commands: registering a client and logging a user in."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
import redis

from src.api.routers.oauth import CommandError, issue_token, register_client
from src.storage import OAuthGrantType, UnifiedStorage
from tests.keys_v2 import client_key


def registered_id_and_secret(output: str) -> tuple[str, str]:
    match = re.fullmatch(
        r"client_id: ([0-9a-f]{32})\nclient_secret: ([A-Za-z0-9_-]{43})\n"
        r"The secret is shown only now; only its hash is stored\.",
        output,
    )
    assert match is not None, output
    return match[1], match[2]


def test_register_client(storage: UnifiedStorage, raw: redis.Redis, namespace: str) -> None:
    output = register_client(
        storage,
        name="cli",
        grant_types=["refresh_token", "client_credentials"],
        redirect_uris=["https://app.example.com/cb"],
        scope="read",
    )
    client_id, secret = registered_id_and_secret(output)
    client = storage.verify_client_secret(client_id, secret)
    assert client is not None
    assert (client.name, client.grant_types, client.scope) == (
        "cli",
        [OAuthGrantType.REFRESH_TOKEN, OAuthGrantType.CLIENT_CREDENTIALS],
        "read",
    )
    assert raw.get(client_key(namespace, client_id)) is not None


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"name": "cli", "grant_types": ["password"]}, "unknown grant type; supported: "),
        (
            {"name": "", "grant_types": ["refresh_token"]},
            "^cannot register the client: name: String should have at least 1 character$",
        ),
        (
            {"name": "cli", "grant_types": []},
            "^cannot register the client: grant_types: List should have at least 1 item",
        ),
        (
            {"name": "cli", "grant_types": ["refresh_token"], "redirect_uris": ["x"]},
            "^cannot register the client: redirect_uris: Value error, invalid redirect URI 'x'",
        ),
        (
            {"name": "cli", "grant_types": ["refresh_token"], "scope": "a\tb"},
            "^cannot register the client: scope: Value error, invalid scope: expected",
        ),
    ],
)
def test_register_client_rejects_bad_arguments(
    storage: UnifiedStorage, arguments: dict[str, object], message: str
) -> None:
    with pytest.raises(CommandError, match=message):
        register_client(storage, **arguments)  # type: ignore[arg-type]
    assert storage.list_oauth_clients() == []


def test_issue_token(storage: UnifiedStorage) -> None:
    client_id, _ = registered_id_and_secret(
        register_client(storage, name="cli", grant_types=["refresh_token"], scope="read write")
    )
    body = json.loads(issue_token(storage, client_id=client_id, user="alice"))
    assert set(body) == {"access_token", "token_type", "expires_in", "scope", "refresh_token"}
    assert (body["token_type"], body["expires_in"], body["scope"]) == ("Bearer", 3600, "read write")
    record = storage.get_access_token(body["access_token"])
    assert record is not None and (record.user, record.client_id) == ("alice", client_id)
    short = json.loads(
        issue_token(
            storage,
            client_id=client_id,
            user="bob",
            scope="read",
            access_ttl=timedelta(seconds=5),
            refresh_ttl=timedelta(minutes=1),
        )
    )
    assert (short["expires_in"], short["scope"]) == (5, "read")
    refresh = storage.introspect_token(short["refresh_token"])
    assert refresh is not None
    assert refresh.expires_at - refresh.issued_at == timedelta(minutes=1)


def test_issue_token_rejects_bad_arguments(storage: UnifiedStorage) -> None:
    client_id, _ = registered_id_and_secret(
        register_client(storage, name="cli", grant_types=["refresh_token"], scope="read")
    )
    machine_id, _ = registered_id_and_secret(
        register_client(storage, name="m", grant_types=["client_credentials"])
    )
    cases = [
        ({"client_id": "nobody", "user": "alice"}, "no OAuth client 'nobody' is registered"),
        ({"client_id": machine_id, "user": "alice"}, "may not use refresh tokens"),
        ({"client_id": client_id, "user": "alice", "scope": "admin"}, "exceeds"),
        ({"client_id": client_id, "user": "a b"}, "cannot issue tokens: invalid user"),
        ({"client_id": client_id, "user": ""}, "cannot issue tokens: invalid user"),
    ]
    for arguments, message in cases:
        with pytest.raises(CommandError, match=message):
            issue_token(storage, **arguments)  # type: ignore[arg-type]
    assert storage.count_client_tokens(client_id).access == 0

"""OAuth clients and tokens in the storage, through the blocking API and its async twins."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import redis
from redis.crc import key_slot

from src.storage import (
    AccessTokenRecord,
    CorruptRecordError,
    InvalidGrantError,
    InvalidKeyError,
    InvalidScopeError,
    IssuedTokens,
    OAuthGrantType,
    RefreshTokenRecord,
    RegisteredClient,
    TokenCounts,
    UnifiedStorage,
    UnknownOAuthClientError,
)
from tests.keys_v2 import client_index_key, client_key, family_key, token_key, user_index_key
from tests.redis_topologies import namespace_keys

Call = Callable[..., Any]

BOTH = [OAuthGrantType.REFRESH_TOKEN, OAuthGrantType.CLIENT_CREDENTIALS]
HOSTILE_TOKENS = ["", " ", "x" * 100_000, "abc\ndef", "abc def", "tök", "a:b", "*", "../x", "\x00"]


def snapshot(raw: redis.Redis, namespace: str) -> dict[bytes, object]:
    """Every key of the namespace with its value, to prove that nothing was written."""
    found: dict[bytes, object] = {}
    for key in namespace_keys(raw, namespace):
        kind = raw.type(key)
        if kind == b"set":
            found[key] = raw.smembers(key)
        elif kind == b"zset":
            found[key] = raw.zrange(key, 0, -1, withscores=True)
        else:
            found[key] = raw.get(key)
    return found


def everything_stored(raw: redis.Redis, namespace: str) -> bytes:
    """Every key and value of the namespace, as one blob to search for secrets."""
    return repr(sorted(snapshot(raw, namespace).items())).encode()


def register(call: Call, scope: str = "read write") -> RegisteredClient:
    registered: RegisteredClient = call(
        "register_oauth_client", "cli", BOTH, ["https://app.example.com/cb"], scope
    )
    return registered


def login(
    call: Call, client_id: str, *, access_ttl: float = 60, user: str = "alice"
) -> IssuedTokens:
    issued: IssuedTokens = call("issue_token_pair", client_id, user, "read", access_ttl, 600)
    return issued


def test_register_get_list_and_verify(call: Call, raw: redis.Redis, namespace: str) -> None:
    registered = register(call, scope="write read read")
    client = registered.client
    assert (client.name, client.grant_types, client.scope) == ("cli", BOTH, "read write")
    assert client.redirect_uris == ["https://app.example.com/cb"]
    assert client.secret_hash == hashlib.sha256(registered.client_secret.encode()).hexdigest()
    assert call("get_oauth_client", client.client_id) == client
    assert call("verify_client_secret", client.client_id, registered.client_secret) == client
    assert call("verify_client_secret", client.client_id, registered.client_secret + "x") is None
    assert call("verify_client_secret", client.client_id, "") is None
    assert call("verify_client_secret", client.client_id, "s" * 100_000) is None
    assert call("verify_client_secret", "nobody", registered.client_secret) is None
    assert call("verify_client_secret", "no:body\n", registered.client_secret) is None
    assert call("get_oauth_client", "nobody") is None
    other = register(call).client
    assert call("list_oauth_clients") == sorted([client, other], key=lambda c: c.client_id)
    assert registered.client_secret.encode() not in everything_stored(raw, namespace)
    assert registered.client_secret not in repr(registered)
    assert client.secret_hash not in repr(client)


@pytest.mark.parametrize(
    ("name", "grants", "uris", "scope", "problem"),
    [
        ("", BOTH, [], "", "name"),
        ("x" * 300, BOTH, [], "", "name"),
        ("cli", [], [], "", "grant_types"),
        ("cli", ["password"], [], "", "grant_types"),
        ("cli", BOTH, ["/relative"], "", "redirect URI"),
        ("cli", BOTH, ["https://app.example.com/cb#frag"], "", "redirect URI"),
        ("cli", BOTH, ["javascript://x/alert(1)"], "", "redirect URI"),
        ("cli", BOTH, [], 'read "all"', "invalid scope"),
        ("cli", BOTH, [], "read  write", "invalid scope"),
    ],
)
def test_register_rejects_bad_input(
    call: Call,
    raw: redis.Redis,
    namespace: str,
    name: str,
    grants: list[str],
    uris: list[str],
    scope: str,
    problem: str,
) -> None:
    call("initialize")
    before = snapshot(raw, namespace)
    with pytest.raises(ValueError, match=problem):
        call("register_oauth_client", name, grants, uris, scope)
    assert snapshot(raw, namespace) == before


def test_issue_stores_only_hashes_with_ttls(call: Call, raw: redis.Redis, namespace: str) -> None:
    client = register(call).client
    issued = login(call, client.client_id)
    assert issued.refresh_token is not None
    assert issued.access_token != issued.refresh_token
    assert len(issued.access_token) == 32 + 1 + 43  # family id, ".", 256 random bits
    assert issued.expires_in == 60
    record = call("get_access_token", issued.access_token)
    assert record == issued.access
    assert (record.client_id, record.user, record.scope, record.kind) == (
        client.client_id,
        "alice",
        "read",
        "access",
    )
    assert record.expires_at - record.issued_at == timedelta(seconds=60)
    # A refresh token is not an access token.
    assert call("get_access_token", issued.refresh_token) is None

    stored = everything_stored(raw, namespace)
    assert issued.access_token.encode() not in stored
    assert issued.refresh_token.encode() not in stored
    # A v2 token names its grant: `<family id>.<random>`.
    assert issued.access_token.startswith(f"{record.family_id}.")
    assert issued.refresh_token.startswith(f"{record.family_id}.")
    access_key = token_key(namespace, "access", issued.access_token)
    refresh_key = token_key(namespace, "refresh", issued.refresh_token)
    assert 50_000 < raw.pttl(access_key) <= 60_000
    assert 590_000 < raw.pttl(refresh_key) <= 600_000
    family = family_key(namespace, record.family_id)
    assert 590_000 < raw.pttl(family) <= 600_000
    assert raw.smembers(family) == {
        f"access:{hashlib.sha256(issued.access_token.encode()).hexdigest()}".encode(),
        f"refresh:{hashlib.sha256(issued.refresh_token.encode()).hexdigest()}".encode(),
    }
    client_keys = [
        client_key(namespace, client.client_id),
        client_index_key(namespace, client.client_id),
    ]
    user_index = user_index_key(namespace, "alice")
    oauth_families = (b":client:", b":grant:", b":user-tokens:")
    oauth_keys = [key for key in snapshot(raw, namespace) if any(f in key for f in oauth_families)]
    assert sorted(oauth_keys) == sorted(
        key.encode() for key in [access_key, refresh_key, family, *client_keys, user_index]
    )
    # A grant's keys share its slot, a client's theirs; the user index has its own.
    assert len({key_slot(key.encode()) for key in [access_key, refresh_key, family]}) == 1
    assert len({key_slot(key.encode()) for key in client_keys}) == 1
    # The indexes' entries name the grant of each token.
    assert raw.zrange(user_index, 0, -1) == sorted(
        f"{record.family_id}:{member!s}".encode()
        for member in (m.decode() if isinstance(m, bytes) else m for m in raw.smembers(family))
    )


def test_issue_rejects_bad_input(call: Call, raw: redis.Redis, namespace: str) -> None:
    client_id = register(call).client.client_id
    before = snapshot(raw, namespace)
    with pytest.raises(UnknownOAuthClientError, match="no OAuth client 'nobody'"):
        call("issue_token_pair", "nobody", "alice", "read", 60, 600)
    for user in ["", "a b", "a\nb", "x" * 300]:
        with pytest.raises(ValueError, match="invalid user"):
            call("issue_token_pair", client_id, user, "read", 60, 600)
    with pytest.raises(InvalidScopeError, match="invalid scope"):
        call("issue_token_pair", client_id, "alice", "read\nwrite", 60, 600)
    for ttl in [0, -5, 0.0001]:
        with pytest.raises(ValueError, match="TTL"):
            call("issue_token_pair", client_id, "alice", "read", ttl, 600)
        with pytest.raises(ValueError, match="TTL"):
            call("issue_client_token", client_id, "read", ttl)
    assert snapshot(raw, namespace) == before


def test_users_with_any_printable_name(call: Call) -> None:
    client_id = register(call).client.client_id
    for user in ["alice@example.com", "{oauth}:x", "ünïcode", "*"]:
        issued = call("issue_token_pair", client_id, user, "read", 60, 600)
        assert [r.kind for r in call("list_user_tokens", user)] == ["access", "refresh"]
        assert call("get_access_token", issued.access_token).user == user


def test_access_token_expires(call: Call) -> None:
    client_id = register(call).client.client_id
    issued = login(call, client_id, access_ttl=1)
    assert call("get_access_token", issued.access_token) is not None
    time.sleep(1.1)
    assert call("get_access_token", issued.access_token) is None
    assert call("count_client_tokens", client_id) == TokenCounts(access=0, refresh=1)


def test_client_token_has_no_refresh_token(call: Call) -> None:
    client_id = register(call).client.client_id
    issued = call("issue_client_token", client_id, "write", 30)
    assert issued.refresh_token is None
    record = call("get_access_token", issued.access_token)
    assert (record.user, record.scope, record.client_id) == (None, "write", client_id)
    assert call("count_client_tokens", client_id) == TokenCounts(access=1, refresh=0)


def test_rotation_issues_a_new_pair_and_marks_the_old_one_used(call: Call) -> None:
    client_id = register(call).client.client_id
    first = login(call, client_id)
    second = call("rotate_refresh_token", first.refresh_token, client_id, 30, 900)
    assert second.refresh_token not in (None, first.refresh_token)
    assert second.access_token != first.access_token
    assert second.access.family_id == first.access.family_id
    assert second.expires_in == 30
    assert call("get_access_token", second.access_token) == second.access
    # The old access token lives out its TTL; the old refresh token is spent.
    assert call("get_access_token", first.access_token) == first.access
    assert call("introspect_token", first.refresh_token) is None
    refresh = call("introspect_token", second.refresh_token)
    assert isinstance(refresh, RefreshTokenRecord) and refresh.used_at is None
    assert refresh.expires_at - refresh.issued_at == timedelta(seconds=900)
    assert call("count_client_tokens", client_id) == TokenCounts(access=2, refresh=1)
    third = call("rotate_refresh_token", second.refresh_token, client_id, 30, 900)
    assert call("get_access_token", third.access_token) == third.access


def test_reuse_revokes_the_whole_family(call: Call) -> None:
    client_id = register(call).client.client_id
    first = login(call, client_id)
    unrelated = login(call, client_id, user="bob")
    second = call("rotate_refresh_token", first.refresh_token, client_id, 30, 900)
    with pytest.raises(InvalidGrantError, match="already used; every token of its grant"):
        call("rotate_refresh_token", first.refresh_token, client_id, 30, 900)
    for token in [first.access_token, second.access_token]:
        assert call("get_access_token", token) is None
    assert call("introspect_token", second.refresh_token) is None
    with pytest.raises(InvalidGrantError, match="unknown, expired or revoked"):
        call("rotate_refresh_token", second.refresh_token, client_id, 30, 900)
    with pytest.raises(InvalidGrantError, match="unknown, expired or revoked"):
        call("rotate_refresh_token", first.refresh_token, client_id, 30, 900)
    assert call("list_user_tokens", "alice") == []
    assert call("get_access_token", unrelated.access_token) == unrelated.access
    assert call("count_client_tokens", client_id) == TokenCounts(access=1, refresh=1)


def test_another_clients_refresh_token_is_refused_and_kept(call: Call) -> None:
    owner = register(call).client.client_id
    thief = register(call).client.client_id
    issued = login(call, owner)
    with pytest.raises(InvalidGrantError, match="issued to another client"):
        call("rotate_refresh_token", issued.refresh_token, thief, 30, 900)
    rotated = call("rotate_refresh_token", issued.refresh_token, owner, 30, 900)
    assert call("get_access_token", rotated.access_token) is not None


def test_refresh_token_expires(call: Call) -> None:
    client_id = register(call).client.client_id
    issued = call("issue_token_pair", client_id, "alice", "read", 0.1, 0.2)
    time.sleep(0.3)
    with pytest.raises(InvalidGrantError, match="unknown, expired or revoked"):
        call("rotate_refresh_token", issued.refresh_token, client_id, 30, 900)


def test_rotation_may_narrow_the_scope_of_the_access_token(call: Call) -> None:
    client_id = register(call).client.client_id
    issued = call("issue_token_pair", client_id, "alice", "read write", 60, 600)
    with pytest.raises(InvalidScopeError, match="exceeds the scope originally granted"):
        call("rotate_refresh_token", issued.refresh_token, client_id, 30, 900, "read admin")
    with pytest.raises(InvalidScopeError, match="invalid scope"):
        call("rotate_refresh_token", issued.refresh_token, client_id, 30, 900, 'read"')
    narrowed = call("rotate_refresh_token", issued.refresh_token, client_id, 30, 900, "write")
    assert narrowed.access.scope == "write"
    assert call("introspect_token", narrowed.refresh_token).scope == "read write"


@pytest.mark.parametrize("token", HOSTILE_TOKENS, ids=ascii)
def test_hostile_token_strings(call: Call, raw: redis.Redis, namespace: str, token: str) -> None:
    client_id = register(call).client.client_id
    login(call, client_id)
    before = snapshot(raw, namespace)
    assert call("get_access_token", token) is None
    assert call("introspect_token", token) is None
    assert call("revoke_token", token, client_id) is False
    with pytest.raises(InvalidGrantError) as caught:
        call("rotate_refresh_token", token, client_id, 30, 900)
    assert str(caught.value) == "the refresh token is unknown, expired or revoked"
    assert snapshot(raw, namespace) == before


def test_errors_never_show_the_token(call: Call) -> None:
    client_id = register(call).client.client_id
    issued = login(call, client_id)
    assert issued.refresh_token is not None
    call("rotate_refresh_token", issued.refresh_token, client_id, 30, 900)
    with pytest.raises(InvalidGrantError) as caught:
        call("rotate_refresh_token", issued.refresh_token, client_id, 30, 900)
    assert issued.refresh_token not in str(caught.value)
    assert issued.refresh_token not in repr(issued)
    assert issued.access_token not in repr(issued)


def test_revoke_an_access_token(call: Call) -> None:
    client_id = register(call).client.client_id
    issued = login(call, client_id)
    other_client = register(call).client.client_id
    assert call("revoke_token", issued.access_token, other_client) is False
    assert call("get_access_token", issued.access_token) is not None
    assert call("revoke_token", issued.access_token, client_id) is True
    assert call("get_access_token", issued.access_token) is None
    assert call("revoke_token", issued.access_token, client_id) is False
    # Revoking an access token leaves its refresh token usable.
    assert call("rotate_refresh_token", issued.refresh_token, client_id, 30, 900) is not None


def test_revoke_a_refresh_token_revokes_its_family(call: Call) -> None:
    client_id = register(call).client.client_id
    first = login(call, client_id)
    second = call("rotate_refresh_token", first.refresh_token, client_id, 30, 900)
    assert call("revoke_token", second.refresh_token, register(call).client.client_id) is False
    assert call("revoke_token", second.refresh_token, client_id) is True
    assert call("get_access_token", first.access_token) is None
    assert call("get_access_token", second.access_token) is None
    assert call("revoke_token", second.refresh_token, client_id) is False
    assert call("count_client_tokens", client_id) == TokenCounts(access=0, refresh=0)


def test_introspection(call: Call) -> None:
    client_id = register(call).client.client_id
    issued = login(call, client_id)
    access = call("introspect_token", issued.access_token)
    refresh = call("introspect_token", issued.refresh_token)
    assert isinstance(access, AccessTokenRecord) and access == issued.access
    assert isinstance(refresh, RefreshTokenRecord)
    assert (refresh.client_id, refresh.user, refresh.family_id) == (
        client_id,
        "alice",
        issued.access.family_id,
    )
    assert call("introspect_token", "unknown-token") is None


def test_listing_and_counting(call: Call) -> None:
    client_id = register(call).client.client_id
    other_client = register(call).client.client_id
    first = login(call, client_id)
    login(call, other_client)
    second = call("issue_token_pair", client_id, "alice", "write", 60, 600)
    login(call, client_id, user="bob")
    tokens = call("list_user_tokens", "alice")
    assert [(t.kind, t.scope, t.client_id) for t in tokens] == [
        ("access", "read", client_id),
        ("refresh", "read", client_id),
        ("access", "read", other_client),
        ("refresh", "read", other_client),
        ("access", "write", client_id),
        ("refresh", "write", client_id),
    ]
    assert tokens[0] == first.access and tokens[4] == second.access
    assert call("list_user_tokens", "carol") == []
    assert call("count_client_tokens", client_id) == TokenCounts(access=3, refresh=3)
    assert call("count_client_tokens", "nobody") == TokenCounts(access=0, refresh=0)
    with pytest.raises(ValueError, match="invalid user"):
        call("list_user_tokens", "a\nb")
    with pytest.raises(InvalidKeyError, match="invalid client id"):
        call("count_client_tokens", "a:b*")


def test_expired_index_members_are_dropped_on_write(
    call: Call, raw: redis.Redis, namespace: str
) -> None:
    client_id = register(call).client.client_id
    call("issue_token_pair", client_id, "alice", "read", 0.1, 0.1)
    time.sleep(0.2)
    login(call, client_id)
    assert raw.zcard(user_index_key(namespace, "alice")) == 2
    assert raw.zcard(client_index_key(namespace, client_id)) == 2


def test_corrupt_records_are_reported(call: Call, raw: redis.Redis, namespace: str) -> None:
    raw.set(client_key(namespace, "broken"), b"{not json")
    with pytest.raises(CorruptRecordError, match="client:broken"):
        call("get_oauth_client", "broken")
    client_id = register(call).client.client_id
    issued = login(call, client_id)
    raw.sadd(family_key(namespace, issued.access.family_id), "../../x")
    with pytest.raises(CorruptRecordError, match="not a token reference"):
        call("revoke_token", issued.refresh_token, client_id)
    assert call("get_access_token", issued.access_token) == issued.access


def test_concurrent_rotations_of_one_token(storage: UnifiedStorage) -> None:
    client_id = storage.register_oauth_client("cli", BOTH).client.client_id
    issued = storage.issue_token_pair(client_id, "alice", "read", 60, 600)
    assert issued.refresh_token is not None
    refresh_token = issued.refresh_token
    start = threading.Barrier(8)
    outcomes: list[IssuedTokens | InvalidGrantError] = []

    def rotate() -> None:
        start.wait()
        try:
            outcomes.append(storage.rotate_refresh_token(refresh_token, client_id, 30, 900))
        except InvalidGrantError as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=rotate) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [outcome for outcome in outcomes if isinstance(outcome, IssuedTokens)]
    assert len(outcomes) == 8 and len(winners) == 1
    # Every loser counts as a reuse, so the winner's tokens are revoked with the family.
    assert storage.get_access_token(winners[0].access_token) is None
    assert storage.list_user_tokens("alice") == []

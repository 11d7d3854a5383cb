"""`python -m src oauth register-client|issue-token|delete-client`: the commands wired into
the composition root.

`main()` creates its own storage without a namespace, so these tests delete exactly the
keys they made (never a pattern: `REDIS_URL` may be a shared server). Each run is a process
of its own in real use: here each gets a fresh storage registry.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import uuid
from collections.abc import Iterator

import pytest
import redis

import src.main
from src.storage import isolated_storage_registry
from tests.keys_v2 import client_index_key, client_key, family_key, token_key, user_index_key


@pytest.fixture
def made_keys(raw: redis.Redis) -> Iterator[list[str]]:
    """Keys a test made outside any namespace; deleted afterwards."""
    keys: list[str] = []
    yield keys
    if keys:
        raw.delete(*keys)


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with isolated_storage_registry():
        code = src.main.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_register_and_login(
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    raw: redis.Redis,
    made_keys: list[str],
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    code, out, err = run(
        ["oauth", "register-client", "--name", "cli", "--grant-type", "refresh_token",
         "--grant-type", "client_credentials", "--scope", "read write"],
        capsys,
    )  # fmt: skip
    assert (code, err) == (0, "")
    match = re.fullmatch(r"client_id: (\w+)\nclient_secret: (\S+)\n.*\n", out)
    assert match is not None, out
    client_id, secret = match[1], match[2]
    made_keys += [client_key("", client_id), client_index_key("", client_id)]
    stored = json.loads(raw.get(client_key("", client_id)) or b"null")
    assert stored["secret_hash"] == hashlib.sha256(secret.encode()).hexdigest()
    assert stored["grant_types"] == ["refresh_token", "client_credentials"]

    user = f"cli-test-{uuid.uuid4().hex}"
    code, out, err = run(["oauth", "issue-token", "--client-id", client_id, "--user", user], capsys)
    assert (code, err) == (0, "")
    tokens = json.loads(out)
    access_key = token_key("", "access", tokens["access_token"])
    refresh_key = token_key("", "refresh", tokens["refresh_token"])
    record = json.loads(raw.get(access_key) or b"null")
    made_keys += [
        access_key,
        refresh_key,
        family_key("", record["family_id"]),
        user_index_key("", user),
    ]
    assert (record["user"], record["client_id"], record["scope"]) == (user, client_id, "read write")
    assert (tokens["token_type"], tokens["expires_in"]) == ("Bearer", 3600)


def test_default_grant_type_is_refresh_token(
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    raw: redis.Redis,
    made_keys: list[str],
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    code, out, _ = run(["oauth", "register-client", "--name", "cli"], capsys)
    assert code == 0
    client_id = out.split("\n")[0].removeprefix("client_id: ")
    made_keys.append(client_key("", client_id))
    stored = json.loads(raw.get(client_key("", client_id)) or b"null")
    assert stored["grant_types"] == ["refresh_token"]


def test_failures_exit_1_with_a_message(
    redis_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    code, out, err = run(
        ["oauth", "issue-token", "--client-id", "nobody", "--user", "alice"], capsys
    )
    assert (code, out) == (1, "")
    assert err == "oauth issue-token failed: no OAuth client 'nobody' is registered\n"
    code, out, err = run(["oauth", "register-client", "--name", ""], capsys)
    assert (code, out) == (1, "")
    assert err.startswith("oauth register-client failed: cannot register the client: name:")

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    monkeypatch.setenv("REDIS_URL", f"redis://:hunter2@127.0.0.1:{closed}/0")
    code, out, err = run(["oauth", "register-client", "--name", "cli"], capsys)
    assert (code, out) == (1, "")
    assert err.startswith(f"oauth register-client failed: Redis at redis://:***@127.0.0.1:{closed}")
    assert "hunter2" not in err


@pytest.mark.parametrize(
    "argv",
    [
        ["oauth"],
        ["oauth", "register-client"],
        ["oauth", "register-client", "--name", "x", "--grant-type", "password"],
        ["oauth", "issue-token", "--user", "alice"],
        ["oauth", "login", "--user", "alice"],
    ],
)
def test_usage_errors(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        src.main.main(argv)
    assert exited.value.code == 2
    assert "usage: python -m src" in capsys.readouterr().err


def test_delete_client(
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    raw: redis.Redis,
    made_keys: list[str],
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    _, out, _ = run(["oauth", "register-client", "--name", "doomed"], capsys)
    client_id = out.split("\n")[0].removeprefix("client_id: ")
    user = f"cli-test-{uuid.uuid4().hex}"
    _, out, _ = run(["oauth", "issue-token", "--client-id", client_id, "--user", user], capsys)
    tokens = json.loads(out)
    access_key = token_key("", "access", tokens["access_token"])
    # What deleting leaves behind until it expires (see `delete_oauth_client`).
    made_keys.append(user_index_key("", user))

    code, out, err = run(["oauth", "delete-client", client_id], capsys)
    assert (code, out, err) == (0, f"deleted OAuth client {client_id} and its tokens\n", "")
    assert not raw.exists(client_key("", client_id), access_key)

    code, out, err = run(["oauth", "delete-client", client_id], capsys)
    assert (code, out) == (1, "")
    assert err == f"oauth delete-client failed: no OAuth client '{client_id}' is registered\n"
    code, _, err = run(["oauth", "delete-client", "no:such*client"], capsys)
    assert (code, err) == (
        1,
        "oauth delete-client failed: no OAuth client 'no:such*client' is registered\n",
    )

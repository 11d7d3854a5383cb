"""The gateway's users and their failed sign-ins, through the blocking API and its async
twins, on every topology."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis

from src.storage import MAX_PASSWORD_LENGTH, SignInFailures, User, UserExistsError

Call = Callable[..., Any]


def record_key(namespace: str, name: str) -> str:
    return f"{{{namespace}:user:{hashlib.sha256(name.encode()).hexdigest()}}}:record"


def test_a_user_is_stored_with_a_salted_scrypt_hash_only(
    call: Call, raw: redis.Redis, namespace: str
) -> None:
    alice = call("add_user", "alice", "correct horse")
    bob = call("add_user", "bob", "correct horse")

    stored = json.loads(raw.get(record_key(namespace, "alice")) or b"null")
    assert stored["name"] == "alice"
    assert "correct horse" not in json.dumps(stored)
    assert stored["password"]["n"] >= 2**14 and stored["password"]["r"] >= 8
    # The same password, salted per user, gives another hash.
    assert alice.password.salt != bob.password.salt
    assert alice.password.hash != bob.password.hash
    assert "correct horse" not in repr(alice) and alice.password.hash not in repr(alice)
    assert call("get_user", "alice") == alice


def test_verify_user_accepts_the_password_only(call: Call) -> None:
    call("add_user", "alice", "s3cret pass")
    verified = call("verify_user", "alice", "s3cret pass")
    assert isinstance(verified, User) and verified.name == "alice"
    for name, password in [
        ("alice", "s3cret pasS"),
        ("alice", ""),
        ("alice", "x" * (MAX_PASSWORD_LENGTH + 1)),
        ("nobody", "s3cret pass"),
        ("", "s3cret pass"),
        ("al ice", "s3cret pass"),
        ("x" * 10_000, "s3cret pass"),
    ]:
        assert call("verify_user", name, password) is None


def test_an_unknown_user_costs_the_same_hashing(call: Call) -> None:
    call("add_user", "alice", "pw")
    started = time.perf_counter()
    call("verify_user", "alice", "wrong")
    known = time.perf_counter() - started
    started = time.perf_counter()
    call("verify_user", "nobody", "wrong")
    unknown = time.perf_counter() - started
    # Both run scrypt once; without the dummy check the unknown name would answer in
    # about a round trip (well under a tenth of the hashing time).
    assert unknown > known / 3


def test_names_are_unique_unless_replaced(call: Call) -> None:
    call("add_user", "alice", "first")
    with pytest.raises(UserExistsError) as exists:
        call("add_user", "alice", "second")
    assert "second" not in str(exists.value)
    assert call("verify_user", "alice", "first") is not None
    call("add_user", "alice", "second", replace=True)
    assert call("verify_user", "alice", "first") is None
    assert call("verify_user", "alice", "second") is not None


def test_bad_names_and_passwords_are_refused_without_echo(call: Call) -> None:
    for name in ["", "al ice", "alice\n", "x" * 257]:
        with pytest.raises(ValueError):
            call("add_user", name, "pw")
    for password in ["", "p" * (MAX_PASSWORD_LENGTH + 1)]:
        with pytest.raises(ValueError) as refused:
            call("add_user", "alice", password)
        assert password[:20] not in str(refused.value) or not password
    assert call("list_users") == []


def test_list_and_remove(call: Call) -> None:
    for name in ["carol", "alice", "{user}", "bob:1*"]:
        call("add_user", name, "pw")
    assert [user.name for user in call("list_users")] == ["alice", "bob:1*", "carol", "{user}"]
    assert call("remove_user", "carol") is True
    assert call("remove_user", "carol") is False
    assert call("get_user", "carol") is None
    assert [user.name for user in call("list_users")] == ["alice", "bob:1*", "{user}"]


def test_failed_sign_ins_count_per_user_and_per_address(call: Call) -> None:
    assert call("get_sign_in_failures", "alice", "127.0.0.1") == SignInFailures(0, 0)
    assert call("count_sign_in_failure", "alice", "127.0.0.1", 60) == SignInFailures(1, 1)
    assert call("count_sign_in_failure", "alice", "127.0.0.2", 60) == SignInFailures(2, 1)
    assert call("count_sign_in_failure", "bob", "127.0.0.1", 60) == SignInFailures(1, 2)
    assert call("get_sign_in_failures", "alice", "127.0.0.1") == SignInFailures(2, 2)
    with pytest.raises(ValueError):
        call("count_sign_in_failure", "alice", "", 60)


def test_the_failure_window_expires(call: Call) -> None:
    call("count_sign_in_failure", "alice", "127.0.0.1", 0.2)
    time.sleep(0.3)
    assert call("get_sign_in_failures", "alice", "127.0.0.1") == SignInFailures(0, 0)
    assert call("count_sign_in_failure", "alice", "127.0.0.1", 60) == SignInFailures(1, 1)

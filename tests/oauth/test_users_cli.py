"""`python -m src users add|remove|list`, run as the processes an operator starts: the
password comes from standard input, one line of it when piped.

The commands use no namespace, so each test uses a fresh user name and deletes exactly the
key it made (never a pattern: `REDIS_URL` may be a shared server).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from src.storage import UnifiedStorage, isolated_storage_registry

ROOT = Path(__file__).resolve().parents[2]


def users(redis_url: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "src", "users", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "REDIS_URL": redis_url},
        timeout=60,
    )


@pytest.fixture
def name(raw: redis.Redis) -> Iterator[str]:
    """A user name of this test's own; its record is deleted afterwards."""
    user = f"cli-{uuid.uuid4().hex[:12]}"
    yield user
    raw.delete(f"{{user:{hashlib.sha256(user.encode()).hexdigest()}}}:record")


def test_add_reads_one_line_of_piped_input_and_list_and_remove(
    redis_url: str, raw: redis.Redis, name: str
) -> None:
    added = users(redis_url, "add", name, stdin="pass word\nnot the password\n")
    assert (added.returncode, added.stdout, added.stderr) == (0, f"added user {name}\n", "")
    key = f"{{user:{hashlib.sha256(name.encode()).hexdigest()}}}:record"
    stored = raw.get(key)
    assert stored is not None and b"pass word" not in stored
    with isolated_storage_registry(), UnifiedStorage(redis_url) as storage:
        assert storage.verify_user(name, "pass word") is not None
        assert storage.verify_user(name, "pass word\n") is None

    again = users(redis_url, "add", name, stdin="other\n")
    assert again.returncode == 1 and "exists already" in again.stderr
    assert "other" not in again.stderr
    replaced = users(redis_url, "add", name, "--replace", stdin="other\n")
    assert replaced.returncode == 0
    with isolated_storage_registry(), UnifiedStorage(redis_url) as storage:
        assert storage.verify_user(name, "other") is not None

    listed = users(redis_url, "list")
    assert listed.returncode == 0
    assert name in [line.split("\t")[0] for line in listed.stdout.splitlines()]
    removed = users(redis_url, "remove", name)
    assert (removed.returncode, removed.stdout) == (0, f"removed user {name} "
        "(tokens already issued stay valid until they expire)\n")  # fmt: skip
    assert raw.get(key) is None
    gone = users(redis_url, "remove", name)
    assert gone.returncode == 1 and "no user" in gone.stderr


def test_an_empty_password_is_refused_without_echo(
    redis_url: str, raw: redis.Redis, name: str
) -> None:
    empty = users(redis_url, "add", name, stdin="\n")
    assert empty.returncode == 1
    assert (
        empty.stderr == "users add failed: cannot add the user: a password is 1-1024 characters\n"
    )
    assert raw.get(f"{{user:{hashlib.sha256(name.encode()).hexdigest()}}}:record") is None

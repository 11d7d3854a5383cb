"""One embedded Redis per data directory, across real processes: a second process uses the
running server or refuses clearly, and never starts another on the directory."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis

from src.embedded_redis import LOCK_FILE, STATE_FILE, EmbeddedRedis, EmbeddedRedisError
from tests.keys_v2 import client_key

ROOT = Path(__file__).resolve().parent.parent
LIMIT = 60.0
"""Seconds a child process gets for each step (a bound, not a check)."""
JOIN_WAIT = 10.0
"""How long a second process waits for a starting holder's server (`_START_TIMEOUT`)."""

HOLDER = """
import sys
from pathlib import Path
from src.embedded_redis import EmbeddedRedis
with EmbeddedRedis(Path(sys.argv[1])) as server:
    print(server.url, flush=True)
    sys.stdin.read()
"""
"""Holds the embedded Redis of the directory it is given until its stdin closes: what
`python -m src serve` does with `.gateway/redis` (its API port is fixed, so tests that
need a second gateway process cannot run two)."""


def environment() -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if name != "REDIS_URL"}
    return {**env, "PYTHONPATH": str(ROOT)}


def servers_on(data_dir: Path) -> list[int]:
    """The pids of the redis-server processes working in `data_dir`: each changes into its
    `--dir` (and rewrites its command line, so that cannot tell)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() != "redis-server":
                continue
            if Path(os.readlink(entry / "cwd")) == data_dir.resolve():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


@contextmanager
def holder(data_dir: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """A process holding the embedded Redis of `data_dir`, and its URL."""
    with subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(data_dir)],
        cwd=ROOT,
        env=environment(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            assert process.stdout is not None
            url = process.stdout.readline().strip()
            assert re.fullmatch(r"redis://127\.0\.0\.1:\d+/0", url), url
            yield process, url
        finally:
            if process.poll() is None:
                assert process.stdin is not None
                process.stdin.close()
                try:
                    process.wait(LIMIT)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def oauth(cwd: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "src", "oauth", *argv],
        cwd=cwd,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=LIMIT,
    )


def test_a_second_process_uses_the_running_server(tmp_path: Path) -> None:
    data_dir = tmp_path / "redis"
    with holder(data_dir) as (process, url):
        [server_pid] = servers_on(data_dir)
        state = json.loads((data_dir / STATE_FILE).read_text())
        assert state == {"pid": server_pid, "port": int(url.rsplit(":", 1)[1].split("/")[0])}
        guest = EmbeddedRedis(data_dir)
        assert guest.start() == url
        assert not guest.owner
        with redis.Redis.from_url(guest.url) as client:
            client.set("seen-by", "guest")
        guest.stop()
        # The guest stopped nothing: the server is the holder's.
        assert servers_on(data_dir) == [server_pid]
        with redis.Redis.from_url(url) as client:
            assert client.get("seen-by") == b"guest"
        assert process.stdin is not None
        process.stdin.close()
        assert process.wait(LIMIT) == 0
    assert servers_on(data_dir) == []
    assert not (data_dir / STATE_FILE).exists()


def test_oauth_commands_reach_the_data_of_the_running_server(tmp_path: Path) -> None:
    data_dir = tmp_path / ".gateway" / "redis"
    with holder(data_dir) as (_, url):
        [server_pid] = servers_on(data_dir)
        registered = oauth(tmp_path, "register-client", "--name", "cli")
        assert registered.returncode == 0, registered.stderr
        client_id = re.search(r"client_id: (\S+)", registered.stdout)
        assert client_id is not None
        logged_in = oauth(tmp_path, "issue-token", "--client-id", client_id[1], "--user", "alice")
        assert logged_in.returncode == 0, logged_in.stderr
        assert json.loads(logged_in.stdout)["token_type"] == "Bearer"
        # Written into the holder's server, and no second server was ever there.
        with redis.Redis.from_url(url) as client:
            assert client.exists(client_key("", client_id[1]))
        assert servers_on(data_dir) == [server_pid]


def a_dead_pid() -> int:
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    return finished.pid


LOCKER = """
import fcntl, os, sys
lock = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(lock, fcntl.LOCK_EX)
print("locked", flush=True)
sys.stdin.read()
"""


def test_a_locked_directory_without_a_server_is_refused_clearly(
    tmp_path: Path, closed_port: int
) -> None:
    data_dir = tmp_path / ".gateway" / "redis"
    data_dir.mkdir(parents=True)
    # A holder whose server died: the lock is held, the state names a gone server.
    (data_dir / STATE_FILE).write_text(json.dumps({"pid": a_dead_pid(), "port": closed_port}))
    with subprocess.Popen(
        [sys.executable, "-c", LOCKER, str(data_dir / LOCK_FILE)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as locker:
        assert locker.stdout is not None and locker.stdout.readline() == "locked\n"
        started = time.monotonic()
        result = oauth(tmp_path, "register-client", "--name", "cli")
        elapsed = time.monotonic() - started
        assert servers_on(data_dir) == []
        assert locker.stdin is not None
        locker.stdin.close()
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        "oauth register-client failed: another process holds the embedded Redis data "
        f"directory {data_dir}, but no Redis of it answers; stop that process, or set "
        "REDIS_URL to a Redis to use\n"
    )
    # At once: a holder whose server is gone is not waited for as one still starting.
    assert elapsed < JOIN_WAIT


def test_the_lock_dies_with_a_killed_holder(tmp_path: Path) -> None:
    data_dir = tmp_path / "redis"
    with holder(data_dir) as (process, _):
        [old_server] = servers_on(data_dir)
        process.send_signal(signal.SIGKILL)
        process.wait(LIMIT)
        # Its server got SIGTERM from the kernel; the next owner lets it finish first.
        successor = EmbeddedRedis(data_dir, persist=False)
        try:
            successor.start()
            assert successor.owner
            assert old_server not in servers_on(data_dir)
            assert len(servers_on(data_dir)) == 1
        finally:
            successor.stop()
    assert servers_on(data_dir) == []


def test_in_one_process_a_second_instance_waits_for_nobody(tmp_path: Path) -> None:
    # flock locks belong to the open file: a second instance here is a guest as well.
    with EmbeddedRedis(tmp_path, persist=False) as first:
        second = EmbeddedRedis(tmp_path, persist=False)
        assert second.start() == first.url and not second.owner
        second.stop()
        assert len(servers_on(tmp_path)) == 1
    with pytest.raises(EmbeddedRedisError, match="not running"):
        _ = first.url

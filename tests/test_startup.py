"""The composition root creates exactly one storage, and `storage-guard check-startup`,
configured with `startup = "src.main:startup_once"`, proves it."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import src.main
from src.api.async_init import AsyncComponents, init_async_components
from src.storage import UnifiedStorage, live_instance
from storage_guard import load_config
from storage_guard.startup import check_startup

ROOT = Path(__file__).resolve().parent.parent


def run_check(cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-W",
            "error::DeprecationWarning",
            "-m",
            "storage_guard",
            "--config",
            str(ROOT / "pyproject.toml"),
            "check-startup",
        ],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_check_passes_against_redis_url(redis_url: str, tmp_path: Path) -> None:
    result = run_check(tmp_path, {**os.environ, "REDIS_URL": redis_url})
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(
        r"startup created exactly one storage: UnifiedStorage created at src/main\.py:\d+\n",
        result.stdout,
    )
    assert result.stderr == ""


def test_check_uses_an_embedded_redis_and_writes_nothing(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key != "REDIS_URL"}
    before = sorted(ROOT.iterdir())
    result = run_check(tmp_path, env)
    assert result.returncode == 0, result.stderr
    assert "exactly one storage" in result.stdout
    assert list(tmp_path.iterdir()) == []
    assert sorted(ROOT.iterdir()) == before


def test_check_fails_clearly_when_redis_is_unreachable(tmp_path: Path) -> None:
    result = run_check(tmp_path, {**os.environ, "REDIS_URL": "redis://:pw@127.0.0.1:1/0"})
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith(
        "check-startup: the startup entry src.main:startup_once raised StorageUnavailableError: "
        "Redis at redis://:***@127.0.0.1:1/0"
    )
    assert "pw" not in result.stderr


async def a_component_that_builds_its_own_storage(
    redis_url: str, storage: UnifiedStorage, **settings: Any
) -> AsyncComponents:
    UnifiedStorage(redis_url)  # the defect the real migration left in async_init.py
    return await init_async_components(redis_url, storage, **settings)


def test_check_names_both_sites_when_a_component_builds_a_storage(
    redis_url: str, monkeypatch: pytest.MonkeyPatch, storage_registry: None
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setattr(src.main, "init_async_components", a_component_that_builds_its_own_storage)
    out, err = io.StringIO(), io.StringIO()
    assert check_startup(load_config(pyproject=ROOT / "pyproject.toml"), out, err) == 1
    error = err.getvalue()
    assert "raised StorageAlreadyCreatedError" in error
    assert "startup created 2 storages:" in error
    assert re.search(r"UnifiedStorage created at src/main\.py:\d+", error)
    assert re.search(r"UnifiedStorage created at tests/test_startup\.py:\d+", error)
    assert live_instance() is None  # startup closed the storage it had created

"""The whole gate, `pre-commit run --all-files`, on a git repository holding a copy of the project.

Every hook is real; the slow hooks that cannot see a given defect are skipped with
pre-commit's own `SKIP` variable, except in the clean run and the all-defects run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
UNRELATED_TO_IMPORTS = "ruff-check,ruff-format,mypy"


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=gate", "-c", "user.email=gate@example.invalid", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A fresh git repository holding the project's tracked files, committed."""
    repo = tmp_path / "repo"
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.split("\0")
    for name in filter(None, tracked):
        target = repo / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((ROOT / name).read_bytes())
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "copy")
    return repo


def run_gate(repo: Path, redis_url: str, skip: str = "") -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "PRE_COMMIT_HOME": str(repo.parent / "pre-commit-home"),
        "REDIS_URL": redis_url,
        "SKIP": skip,
        "PYTHONPATH": str(repo),
    }
    return subprocess.run(
        ["pre-commit", "run", "--all-files"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def stage(repo: Path, module: str, old: str, new: str) -> None:
    path = repo / module
    source = path.read_text()
    assert old in source, f"{old!r} not in {module}"
    path.write_text(source.replace(old, new, 1))
    git(repo, "add", module)


def append(repo: Path, module: str, text: str) -> None:
    path = repo / module
    path.write_text(path.read_text() + text)
    git(repo, "add", module)


def test_the_clean_copy_passes(repo: Path, redis_url: str) -> None:
    result = run_gate(repo, redis_url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Failed" not in result.stdout


IMPORT_DEFECTS = [
    pytest.param(
        "src/ports/manager.py",
        "\nfrom ..storage.async_redis_storage import AsyncRedisStorage\n",
        ["src/ports/manager.py:", "STG002", "Nothing imports the deprecated storage shims BROKEN"],
        id="old-class",
    ),
    pytest.param(
        "src/ports/async_manager.py",
        "\nfrom ..storage._async_redis_storage import AsyncRedisBackend\n",
        [
            "src/ports/async_manager.py:",
            "STG001",
            "Private storage modules stay inside src.storage BROKEN",
        ],
        id="private-backend",
    ),
    pytest.param(
        "src/storage/_values.py",
        "\nimport src.api\n",
        ["Gateway layers", "BROKEN"],
        id="storage-imports-a-component",
    ),
]


@pytest.mark.parametrize(("module", "text", "expected"), IMPORT_DEFECTS)
def test_an_import_defect_fails_the_gate(
    repo: Path, redis_url: str, module: str, text: str, expected: list[str]
) -> None:
    append(repo, module, text)
    result = run_gate(repo, redis_url, skip=UNRELATED_TO_IMPORTS)
    assert result.returncode == 1
    for fragment in expected:
        assert fragment in result.stdout


def test_a_fallback_storage_in_a_component_fails_the_gate(repo: Path, redis_url: str) -> None:
    stage(
        repo,
        "src/api/async_init.py",
        "    return AsyncComponents(",
        "    storage = storage or UnifiedStorage(redis_url)\n    return AsyncComponents(",
    )
    result = run_gate(repo, redis_url, skip=UNRELATED_TO_IMPORTS)
    assert result.returncode == 1
    assert "src/api/async_init.py:" in result.stdout
    assert "STG003 'UnifiedStorage' constructed outside a composition root" in result.stdout


def test_the_composition_root_building_storage_twice_fails_the_gate(
    repo: Path, redis_url: str
) -> None:
    stage(
        repo,
        "src/main.py",
        "    storage = UnifiedStorage(url)\n",
        "    storage = UnifiedStorage(url)\n    UnifiedStorage(url)\n",
    )
    result = run_gate(repo, redis_url, skip=UNRELATED_TO_IMPORTS)
    assert result.returncode == 1
    assert "STG006 'UnifiedStorage' constructed a second time" in result.stdout
    assert re.search(
        r"check-startup: startup created 2 storages:\n"
        r"  UnifiedStorage created at src/main\.py:(\d+)\n"
        r"  UnifiedStorage created at src/main\.py:(\d+)\n",
        result.stdout,
    )


def test_a_missing_await_fails_the_gate(repo: Path, redis_url: str) -> None:
    # The real migration left a sync port manager calling the async client without
    # `await`: every "allocation" succeeded. mypy --strict reports the unused coroutine.
    stage(
        repo,
        "src/ports/async_manager.py",
        "return await self._storage.aallocate_port(",
        "self._storage.aallocate_port(service, self.start, self.end)\n"
        "        return await self._storage.aallocate_port(",
    )
    result = run_gate(repo, redis_url, skip="lint-imports,check-single-instance")
    assert result.returncode == 1
    assert "src/ports/async_manager.py" in result.stdout
    assert "[unused-coroutine]" in result.stdout

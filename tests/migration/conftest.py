"""Fixtures for the storage migration tests: the real facade's layer, copies of the legacy
gateway, and runners for the real scripts, flake8 and lint-imports."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from storage_migration import StorageLayer, load_layer

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "scripts"

Completed = subprocess.CompletedProcess[str]

FLAKE8_CONFIG = """\
[flake8]
select = STG
storage-composition-roots = ./src/main.py
storage-source-roots = .
"""

IMPORTLINTER_CONFIG = """\
[importlinter]
root_package = src

[importlinter:contract:shims]
name = Only the storage package imports the deprecated shims
type = forbidden
source_modules =
    src.*
forbidden_modules =
    src.storage.async_redis_storage
    src.storage.redis_storage
allow_indirect_imports = true

[importlinter:contract:private]
name = The storage package's private modules stay private
type = private_modules
packages_with_private_modules =
    src.storage
"""


def _run_script(name: str, *arguments: str, cwd: Path) -> Completed:
    return subprocess.run(
        [sys.executable, str(SCRIPTS / name), *arguments],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )


def _copy_legacy_gateway(root: Path) -> Path:
    shutil.copytree(Path(__file__).parent / "fixtures" / "legacy_gateway", root)
    (root / ".flake8").write_text(FLAKE8_CONFIG)
    (root / ".importlinter").write_text(IMPORTLINTER_CONFIG)
    return root


@pytest.fixture(scope="session")
def layer() -> StorageLayer:
    """The layer read off the gateway's real facade."""
    return load_layer()


@pytest.fixture
def run_script() -> Callable[..., Completed]:
    """Run one of the repository's scripts, `(name, *arguments, cwd=folder)`, as a user
    would: a separate process with this interpreter."""
    return _run_script


@pytest.fixture
def flake8_stg() -> Callable[[Path], list[str]]:
    """The real flake8's STG findings on `src` in a folder, as `path:line:col: CODE`."""

    def findings(cwd: Path) -> list[str]:
        completed = subprocess.run(
            [sys.executable, "-m", "flake8", "--format=%(path)s:%(row)d:%(col)d: %(code)s", "src"],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=False,
        )
        assert completed.returncode in (0, 1), completed.stderr
        return completed.stdout.splitlines()

    return findings


@pytest.fixture
def lint_imports() -> Callable[[Path], Completed]:
    """Run the real `lint-imports` in a folder."""
    executable = Path(sys.executable).with_name("lint-imports")

    def lint(cwd: Path) -> Completed:
        return subprocess.run(
            [str(executable), "--no-cache"], cwd=cwd, capture_output=True, text=True, check=False
        )

    return lint


@pytest.fixture
def legacy_gateway(tmp_path: Path) -> Path:
    """A copy of the legacy gateway (`<copy>/src/...`) with flake8 and import-linter
    configured for it, as a project of its own."""
    return _copy_legacy_gateway(tmp_path / "gateway")


@pytest.fixture(scope="module")
def migrated_gateway(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the legacy gateway after `migrate_storage.py --write`, shared by the tests
    of a module that only read it."""
    root = _copy_legacy_gateway(tmp_path_factory.mktemp("migrated") / "gateway")
    completed = _run_script("migrate_storage.py", "--write", "src", cwd=root)
    assert completed.returncode == 0, completed.stderr
    return root

"""Fixtures for the storage migration tests: the real facade's layer, copies of the legacy
gateway, and runners for the real `storage-guard` command, flake8 and lint-imports."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from storage_guard.config import load_config
from storage_guard.migration import StorageLayer, load_layer
from tests.commands import Completed, run, storage_guard

REPO = Path(__file__).resolve().parents[2]


PYPROJECT = """\
[tool.storage-guard]
package = "src.storage"
composition-roots = ["src/main.py"]
source-roots = ["."]
"""

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


def _run_guard(*arguments: str, cwd: Path) -> Completed:
    return storage_guard(cwd, *arguments)


def _copy_legacy_gateway(root: Path) -> Path:
    shutil.copytree(Path(__file__).parent / "fixtures" / "legacy_gateway", root)
    (root / "pyproject.toml").write_text(PYPROJECT)
    (root / ".flake8").write_text(FLAKE8_CONFIG)
    (root / ".importlinter").write_text(IMPORTLINTER_CONFIG)
    return root


@pytest.fixture(scope="session")
def layer() -> StorageLayer:
    """The layer read (statically) off this repository's facade, `src.storage`."""
    return load_layer(load_config(pyproject=REPO / "pyproject.toml"))


@pytest.fixture
def guard() -> Callable[..., Completed]:
    """Run `storage-guard` (`(*arguments, cwd=folder)`) as a user would: a separate process
    with this interpreter, configured by the folder's `pyproject.toml`."""
    return _run_guard


@pytest.fixture
def flake8_stg() -> Callable[[Path], list[str]]:
    """The real flake8's STG findings on `src` in a folder, as `path:line:col: CODE`."""

    def findings(cwd: Path) -> list[str]:
        completed = run(
            cwd,
            sys.executable,
            "-m",
            "flake8",
            "--format=%(path)s:%(row)d:%(col)d: %(code)s",
            "src",
        )
        assert completed.returncode in (0, 1), completed.stderr
        return completed.stdout.splitlines()

    return findings


@pytest.fixture
def lint_imports() -> Callable[[Path], Completed]:
    """Run the real `lint-imports` in a folder."""
    executable = Path(sys.executable).with_name("lint-imports")

    def lint(cwd: Path) -> Completed:
        return run(cwd, str(executable), "--no-cache")

    return lint


@pytest.fixture
def legacy_gateway(tmp_path: Path) -> Path:
    """A copy of the legacy gateway (`<copy>/src/...`) with storage-guard, flake8 and
    import-linter configured for it, as a project of its own."""
    return _copy_legacy_gateway(tmp_path / "gateway")


@pytest.fixture(scope="module")
def migrated_gateway(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the legacy gateway after `storage-guard migrate --write`, shared by the tests
    of a module that only read it."""
    root = _copy_legacy_gateway(tmp_path_factory.mktemp("migrated") / "gateway")
    completed = _run_guard("migrate", "--write", "src", cwd=root)
    assert completed.returncode == 0, completed.stderr
    return root

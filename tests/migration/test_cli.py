"""`storage-guard migrate` as a user runs it: modes, exit codes, output, progress."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from storage_guard.migration.progress import ProgressBar

from .conftest import PYPROJECT

Guard = Callable[..., subprocess.CompletedProcess[str]]

OLD = (
    "from ..storage.async_redis_storage import AsyncRedisStorage\n"
    "\n"
    "\n"
    "async def show(storage: AsyncRedisStorage, host: str) -> object:\n"
    "    return await storage.get_proxy_target(host)\n"
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """`src/api/show.py` written the old way, in a package tree, with the legacy gateway's
    storage package (its class has the twin `aget_proxy_target`)."""
    fixture = Path(__file__).parent / "fixtures" / "legacy_gateway" / "src"
    shutil.copytree(fixture / "storage", tmp_path / "src" / "storage")
    (tmp_path / "src" / "main.py").write_text("")
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    api = tmp_path / "src" / "api"
    api.mkdir(parents=True)
    (tmp_path / "src" / "__init__.py").write_text("")
    (api / "__init__.py").write_text("")
    (api / "show.py").write_text(OLD)
    return tmp_path


def test_help_documents_the_modes(tmp_path: Path, guard: Guard) -> None:
    completed = guard("migrate", "--help", cwd=tmp_path)
    assert completed.returncode == 0
    for text in ("--diff", "--write", "--check"):
        assert text in completed.stdout


def test_a_dry_run_prints_a_diff_and_changes_nothing(project: Path, guard: Guard) -> None:
    completed = guard("migrate", "src", cwd=project)
    assert completed.returncode == 0, completed.stderr
    assert "--- a/src/api/show.py\n+++ b/src/api/show.py\n" in completed.stdout
    assert "+from ..storage import UnifiedStorage\n" in completed.stdout
    assert "+    return await storage.aget_proxy_target(host)\n" in completed.stdout
    assert "would rewrite src/api/show.py" in completed.stderr
    assert (project / "src" / "api" / "show.py").read_text() == OLD


def test_check_fails_while_changes_are_pending_then_passes(project: Path, guard: Guard) -> None:
    pending = guard("migrate", "--check", "src", cwd=project)
    assert pending.returncode == 1
    assert pending.stdout == ""
    assert "would rewrite src/api/show.py" in pending.stderr

    written = guard("migrate", "--write", "src", cwd=project)
    assert written.returncode == 0, written.stderr
    assert "rewrote src/api/show.py" in written.stderr

    done = guard("migrate", "--check", "src", cwd=project)
    assert done.returncode == 0, done.stderr
    assert "0 files to rewrite" in done.stderr


def test_unparsable_files_are_reported_and_left_byte_identical(project: Path, guard: Guard) -> None:
    broken = project / "src" / "api" / "broken.py"
    broken.write_bytes(OLD.encode() + b"def broken(:\r\n")
    undecodable = project / "src" / "api" / "latin.py"
    undecodable.write_bytes(OLD.encode() + b"NAME = '\xe9'\n")
    completed = guard("migrate", "--write", "src", cwd=project)
    assert completed.returncode == 1
    assert "src/api/broken.py: skipped: cannot parse" in completed.stderr
    assert "src/api/latin.py: skipped: cannot read" in completed.stderr
    assert broken.read_bytes() == OLD.encode() + b"def broken(:\r\n"
    assert undecodable.read_bytes() == OLD.encode() + b"NAME = '\xe9'\n"
    assert "UnifiedStorage" in (project / "src" / "api" / "show.py").read_text()


def test_manual_items_are_listed_with_file_and_line(project: Path, guard: Guard) -> None:
    (project / "src" / "api" / "own.py").write_text(
        "from ..storage.redis_storage import RedisStorage\n\nSTORAGE = RedisStorage()\n"
    )
    completed = guard("migrate", "--check", "src", cwd=project)
    assert re.search(
        r"src/api/own.py:3:11: manual \[construction\] SGM-[0-9a-f]{8}: ", completed.stderr
    )
    assert "1 manual item" in completed.stderr


def test_a_missing_path_is_a_usage_error(project: Path, guard: Guard) -> None:
    completed = guard("migrate", "--check", "nowhere.py", cwd=project)
    assert completed.returncode == 2
    assert "nowhere.py" in completed.stderr


def test_a_facade_without_the_class_is_a_configuration_error(project: Path, guard: Guard) -> None:
    (project / "src" / "storage" / "__init__.py").write_text("from ._models import ProxyTarget\n")
    completed = guard("migrate", "--check", "src", cwd=project)
    assert completed.returncode == 2
    assert "does not define or import a class 'UnifiedStorage'" in completed.stderr


def test_the_configuration_decides_the_package(tmp_path: Path, guard: Guard) -> None:
    """Run in another project, the codemod migrates to that project's facade, and never
    reads this repository's."""
    persistence = tmp_path / "acme" / "app" / "persistence"
    persistence.mkdir(parents=True)
    (persistence / "__init__.py").write_text(
        "from ._db import Database\n\n__all__ = ['Database']\n"
    )
    (persistence / "_db.py").write_text(
        "class Database:\n"
        "    def fetch(self, key: str) -> str: ...\n"
        "    async def afetch(self, key: str) -> str: ...\n"
    )
    (persistence / "legacy_db.py").write_text("from ._db import Database as LegacyDb\n")
    (tmp_path / "acme" / "app" / "wiring.py").write_text("")
    (tmp_path / "acme" / "app" / "jobs.py").write_text(
        "from acme.app.persistence.legacy_db import LegacyDb\n\n\n"
        "async def job(db: LegacyDb) -> str:\n"
        "    return await db.fetch('k')\n"
    )
    (tmp_path / "pyproject.toml").write_text(
        "[tool.storage-guard]\n"
        'package = "acme.app.persistence"\n'
        'classes = ["Database", "LegacyDb"]\n'
        'deprecated-modules = ["legacy_db"]\n'
        'deprecated-names = ["LegacyDb"]\n'
        'composition-roots = ["acme/app/wiring.py"]\n'
    )
    completed = guard("migrate", "--write", "acme", cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert (tmp_path / "acme" / "app" / "jobs.py").read_text() == (
        "from acme.app.persistence import Database\n\n\n"
        "async def job(db: Database) -> str:\n"
        "    return await db.afetch('k')\n"
    )


def test_bad_arguments_exit_2(project: Path, guard: Guard) -> None:
    completed = guard("migrate", "--write", "--check", "src", cwd=project)
    assert completed.returncode == 2
    assert completed.stdout == ""


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_progress_bar_shows_only_on_a_terminal_for_long_runs() -> None:
    clock = Clock()
    terminal = Terminal()
    bar = ProgressBar(terminal, 4, clock=clock, width=4)
    bar.advance()
    assert terminal.getvalue() == "", "a short run stays quiet"
    clock.now = 1.0
    bar.advance()
    assert terminal.getvalue() == "\r[##--] 2/4 files"
    bar.advance()
    assert terminal.getvalue() == "\r[##--] 2/4 files", "redrawn at most ten times a second"
    clock.now = 2.0
    bar.advance()
    bar.close()
    assert terminal.getvalue().endswith("\r[####] 4/4 files\r\x1b[K")


def test_the_progress_bar_is_silent_off_a_terminal() -> None:
    clock = Clock()
    stream = io.StringIO()
    bar = ProgressBar(stream, 2, clock=clock)
    clock.now = 5.0
    bar.advance()
    bar.close()
    assert stream.getvalue() == ""

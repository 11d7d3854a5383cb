"""`migrate_storage.py` as a user runs it: modes, exit codes, output, progress."""

from __future__ import annotations

import io
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from storage_migration.progress import ProgressBar

RunScript = Callable[..., subprocess.CompletedProcess[str]]

OLD = (
    "from ..storage.async_redis_storage import AsyncRedisStorage\n"
    "\n"
    "\n"
    "async def show(storage: AsyncRedisStorage, host: str) -> object:\n"
    "    return await storage.get_proxy_target(host)\n"
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """`src/api/show.py` written the old way, in a package tree."""
    api = tmp_path / "src" / "api"
    api.mkdir(parents=True)
    (tmp_path / "src" / "__init__.py").write_text("")
    (api / "__init__.py").write_text("")
    (api / "show.py").write_text(OLD)
    return tmp_path


def test_help_documents_the_modes_and_exit_codes(tmp_path: Path, run_script: RunScript) -> None:
    completed = run_script("migrate_storage.py", "--help", cwd=tmp_path)
    assert completed.returncode == 0
    for text in ("--write", "--check", "exit codes:", "  0  ", "  1  ", "  2  ", "  3  "):
        assert text in completed.stdout


def test_a_dry_run_prints_a_diff_and_changes_nothing(project: Path, run_script: RunScript) -> None:
    completed = run_script("migrate_storage.py", "src", cwd=project)
    assert completed.returncode == 0, completed.stderr
    assert "--- a/src/api/show.py\n+++ b/src/api/show.py\n" in completed.stdout
    assert "+from ..storage import UnifiedStorage\n" in completed.stdout
    assert "+    return await storage.aget_proxy_target(host)\n" in completed.stdout
    assert "would rewrite src/api/show.py" in completed.stderr
    assert (project / "src" / "api" / "show.py").read_text() == OLD


def test_check_fails_while_changes_are_pending_then_passes(
    project: Path, run_script: RunScript
) -> None:
    pending = run_script("migrate_storage.py", "--check", "src", cwd=project)
    assert pending.returncode == 1
    assert pending.stdout == ""
    assert "would rewrite src/api/show.py" in pending.stderr

    written = run_script("migrate_storage.py", "--write", "src", cwd=project)
    assert written.returncode == 0, written.stderr
    assert "rewrote src/api/show.py" in written.stderr

    done = run_script("migrate_storage.py", "--check", "src", cwd=project)
    assert done.returncode == 0, done.stderr
    assert "0 files to rewrite" in done.stderr


def test_unparsable_files_are_reported_and_left_byte_identical(
    project: Path, run_script: RunScript
) -> None:
    broken = project / "src" / "api" / "broken.py"
    broken.write_bytes(OLD.encode() + b"def broken(:\r\n")
    undecodable = project / "src" / "api" / "latin.py"
    undecodable.write_bytes(OLD.encode() + b"NAME = '\xe9'\n")
    completed = run_script("migrate_storage.py", "--write", "src", cwd=project)
    assert completed.returncode == 3
    assert "src/api/broken.py: skipped: cannot parse" in completed.stderr
    assert "src/api/latin.py: skipped: cannot read" in completed.stderr
    assert broken.read_bytes() == OLD.encode() + b"def broken(:\r\n"
    assert undecodable.read_bytes() == OLD.encode() + b"NAME = '\xe9'\n"
    assert "UnifiedStorage" in (project / "src" / "api" / "show.py").read_text()


def test_manual_items_are_listed_with_file_and_line(project: Path, run_script: RunScript) -> None:
    (project / "src" / "api" / "own.py").write_text(
        "from ..storage.redis_storage import RedisStorage\n\nSTORAGE = RedisStorage()\n"
    )
    completed = run_script("migrate_storage.py", "--check", "src", cwd=project)
    assert "src/api/own.py:3:11: manual [construction]:" in completed.stderr
    assert "1 manual item" in completed.stderr


def test_a_missing_path_is_reported(project: Path, run_script: RunScript) -> None:
    completed = run_script("migrate_storage.py", "--check", "nowhere.py", cwd=project)
    assert completed.returncode == 3
    assert "nowhere.py: skipped: cannot read" in completed.stderr


def test_bad_arguments_exit_2(project: Path, run_script: RunScript) -> None:
    completed = run_script("migrate_storage.py", "--write", "--check", "src", cwd=project)
    assert completed.returncode == 2


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

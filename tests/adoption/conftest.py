"""A foreign project, `acme`, adopting the suite: its storage package is
`acme.app.persistence` (class `Database`), its composition root `acme/app/wiring.py`, one
folder without `__init__.py`, and its configuration only in `pyproject.toml`."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ACME = Path(__file__).parent / "fixtures" / "acme"

Completed = subprocess.CompletedProcess[str]


def run(cwd: Path, *command: str, timeout: float = 60) -> Completed:
    """`command` run in `cwd`, its output captured."""
    return subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, check=False, timeout=timeout
    )


def storage_guard(cwd: Path, *args: str) -> Completed:
    """The installed `storage-guard` command."""
    return run(cwd, sys.executable, "-m", "storage_guard", *args)


@pytest.fixture
def acme(tmp_path: Path) -> Path:
    """A copy of the acme project."""
    return Path(shutil.copytree(ACME, tmp_path / "acme"))


def set_startup(project: Path, entry: str | None) -> None:
    """Configure `[tool.storage-guard] startup` (None: leave it out)."""
    pyproject = project / "pyproject.toml"
    lines = [line for line in pyproject.read_text().splitlines() if not line.startswith("startup")]
    if entry is not None:
        lines.append(f'startup = "{entry}"')
    pyproject.write_text("\n".join(lines) + "\n")

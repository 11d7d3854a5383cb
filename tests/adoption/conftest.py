"""A foreign project, `acme`, adopting the suite: its storage package is
`acme.app.persistence` (class `Database`), its composition root `acme/app/wiring.py`, one
folder without `__init__.py`, and its configuration only in `pyproject.toml`."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ACME = Path(__file__).parent / "fixtures" / "acme"


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

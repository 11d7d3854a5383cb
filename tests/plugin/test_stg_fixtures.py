"""Fixture files, bugbear style: each offending line says what flake8 must report on it.

`fixtures/` holds a small project (`project/`, the source root, with `src/storage` and the
composition root `src/main.py`) and `outside_root.py`, outside every source root. Files end
in `.py.txt` so that no tool lints or imports them as code; they are copied into a temporary
tree without the `.txt`, and the real `flake8` runs once over it.

A line that must be reported ends with `# expect: STG001@46`: the codes with the column
flake8 prints, comma-separated; every other line must not be reported.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
FIXTURE_FILES = sorted(path.relative_to(FIXTURES).as_posix() for path in FIXTURES.rglob("*.py.txt"))
EXPECT = re.compile(r"# expect: (.+)$")
REPORTED = re.compile(r"^\./(?P<path>.+?):(?P<line>\d+):(?P<col>\d+): (?P<code>\w+) ")

CONFIG = """\
[flake8]
select = STG
storage-source-roots = ./project
storage-composition-roots = ./project/src/main.py
"""


def expectations(fixture: str) -> list[str]:
    """`line:col CODE` of each violation the fixture's comments announce."""
    found = []
    for number, line in enumerate((FIXTURES / fixture).read_text().splitlines(), 1):
        match = EXPECT.search(line)
        if match:
            for item in match.group(1).split(","):
                code, col = item.strip().split("@")
                found.append(f"{number}:{col} {code}")
    return found


@pytest.fixture(scope="module")
def reported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """flake8's violations per fixture (named like `FIXTURE_FILES`), as `line:col CODE`."""
    tree = tmp_path_factory.mktemp("fixtures")
    for fixture in FIXTURE_FILES:
        target = tree / fixture.removesuffix(".txt")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(FIXTURES / fixture, target)
    (tree / ".flake8").write_text(CONFIG)
    result = subprocess.run(
        [sys.executable, "-m", "flake8"], cwd=tree, capture_output=True, text=True, check=False
    )
    assert result.stderr == ""
    violations: dict[str, list[str]] = {}
    for line in result.stdout.splitlines():
        match = REPORTED.match(line)
        assert match, line
        violations.setdefault(match["path"] + ".txt", []).append(
            f"{match['line']}:{match['col']} {match['code']}"
        )
    return violations


def test_every_fixture_expects_something_or_is_meant_clean() -> None:
    clean = {
        "project/src/components/clean.py.txt",
        "project/src/storage/__init__.py.txt",
        "project/src/storage/backends/_pool.py.txt",
    }
    assert {fixture for fixture in FIXTURE_FILES if not expectations(fixture)} == clean


@pytest.mark.parametrize("fixture", FIXTURE_FILES)
def test_fixture(reported: dict[str, list[str]], fixture: str) -> None:
    assert reported.get(fixture, []) == expectations(fixture)

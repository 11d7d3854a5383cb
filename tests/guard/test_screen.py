"""The text screen before parsing: it may skip a file only when no rule can fire in it, so
every spelling that can break a rule is still found."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from storage_guard import load_config
from storage_guard.check import check_file, may_break_a_rule


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("if TYPE_CHECKING: from app.storage._backend import B\n", ["1:52 STG001"]),
        ("x = 1; import app.storage._backend\n", ["1:15 STG001"]),
        ("from app.storage._backend \\\n    import B\n", ["2:12 STG001"]),
        ("from app.\\\n    storage._backend import B\n", ["2:29 STG001"]),
        ("from app.storage import (\n    _backend,\n)\n", ["2:5 STG001"]),
        (
            'import importlib\nimportlib.import_module(\n    "app.storage._backend"\n)\n',
            ["2:1 STG004"],
        ),
        ('__import__("storage._backend", level=1)\n', ["1:1 STG004"]),
        # A fullwidth spelling is the same name once Python normalises identifiers.
        # (Columns count UTF-8 bytes, as ast does.)
        ("from app.\uff53\uff54\uff4f\uff52\uff41\uff47\uff45 import _backend\n", ["1:39 STG001"]),
        ("from app.storage import Storage as S\nS(1)\n", ["2:1 STG003"]),
    ],
)
def test_every_spelling_that_can_break_a_rule_is_checked(
    project: Path, source: str, expected: list[str]
) -> None:
    path = project / "app" / "component.py"
    path.write_text(source, encoding="utf-8")
    found = check_file(path, load_config(project))
    assert [f"{f.line}:{f.column} {f.code}" for f in found] == expected


@pytest.mark.parametrize(
    "source",
    [
        "# the storage of the cache\n",
        '"""Where storage lives."""\nx = "storage"\n',
        "storage = {}\nstorage_size = 1\n",
        "from app import storage_helpers\n",
    ],
)
def test_a_file_that_cannot_break_a_rule_is_not_parsed(project: Path, source: str) -> None:
    assert not may_break_a_rule(textwrap.dedent(source), load_config(project))

"""Each rewrite form, before and after, and the after as a fixed point.

`fixtures/golden/<case>.before.py` starts with `# module: <dotted name>`, the module the
case pretends to be; `<case>.manual.txt`, when present, lists what is left to a person.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from storage_guard.migration import ManualItem, SourceFile, StorageLayer, migrate_source
from storage_guard.modules import ModulePath

GOLDEN = Path(__file__).parent / "fixtures" / "golden"
CASES = sorted(path.name.removesuffix(".before.py") for path in GOLDEN.glob("*.before.py"))
UNCHANGED = {"already_migrated", "dynamic_import", "unresolvable_relative"}


def where(source: str, layer: StorageLayer) -> SourceFile:
    """The file the case pretends to be, below this repository's root."""
    header = source.splitlines()[0]
    assert header.startswith("# module: "), "a golden case names its module first"
    name = header.removeprefix("# module: ")
    relative = name.replace(".", "/") + ".py"
    return SourceFile(
        ModulePath(name),
        relative,
        composition_root=layer.config.root / relative in layer.config.composition_roots,
    )


def expected_manual(case: str) -> list[str]:
    listing = GOLDEN / f"{case}.manual.txt"
    return listing.read_text().splitlines() if listing.exists() else []


def listed(items: tuple[ManualItem, ...]) -> list[str]:
    return [f"{item.line}:{item.column}: {item.kind}: {item.message}" for item in items]


def read(case: str, kind: str) -> str:
    return Path(GOLDEN / f"{case}.{kind}.py").read_text()


def test_there_are_cases_for_every_form() -> None:
    assert len(CASES) >= 20


@pytest.mark.parametrize("case", CASES)
def test_before_becomes_after(case: str, layer: StorageLayer) -> None:
    before = read(case, "before")
    migration = migrate_source(before, where(before, layer), layer)
    assert migration.migrated == read(case, "after")
    assert listed(migration.manual) == expected_manual(case)
    assert migration.changed is (case not in UNCHANGED)


@pytest.mark.parametrize("case", CASES)
def test_after_is_left_alone(case: str, layer: StorageLayer) -> None:
    after = read(case, "after")
    migration = migrate_source(after, where(after, layer), layer)
    assert not migration.changed
    assert listed(migration.manual) == expected_manual(case)

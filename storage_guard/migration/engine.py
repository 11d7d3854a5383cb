"""Migrate one module's source: imports first, then calls, then list what is left."""

from __future__ import annotations

import ast
from dataclasses import dataclass

import libcst as cst

from .analysis import ManualItem, SourceAnalysis, SourceFile
from .calls import apply_calls, plan_calls
from .imports import apply_imports, plan_imports
from .layer import StorageLayer
from .manual import find_manual_items
from .screening import touches_storage
from .suppression import is_ignored, with_ids


class UnparsableError(Exception):
    """The source is not Python the migration can parse."""


@dataclass(frozen=True)
class Migration:
    """The migrated text of one module and the spots left for a person."""

    original: str
    migrated: str
    manual: tuple[ManualItem, ...]
    """With their ids, in source order; suppressed items are not among them."""

    @property
    def changed(self) -> bool:
        """Whether the migration rewrote anything."""
        return self.migrated != self.original


def migrate_source(source: str, where: SourceFile, layer: StorageLayer) -> Migration:
    """Migrate `source`, the text of the file `where`, to the facade.

    Manual items carry their position in the migrated text. The storage package itself is
    left alone: its internals are what the facade hides.

    Raises:
        UnparsableError: `source` does not parse.
    """
    try:
        syntax = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise UnparsableError(_reason(exc)) from exc
    module = where.module
    if module is not None and layer.owns(module.name):
        return Migration(source, source, ())
    # Every way to reach the storage layer spells one of these (module paths, class names).
    lowered = source.lower()
    if not any(word in lowered for word in layer.words):
        return Migration(source, source, ())
    if not touches_storage(syntax, module, layer):
        return Migration(source, source, ())
    try:
        return _migrate_tree(cst.parse_module(source), source, where, layer)
    except (cst.ParserSyntaxError, RecursionError) as exc:
        raise UnparsableError(_reason(exc)) from exc


def _migrate_tree(
    tree: cst.Module, source: str, where: SourceFile, layer: StorageLayer
) -> Migration:
    analysis = SourceAnalysis(tree, where, layer)
    imports = plan_imports(analysis)
    if imports:
        analysis = SourceAnalysis(apply_imports(analysis.tree, imports), where, layer)
    calls = plan_calls(analysis)
    if calls:
        analysis = SourceAnalysis(apply_calls(analysis.tree, calls), where, layer)
    if imports or calls:
        # Positions must be those of the migrated text.
        imports = plan_imports(analysis)
        calls = plan_calls(analysis)
    found = {*imports.manual, *calls.manual, *find_manual_items(analysis)}
    manual = [
        item
        for item in with_ids(where.relative, found)
        if not is_ignored(analysis.lines, item)
        and not (
            item.code is not None
            and analysis.is_accepted(item.first_line, item.last_line, item.code)
        )
    ]
    return Migration(source, analysis.tree.code, tuple(manual))


def _reason(exc: BaseException) -> str:
    if isinstance(exc, RecursionError | MemoryError):
        return "nested too deeply"
    if isinstance(exc, SyntaxError):
        return f"{exc.msg} (line {exc.lineno})"
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__

"""Migrate one module's source: imports first, then calls, then list what is left."""

from __future__ import annotations

import ast
from dataclasses import dataclass

import libcst as cst

from .analysis import ManualItem, SourceAnalysis
from .calls import apply_calls, plan_calls
from .imports import apply_imports, plan_imports
from .layer import StorageLayer
from .manual import find_manual_items
from .modules import ModulePath
from .screening import touches_storage


class UnparsableError(Exception):
    """The source is not Python the migration can parse."""


@dataclass(frozen=True)
class Migration:
    """The migrated text of one module and the spots left for a person."""

    original: str
    migrated: str
    manual: tuple[ManualItem, ...]

    @property
    def changed(self) -> bool:
        """Whether the migration rewrote anything."""
        return self.migrated != self.original


def migrate_source(source: str, module: ModulePath, layer: StorageLayer) -> Migration:
    """Migrate `source`, the text of `module`, to the facade.

    Manual items carry their position in the migrated text. The storage package itself is
    left alone: its internals are what the facade hides.

    Raises:
        UnparsableError: `source` does not parse.
    """
    try:
        syntax = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise UnparsableError(_reason(exc)) from exc
    # Every way to reach the storage layer spells "storage" (module paths, class names).
    if layer.owns(module.name) or "storage" not in source.lower():
        return Migration(source, source, ())
    if not touches_storage(syntax, module, layer):
        return Migration(source, source, ())
    try:
        return _migrate_tree(cst.parse_module(source), source, module, layer)
    except (cst.ParserSyntaxError, RecursionError) as exc:
        raise UnparsableError(_reason(exc)) from exc


def _migrate_tree(
    tree: cst.Module, source: str, module: ModulePath, layer: StorageLayer
) -> Migration:
    analysis = SourceAnalysis(tree, module, layer)
    imports = plan_imports(analysis)
    if imports:
        analysis = SourceAnalysis(apply_imports(analysis.tree, imports), module, layer)
    calls = plan_calls(analysis)
    if calls:
        analysis = SourceAnalysis(apply_calls(analysis.tree, calls), module, layer)
    if imports or calls:
        # Positions must be those of the migrated text.
        imports = plan_imports(analysis)
        calls = plan_calls(analysis)
    manual = {*imports.manual, *calls.manual, *find_manual_items(analysis)}
    return Migration(source, analysis.tree.code, tuple(sorted(manual)))


def _reason(exc: BaseException) -> str:
    if isinstance(exc, RecursionError | MemoryError):
        return "nested too deeply"
    if isinstance(exc, SyntaxError):
        return f"{exc.msg} (line {exc.lineno})"
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__

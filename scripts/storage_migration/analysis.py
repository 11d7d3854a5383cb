"""A parsed module with the metadata every step of the migration reads."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import cast

import libcst as cst
from libcst.metadata import (
    Access,
    CodeRange,
    MetadataWrapper,
    ParentNodeProvider,
    PositionProvider,
    Scope,
    ScopeProvider,
)

from .layer import StorageLayer
from .modules import ModulePath


@dataclass(frozen=True, order=True)
class ManualItem:
    """A spot the migration leaves alone because it cannot prove the rewrite is right."""

    line: int
    column: int
    kind: str
    message: str


def dotted_name(node: cst.CSTNode) -> str | None:
    """`a.b.c` for a chain of plain names and attributes, else `None`."""
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        base = dotted_name(node.value)
        return f"{base}.{node.attr.value}" if base is not None else None
    return None


class SourceAnalysis:
    """One version of a module's tree, its scopes, parents and positions."""

    def __init__(self, tree: cst.Module, module: ModulePath, layer: StorageLayer) -> None:
        wrapper = MetadataWrapper(tree, unsafe_skip_copy=True)
        self.tree = wrapper.module
        self.module = module
        self.layer = layer
        # One batched pass computes all three, instead of a tree walk each.
        resolved = wrapper.resolve_many([ScopeProvider, ParentNodeProvider, PositionProvider])
        self._scopes = cast(Mapping[cst.CSTNode, Scope | None], resolved[ScopeProvider])
        self._parents = cast(Mapping[cst.CSTNode, cst.CSTNode], resolved[ParentNodeProvider])
        self._positions = cast(Mapping[cst.CSTNode, CodeRange], resolved[PositionProvider])
        self._all_nodes: list[cst.CSTNode] | None = None

    def nodes(self, *kinds: type[cst.CSTNode]) -> Iterator[cst.CSTNode]:
        """Every node of the tree that is an instance of one of `kinds`, in source order."""
        if self._all_nodes is None:
            collector = _Collector()
            self.tree.visit(collector)
            self._all_nodes = collector.found
        return (node for node in self._all_nodes if isinstance(node, kinds))

    def scope(self, node: cst.CSTNode) -> Scope | None:
        """The scope `node` is evaluated in."""
        return self._scopes.get(node)

    def parent(self, node: cst.CSTNode) -> cst.CSTNode | None:
        """The node that holds `node`, `None` for the module."""
        return self._parents.get(node)

    def location(self, node: cst.CSTNode) -> tuple[int, int]:
        """Line and 1-based column where `node` starts, as flake8 counts them."""
        start = self._positions[node].start
        return start.line, start.column + 1

    def item(self, node: cst.CSTNode, kind: str, message: str) -> ManualItem:
        """A manual item at `node`."""
        return ManualItem(*self.location(node), kind, message)

    def code(self, node: cst.CSTNode) -> str:
        """The source text of `node`."""
        return self.tree.code_for_node(node)

    def absolute(self, qualified_name: str) -> str | None:
        """`qualified_name` with any leading dots resolved against this module's package."""
        dots = len(qualified_name) - len(qualified_name.lstrip("."))
        if not dots:
            return qualified_name
        return self.module.resolve(dots, qualified_name[dots:] or None)

    def qualified_names(self, scope: Scope, name: str | cst.CSTNode) -> set[str]:
        """The absolute names `name` may refer to in `scope`."""
        found = set()
        for qualified in scope.get_qualified_names_for(name):
            resolved = self.absolute(qualified.name)
            if resolved is not None:
                found.add(resolved)
        return found

    def access_of(self, name: cst.Name) -> Access | None:
        """The access that `name` records in its scope, if it reads a variable."""
        scope = self.scope(name)
        if scope is None:
            return None
        return next((access for access in scope.accesses[name] if access.node is name), None)


class _Collector(cst.CSTVisitor):
    def __init__(self) -> None:
        self.found: list[cst.CSTNode] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        self.found.append(node)
        return True

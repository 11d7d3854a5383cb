"""A parsed module with the metadata every step of the migration reads."""

from __future__ import annotations

import ast
import io
import tokenize
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
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

from ..modules import ModulePath
from ..noqa import codes_on, is_suppressed
from ..scan import FileScan
from .layer import StorageLayer

_IMPORT_CODES = frozenset({"STG001", "STG002", "STG005"})
_IMPORT_KINDS = frozenset({"import", "shadowing"})


@dataclass(frozen=True, order=True)
class ManualItem:
    """A spot the migration leaves alone because it cannot prove the rewrite is right."""

    line: int
    column: int
    kind: str
    message: str
    code: str | None = field(default=None, compare=False)
    """The STG code the spot is reported under, if the lint reports it at all."""
    source: str = field(default="", compare=False)
    """The spot's source text, whitespace folded: what its id is made of."""
    first_line: int = field(default=0, compare=False)
    last_line: int = field(default=0, compare=False)
    """The lines of the statement the spot is in: where a suppression comment may go."""
    id: str = field(default="", compare=False)
    """`SGM-` and 8 hex digits, stable while the file's path and the spot's text are."""


@dataclass(frozen=True, slots=True)
class SourceFile:
    """Where a migrated source sits in the project."""

    module: ModulePath | None
    """Its module name from the source roots; None outside every root."""
    relative: str
    """Its path relative to the project root, with `/`: part of each manual item's id."""
    composition_root: bool = False
    ignored: frozenset[str] = frozenset()
    """The codes (and code prefixes) `per-file-ignores` ignores in it."""


def dotted_name(node: cst.CSTNode) -> str | None:
    """`a.b.c` for a chain of plain names and attributes, else `None`."""
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        base = dotted_name(node.value)
        return f"{base}.{node.attr.value}" if base is not None else None
    return None


def normalised(code: str) -> str:
    """`code` as its tokens, without comments and layout: a reformatted spot keeps its id."""
    try:
        tokens = [
            token.string
            for token in tokenize.generate_tokens(io.StringIO(code).readline)
            if token.type not in _LAYOUT
        ]
    except (tokenize.TokenError, SyntaxError):
        return " ".join(code.split())
    return " ".join(tokens)


_LAYOUT = frozenset(
    {
        tokenize.COMMENT,
        tokenize.NL,
        tokenize.NEWLINE,
        tokenize.INDENT,
        tokenize.DEDENT,
        tokenize.ENDMARKER,
    }
)


class SourceAnalysis:
    """One version of a module's tree, its scopes, parents and positions."""

    def __init__(self, tree: cst.Module, where: SourceFile, layer: StorageLayer) -> None:
        wrapper = MetadataWrapper(tree, unsafe_skip_copy=True)
        self.tree = wrapper.module
        self.where = where
        self.module = where.module
        self.layer = layer
        # Lines as the parsers count them (`\n`, `\r\n`, `\r`), unlike `str.splitlines`.
        self.lines = io.StringIO(self.tree.code, newline="").readlines()
        self._import_codes: dict[int, set[str]] | None = None
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

    def item(
        self, node: cst.CSTNode, kind: str, message: str, code: str | None = None
    ) -> ManualItem:
        """A manual item at `node`, which the lint reports as `code` (if at all); an item on
        an import statement takes the code the statement is reported under."""
        first, last = self.statement_lines(node)
        if code is None and kind in _IMPORT_KINDS:
            code = min(self.import_codes().get(first, ()), default=None)
        return ManualItem(
            *self.location(node),
            kind,
            message,
            code=code,
            source=normalised(self.code(node)),
            first_line=first,
            last_line=last,
        )

    def statement_lines(self, node: cst.CSTNode) -> tuple[int, int]:
        """The first and last line of the statement `node` is in; for a node in the header of
        a compound statement (`if`, `with`, `def`...), of the header up to its colon."""
        current: cst.CSTNode | None = node
        while current is not None:
            if isinstance(current, cst.SimpleStatementLine):
                span = self._positions[current]
                return span.start.line, span.end.line
            if isinstance(current, cst.BaseCompoundStatement):
                body = self._positions[current.body]
                return self._positions[current].start.line, body.start.line
            current = self.parent(current)
        span = self._positions[node]
        return span.start.line, span.end.line

    def import_codes(self) -> Mapping[int, set[str]]:
        """The STG codes of the lint's import findings, by the statement's first line."""
        if self._import_codes is None:
            codes: dict[int, set[str]] = {}
            scan = FileScan(
                self.layer.config, self.module, composition_root=self.where.composition_root
            )
            for report in scan.scan(ast.parse(self.tree.code)):
                if report.code in _IMPORT_CODES:
                    codes.setdefault(report.first_line, set()).add(report.code)
            self._import_codes = codes
        return self._import_codes

    def is_accepted(self, first: int, last: int, code: str) -> bool:
        """Whether `# noqa` on lines `first`..`last` or `per-file-ignores` accepts `code`."""
        ignored = tuple(self.where.ignored)
        return bool(ignored and code.startswith(ignored)) or is_suppressed(
            self.lines, first, last, code
        )

    def is_protected(self, statement: cst.Import | cst.ImportFrom) -> bool:
        """Whether the import must stay as written: a bare `# noqa` marks it, or the lint's
        finding on it is accepted (`# noqa: STG00x`, `per-file-ignores`)."""
        first, last = self.statement_lines(statement)
        if self._bare_noqa(first, last, stg_codes=False):
            return True
        return any(
            self.is_accepted(first, last, code) for code in self.import_codes().get(first, ())
        )

    def is_left_alone(self, node: cst.CSTNode) -> bool:
        """Whether the statement of a call carries a `# noqa` for every code or an STG one:
        a renamed call is no finding of its own, so any STG mark means "leave this"."""
        return self._bare_noqa(*self.statement_lines(node), stg_codes=True)

    def _bare_noqa(self, first: int, last: int, *, stg_codes: bool) -> bool:
        for number in range(max(first, 1), min(last, len(self.lines)) + 1):
            codes = codes_on(self.lines[number - 1])
            if codes is None:
                continue
            if not codes or (stg_codes and any(code.startswith("STG") for code in codes)):
                return True
        return False

    def code(self, node: cst.CSTNode) -> str:
        """The source text of `node`."""
        return self.tree.code_for_node(node)

    def absolute(self, qualified_name: str) -> str | None:
        """`qualified_name` with any leading dots resolved against this module's package."""
        dots = len(qualified_name) - len(qualified_name.lstrip("."))
        if not dots:
            return qualified_name
        return self.resolve(dots, qualified_name[dots:] or None)

    def resolve(self, level: int, module: str | None) -> str | None:
        """The absolute name of `from {'.' * level}{module} import ...` here; None when the
        dots climb above the top package, or the file is outside every source root."""
        if level == 0:
            return module
        return self.module.resolve(level, module) if self.module is not None else None

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

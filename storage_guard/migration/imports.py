"""Rewrite imports of deprecated, private or non-facade storage modules to the facade.

Every import binds a name; the rewrite follows that binding to each place that reads it,
so an import and its uses change together or not at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import libcst as cst
from libcst.metadata import Access, Assignment, ImportAssignment, Scope

from .analysis import ManualItem, SourceAnalysis, dotted_name
from .layer import StorageLayer

ImportNode = cst.Import | cst.ImportFrom
NameSpec = tuple[str, str | None]
"""A name the facade import binds: the facade's name and its `as` alias."""


@dataclass(frozen=True)
class StatementChange:
    """What becomes of one import statement: its replacement (`None` drops it) and a facade
    import to put right before it."""

    replacement: ImportNode | None
    prefix: cst.ImportFrom | None = None


@dataclass(frozen=True)
class ImportPlan:
    """The edits that move one module's storage imports to the facade, and what they leave."""

    statements: Mapping[cst.CSTNode, StatementChange]
    expressions: Mapping[cst.CSTNode, cst.BaseExpression]
    manual: tuple[ManualItem, ...]

    def __bool__(self) -> bool:
        return bool(self.statements or self.expressions)


def plan_imports(analysis: SourceAnalysis) -> ImportPlan:
    """Work out how to move every storage import of the module to the facade."""
    return _Planner(analysis).plan()


def apply_imports(tree: cst.Module, plan: ImportPlan) -> cst.Module:
    """Apply `plan` to the tree it was made from."""
    return tree.visit(_Rewriter(plan))


@dataclass(frozen=True)
class _Rename:
    """A storage name imported under its own name, re-bound to its facade counterpart."""

    old: str
    new: str

    @property
    def local(self) -> str:
        return self.old


@dataclass(frozen=True)
class _ModuleUse:
    """A name bound to a whole storage module: the attributes read off it are what it needs."""

    local: str
    module: str


@dataclass(frozen=True)
class _FacadeModule:
    """A name bound to the facade module itself: only deprecated attributes change."""

    local: str


_Binding = _Rename | _ModuleUse | _FacadeModule


@dataclass
class _Statement:
    node: ImportNode
    order: tuple[int, int]
    is_facade_import: bool
    moved: dict[cst.ImportAlias, NameSpec] = field(default_factory=dict)
    dropped: dict[cst.ImportAlias, list[NameSpec]] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.moved or self.dropped)

    @property
    def aliases(self) -> Sequence[cst.ImportAlias]:
        assert not isinstance(self.node.names, cst.ImportStar)
        return self.node.names

    def contributions(self) -> list[NameSpec]:
        """The facade names that replace this statement's moved and dropped aliases."""
        names = list(self.moved.values())
        for needed in self.dropped.values():
            names.extend(needed)
        return names

    def specs(self) -> list[NameSpec]:
        """Every name this facade import binds once its own aliases are rewritten."""
        specs: list[NameSpec] = []
        for alias in self.aliases:
            if alias in self.moved:
                specs.append(self.moved[alias])
            elif alias in self.dropped:
                specs.extend(self.dropped[alias])
            else:
                specs.append((alias.evaluated_name, alias.evaluated_alias))
        return specs


class _BlockedError(Exception):
    """A binding the rewrite cannot follow to every use; its import stays as it is."""

    def __init__(self, node: cst.CSTNode, message: str) -> None:
        super().__init__(message)
        self.node = node


class _Planner:
    def __init__(self, analysis: SourceAnalysis) -> None:
        self.analysis = analysis
        self.layer = analysis.layer
        self.expressions: dict[cst.CSTNode, cst.BaseExpression] = {}
        self.strings: dict[cst.SimpleString, list[_Binding]] = {}
        self.manual: list[ManualItem] = []

    def plan(self) -> ImportPlan:
        suites: dict[cst.CSTNode, list[_Statement]] = {}
        for node in self.analysis.nodes(cst.Import, cst.ImportFrom):
            assert isinstance(node, ImportNode)
            statement = self._classify(node)
            if statement.changed or statement.is_facade_import:
                suites.setdefault(self._suite_of(node), []).append(statement)
        statements: dict[cst.CSTNode, StatementChange] = {}
        for members in suites.values():
            if any(member.changed for member in members):
                members.sort(key=lambda member: member.order)
                statements.update(self._merge(members))
        for string, bindings in self.strings.items():
            self.expressions[string] = _rewrite_string(string, bindings, self.layer)
        return ImportPlan(statements, self.expressions, tuple(self.manual))

    def _suite_of(self, node: ImportNode) -> cst.CSTNode:
        line = self.analysis.parent(node)
        if isinstance(line, cst.SimpleStatementSuite):
            return line
        assert line is not None
        suite = self.analysis.parent(line)
        assert suite is not None
        return suite

    # Which aliases change

    def _classify(self, node: ImportNode) -> _Statement:
        if self.analysis.is_protected(node):
            return _Statement(node, self.analysis.location(node), is_facade_import=False)
        if isinstance(node, cst.ImportFrom):
            return self._classify_from(node)
        statement = _Statement(node, self.analysis.location(node), is_facade_import=False)
        for alias in node.names:
            target = alias.evaluated_name
            local = alias.evaluated_alias or target
            if target == self.layer.facade:
                self._follow(node, _FacadeModule(local))
            elif self.layer.is_restricted(target):
                needed = self._follow(node, _ModuleUse(local, target))
                if needed is not None:
                    statement.dropped[alias] = [(name, None) for name in sorted(needed)]
        return statement

    def _classify_from(self, node: cst.ImportFrom) -> _Statement:
        module = self.analysis.resolve(
            len(node.relative), dotted_name(node.module) if node.module else None
        )
        is_star = isinstance(node.names, cst.ImportStar)
        is_facade = module == self.layer.facade and not is_star
        statement = _Statement(node, self.analysis.location(node), is_facade_import=is_facade)
        if module is None and self.analysis.module is None:
            # Outside every source root a relative import names nothing we can know.
            return statement
        if module is None:
            assert self.analysis.module is not None
            written = "." * len(node.relative) + (
                self.analysis.code(node.module) if node.module else ""
            )
            if any(word in written.lower() for word in self.layer.words):
                self._manual(
                    node,
                    f"`{written}` climbs above the top package of `{self.analysis.module.name}` "
                    "and fails at run time: check `source-roots`, or rewrite the import by hand",
                )
            return statement
        if isinstance(node.names, cst.ImportStar):
            if self.layer.is_restricted(module):
                self._manual(
                    node,
                    f"star import from `{module}`: import what you need from "
                    f"`{self.layer.facade}` by name",
                )
            return statement
        for alias in node.names:
            name = alias.evaluated_name
            local = alias.evaluated_alias
            if f"{module}.{name}" == self.layer.facade:
                self._follow(node, _FacadeModule(local or name))
            elif module == self.layer.facade:
                if name in self.layer.deprecated_names:
                    self._move(statement, alias, self.layer.replacement)
                elif self.layer.is_restricted(f"{module}.{name}"):
                    needed = self._follow(node, _ModuleUse(local or name, f"{module}.{name}"))
                    if needed is not None:
                        statement.dropped[alias] = [(found, None) for found in sorted(needed)]
            elif self.layer.is_submodule(module):
                counterpart = self.layer.counterpart(name)
                if counterpart is not None:
                    self._move(statement, alias, counterpart)
                elif self.layer.is_restricted(module):
                    self._manual(
                        alias,
                        f"`{name}` from `{module}` has no counterpart in "
                        f"`{self.layer.facade}`: replace it by hand",
                    )
        return statement

    def _move(self, statement: _Statement, alias: cst.ImportAlias, new: str) -> None:
        name = alias.evaluated_name
        local = alias.evaluated_alias
        if (
            local is None
            and new != name
            and self._follow(statement.node, _Rename(name, new)) is None
        ):
            return
        statement.moved[alias] = (new, None if local in (None, new) else local)

    def _shadows(self, statement: ImportNode, names: Iterable[str]) -> bool:
        """Whether a name the facade import would bind is already bound, in the statement's
        scope, to something that is not the storage package's (reported if so)."""
        scope = self.analysis.scope(statement)
        assert scope is not None
        for name in sorted(names):
            for assignment in scope.assignments[name]:
                if not isinstance(assignment, Assignment):
                    continue
                node = assignment.node
                if isinstance(assignment, ImportAssignment) and self._imports_storage(node):
                    continue
                self.manual.append(
                    self.analysis.item(
                        statement,
                        "shadowing",
                        f"`{name}` is already bound at line {self._line(node)} to something "
                        f"other than `{self.layer.facade}.{name}`: importing it from the facade "
                        "would shadow that; rename one of them, then migrate this import",
                    )
                )
                return True
        return False

    def _imports_storage(self, node: cst.CSTNode) -> bool:
        """Whether `node` is an import statement from inside the storage package."""
        if isinstance(node, cst.Import):
            return all(self.layer.owns(alias.evaluated_name) for alias in node.names)
        if isinstance(node, cst.ImportFrom):
            module = self.analysis.resolve(
                len(node.relative), dotted_name(node.module) if node.module else None
            )
            return module is not None and self.layer.owns(module)
        return False

    def _manual(self, node: cst.CSTNode, message: str) -> None:
        self.manual.append(self.analysis.item(node, "import", message))

    # Following a binding to its uses

    def _follow(self, statement: ImportNode, binding: _Binding) -> set[str] | None:
        """Plan the edits of every use of `binding`: the facade names those uses need, or
        `None` (and a manual item) when some use cannot be rewritten or a name the facade
        import would bind is taken."""
        scope = self.analysis.scope(statement)
        assert scope is not None
        edits: dict[cst.CSTNode, cst.BaseExpression] = {}
        strings: list[cst.SimpleString] = []
        try:
            needed = self._plan_uses(scope, statement, binding, edits, strings)
        except _BlockedError as blocked:
            self._manual(blocked.node, str(blocked))
            return None
        bound = {binding.new} if isinstance(binding, _Rename) else needed
        if self._shadows(statement, bound):
            return None
        self.expressions.update(edits)
        for string in strings:
            known = self.strings.setdefault(string, [])
            if binding not in known:
                known.append(binding)
        return needed

    def _plan_uses(
        self,
        scope: Scope,
        statement: ImportNode,
        binding: _Binding,
        edits: dict[cst.CSTNode, cst.BaseExpression],
        strings: list[cst.SimpleString],
    ) -> set[str]:
        assignments = scope.assignments[binding.local]
        ours = [
            assignment
            for assignment in assignments
            if isinstance(assignment, ImportAssignment) and assignment.node is statement
        ]
        others = [assignment for assignment in assignments if assignment not in ours]
        accesses: list[Access] = [access for own in ours for access in own.references]
        if isinstance(binding, _Rename):
            for other in others:
                target = other.node if isinstance(other, Assignment) else statement
                if isinstance(other, ImportAssignment) or not isinstance(target, cst.Name):
                    raise _BlockedError(
                        statement,
                        f"`{binding.old}` is also bound at line {self._line(target)}: "
                        f"rename it to `{binding.new}` by hand",
                    )
                edits[target] = target.with_changes(value=binding.new)
                accesses.extend(other.references)
        elif isinstance(binding, _ModuleUse):
            if others:
                raise _BlockedError(
                    statement,
                    f"`{binding.local}` is bound more than once here: import from "
                    f"`{self.layer.facade}` by hand",
                )
            if not accesses:
                raise _BlockedError(
                    statement,
                    f"`{binding.local}` is imported but never used: delete the import by hand",
                )
            self._check_parents_unused(scope, statement, binding.local)
        needed: set[str] = set()
        for access in accesses:
            node = access.node
            if isinstance(node, cst.BaseString):
                needed |= self._check_string(node, binding)
                assert isinstance(node, cst.SimpleString)
                strings.append(node)
            else:
                needed |= self._plan_use(node, binding, edits)
        return needed

    def _check_parents_unused(self, scope: Scope, statement: ImportNode, local: str) -> None:
        """`import a.b.c` binds `a` too; dropping it must not strand other reads of `a`."""
        parts = local.split(".")
        for end in range(1, len(parts)):
            prefix = ".".join(parts[:end])
            for assignment in scope.assignments[prefix]:
                if (
                    isinstance(assignment, ImportAssignment)
                    and assignment.node is statement
                    and assignment.references
                ):
                    raise _BlockedError(
                        statement,
                        f"`{prefix}` is read through this import for more than `{local}`: "
                        f"import from `{self.layer.facade}` by hand",
                    )

    def _plan_use(
        self, node: cst.CSTNode, binding: _Binding, edits: dict[cst.CSTNode, cst.BaseExpression]
    ) -> set[str]:
        if isinstance(binding, _Rename):
            assert isinstance(node, cst.Name)
            edits[node] = node.with_changes(value=binding.new)
            return set()
        parent = self.analysis.parent(node)
        attribute = parent if isinstance(parent, cst.Attribute) and parent.value is node else None
        if isinstance(binding, _FacadeModule):
            if attribute is not None and attribute.attr.value in self.layer.deprecated_names:
                edits[attribute.attr] = attribute.attr.with_changes(value=self.layer.replacement)
            return set()
        if attribute is None:
            raise _BlockedError(
                node,
                f"`{binding.local}` is the module `{binding.module}` itself, which the facade "
                "does not replace: rewrite this use by hand",
            )
        counterpart = self.layer.counterpart(attribute.attr.value)
        if counterpart is None:
            raise _BlockedError(
                node,
                f"`{self.analysis.code(attribute)}` has no counterpart in "
                f"`{self.layer.facade}`: rewrite it by hand",
            )
        edits[attribute] = cst.Name(counterpart, lpar=attribute.lpar, rpar=attribute.rpar)
        return {counterpart}

    def _check_string(self, node: cst.BaseString, binding: _Binding) -> set[str]:
        expression = _string_expression(node)
        if expression is None:
            raise _BlockedError(
                node, "a string annotation the rewrite cannot parse: rewrite it by hand"
            )
        uses = _StringUses(binding, self.layer)
        expression.visit(uses)
        if uses.unmapped:
            raise _BlockedError(
                node,
                f"`{uses.unmapped}` in a string annotation has no counterpart in "
                f"`{self.layer.facade}`: rewrite it by hand",
            )
        return uses.needed

    def _line(self, node: cst.CSTNode) -> int:
        return self.analysis.location(node)[0]

    # One facade import per suite

    def _merge(self, members: list[_Statement]) -> dict[cst.CSTNode, StatementChange]:
        """The first statement of the suite that imports from the facade, or will, absorbs what
        the others bring; names only ever move up, so nothing is bound later than before."""
        anchor, *rest = members
        additions: list[NameSpec] = []
        changes: dict[cst.CSTNode, StatementChange] = {}
        for member in rest:
            if member.is_facade_import:
                additions.extend(member.specs())
                changes[member.node] = StatementChange(None)
            else:
                additions.extend(member.contributions())
                changes[member.node] = StatementChange(_without(member))
        node = anchor.node
        if isinstance(node, cst.ImportFrom) and anchor.is_facade_import:
            changes[node] = StatementChange(self._extended(anchor, node, node, additions))
        elif isinstance(node, cst.ImportFrom) and len(anchor.moved) == len(anchor.aliases):
            relative, module = self._facade_form(node)
            facade = node.with_changes(relative=relative, module=module)
            changes[node] = StatementChange(self._extended(anchor, node, facade, additions))
        else:
            specs = _unique(anchor.contributions() + additions, set())
            relative, module = self._facade_form(node)
            prefix = cst.ImportFrom(
                module=module,
                names=_edit_aliases(None, [], sorted(specs, key=_sort_key)),
                relative=relative,
            )
            changes[node] = StatementChange(_without(anchor), prefix)
        return changes

    def _extended(
        self,
        anchor: _Statement,
        original: cst.ImportFrom,
        facade: cst.ImportFrom,
        additions: list[NameSpec],
    ) -> cst.ImportFrom:
        """`facade` with the anchor's own aliases rewritten in place and `additions` added."""
        additions = [*(name for names in anchor.dropped.values() for name in names), *additions]
        kept: list[cst.ImportAlias] = []
        present: set[NameSpec] = set()
        for alias in anchor.aliases:
            if alias in anchor.dropped:
                continue
            spec = anchor.moved.get(alias, (alias.evaluated_name, alias.evaluated_alias))
            if spec in present:
                continue
            present.add(spec)
            if alias in anchor.moved:
                alias = alias.with_changes(
                    name=cst.Name(spec[0]), asname=alias.asname if spec[1] else None
                )
            kept.append(alias)
        return facade.with_changes(names=_edit_aliases(original, kept, _unique(additions, present)))

    def _facade_form(
        self, node: ImportNode
    ) -> tuple[Sequence[cst.Dot], cst.Attribute | cst.Name | None]:
        """The dots and module naming the facade: the same relative depth as `node` when it is
        relative and those dots reach the facade, else the absolute name."""
        facade = self.layer.facade
        module = self.analysis.module
        if isinstance(node, cst.ImportFrom) and node.relative and module is not None:
            rest = module.relative_name(len(node.relative), facade)
            if rest is not None:
                return node.relative, _module(rest) if rest else None
        return (), _module(facade)


def _module(dotted: str) -> cst.Attribute | cst.Name:
    expression = cst.parse_expression(dotted)
    assert isinstance(expression, cst.Attribute | cst.Name)
    return expression


def _without(statement: _Statement) -> ImportNode | None:
    """The statement without its moved and dropped aliases, `None` if nothing is left."""
    kept = [
        alias
        for alias in statement.aliases
        if alias not in statement.moved and alias not in statement.dropped
    ]
    if not kept:
        return None
    return statement.node.with_changes(names=_edit_aliases(statement.node, kept, []))


def _unique(specs: Iterable[NameSpec], present: set[NameSpec]) -> list[NameSpec]:
    seen = set(present)
    unique = []
    for spec in specs:
        if spec not in seen:
            seen.add(spec)
            unique.append(spec)
    return unique


def _sort_key(spec: NameSpec) -> tuple[int, str]:
    """isort's default member order: constants, then classes, then the rest, ignoring case."""
    name = spec[0]
    kind = 0 if name.isupper() and len(name) > 1 else 1 if name[:1].isupper() else 2
    return kind, name.lower()


def _edit_aliases(
    original: ImportNode | None, kept: list[cst.ImportAlias], additions: list[NameSpec]
) -> list[cst.ImportAlias]:
    """`kept` plus `additions`, with commas laid out as the statement already lays them out.

    Additions go where they keep a sorted list sorted, else at the end.
    """
    aliases = list(kept)
    keys = [_sort_key((alias.evaluated_name, None)) for alias in aliases]
    is_sorted = keys == sorted(keys)
    for spec in additions:
        position = len(aliases)
        if is_sorted:
            position = next(
                (
                    index
                    for index, alias in enumerate(aliases)
                    if _sort_key(spec) < _sort_key((alias.evaluated_name, None))
                ),
                position,
            )
        name, asname = spec
        aliases.insert(
            position,
            cst.ImportAlias(
                name=cst.Name(name),
                asname=cst.AsName(name=cst.Name(asname)) if asname is not None else None,
            ),
        )
    trailing: cst.Comma | cst.MaybeSentinel = cst.MaybeSentinel.DEFAULT
    if original is not None and not isinstance(original.names, cst.ImportStar):
        trailing = original.names[-1].comma
    separator = _separator(original)
    laid_out = []
    for index, alias in enumerate(aliases):
        comma = alias.comma
        if index == len(aliases) - 1:
            # The comment after the old last name stays with that name, not with this one.
            comma = _without_comment(trailing) if comma is not trailing else trailing
        elif comma is trailing and isinstance(comma, cst.Comma):
            comma = _with_comment_of(separator, comma)
        elif not isinstance(comma, cst.Comma):
            comma = separator
        laid_out.append(alias.with_changes(comma=comma))
    return laid_out


def _without_comment(comma: cst.Comma | cst.MaybeSentinel) -> cst.Comma | cst.MaybeSentinel:
    if not isinstance(comma, cst.Comma):
        return comma
    after = comma.whitespace_after
    if not isinstance(after, cst.ParenthesizedWhitespace) or after.first_line.comment is None:
        return comma
    first_line = after.first_line.with_changes(whitespace=cst.SimpleWhitespace(""), comment=None)
    return comma.with_changes(whitespace_after=after.with_changes(first_line=first_line))


def _with_comment_of(separator: cst.Comma, source: cst.Comma) -> cst.Comma:
    """`separator`, carrying the end-of-line comment that followed `source`."""
    after = source.whitespace_after
    into = separator.whitespace_after
    if not isinstance(after, cst.ParenthesizedWhitespace) or after.first_line.comment is None:
        return separator
    if not isinstance(into, cst.ParenthesizedWhitespace):
        return separator
    return separator.with_changes(whitespace_after=into.with_changes(first_line=after.first_line))


def _separator(original: ImportNode | None) -> cst.Comma:
    """A comma between two names as the statement already writes one, without its comments."""
    if original is not None and not isinstance(original.names, cst.ImportStar):
        for alias in original.names[:-1]:
            comma = alias.comma
            if isinstance(comma, cst.Comma) and not _has_comment(comma.whitespace_after):
                return comma
        if isinstance(original, cst.ImportFrom) and original.lpar is not None:
            after = original.lpar.whitespace_after
            if isinstance(after, cst.ParenthesizedWhitespace) and not _has_comment(after):
                return cst.Comma(whitespace_after=after)
    return cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))


def _has_comment(whitespace: cst.BaseParenthesizableWhitespace) -> bool:
    return isinstance(whitespace, cst.ParenthesizedWhitespace) and (
        whitespace.first_line.comment is not None
        or any(line.comment is not None for line in whitespace.empty_lines)
    )


# String annotations


def _string_expression(node: cst.BaseString) -> cst.BaseExpression | None:
    """The expression inside a plain string annotation, `None` if it is anything fancier."""
    if not isinstance(node, cst.SimpleString) or node.prefix.lower() not in ("", "r"):
        return None
    if "\\" in node.raw_value:
        return None
    try:
        return cst.parse_expression(node.raw_value)
    except cst.ParserSyntaxError:
        return None


class _StringUses(cst.CSTTransformer):
    """Rewrites the uses of one binding in a parsed string annotation, noting what they need
    and any use that has no counterpart."""

    def __init__(self, binding: _Binding, layer: StorageLayer) -> None:
        self.binding = binding
        self.layer = layer
        self.needed: set[str] = set()
        self.unmapped = ""
        self._in_attr = False
        self._read_through: set[int] = set()

    def visit_Attribute(self, node: cst.Attribute) -> None:
        if dotted_name(node.value) == self.binding.local:
            self._read_through.add(id(node.value))

    def visit_Attribute_attr(self, node: cst.Attribute) -> None:
        self._in_attr = True

    def leave_Attribute_attr(self, node: cst.Attribute) -> None:
        self._in_attr = False

    def leave_Name(self, original_node: cst.Name, updated_node: cst.Name) -> cst.Name:
        if not self._in_attr and original_node.value == self.binding.local:
            if isinstance(self.binding, _Rename):
                return updated_node.with_changes(value=self.binding.new)
            self._check_bare(original_node)
        return updated_node

    def leave_Attribute(
        self, original_node: cst.Attribute, updated_node: cst.Attribute
    ) -> cst.BaseExpression:
        binding = self.binding
        if dotted_name(original_node) == binding.local:
            self._check_bare(original_node)
        if isinstance(binding, _Rename) or id(original_node.value) not in self._read_through:
            return updated_node
        name = original_node.attr.value
        if isinstance(binding, _FacadeModule):
            if name in self.layer.deprecated_names:
                return updated_node.with_changes(attr=cst.Name(self.layer.replacement))
            return updated_node
        counterpart = self.layer.counterpart(name)
        if counterpart is None:
            self.unmapped = f"{binding.local}.{name}"
            return updated_node
        self.needed.add(counterpart)
        return cst.Name(counterpart, lpar=updated_node.lpar, rpar=updated_node.rpar)

    def _check_bare(self, node: cst.CSTNode) -> None:
        """A module binding read other than through one of its attributes."""
        if isinstance(self.binding, _ModuleUse) and id(node) not in self._read_through:
            self.unmapped = self.binding.local


def _rewrite_string(
    node: cst.SimpleString, bindings: list[_Binding], layer: StorageLayer
) -> cst.SimpleString:
    expression = _string_expression(node)
    assert expression is not None
    for binding in bindings:
        rewritten = expression.visit(_StringUses(binding, layer))
        assert isinstance(rewritten, cst.BaseExpression)
        expression = rewritten
    code = cst.Module([]).code_for_node(expression)
    return node.with_changes(value=f"{node.prefix}{node.quote}{code}{node.quote}")


# Applying the plan


class _Rewriter(cst.CSTTransformer):
    def __init__(self, plan: ImportPlan) -> None:
        self.plan = plan
        self.emptied: set[int] = set()

    def leave_Name(self, original_node: cst.Name, updated_node: cst.Name) -> cst.BaseExpression:
        return self.plan.expressions.get(original_node, updated_node)

    def leave_Attribute(
        self, original_node: cst.Attribute, updated_node: cst.Attribute
    ) -> cst.BaseExpression:
        return self.plan.expressions.get(original_node, updated_node)

    def leave_SimpleString(
        self, original_node: cst.SimpleString, updated_node: cst.SimpleString
    ) -> cst.BaseExpression:
        return self.plan.expressions.get(original_node, updated_node)

    def leave_SimpleStatementLine(
        self, original_node: cst.SimpleStatementLine, updated_node: cst.SimpleStatementLine
    ) -> cst.SimpleStatementLine | cst.FlattenSentinel[cst.SimpleStatementLine]:
        rewritten = self._rewrite(original_node.body, updated_node.body)
        if rewritten is None:
            return updated_node
        prefixes, body = rewritten
        if not prefixes:
            # libcst drops a line left without statements, comments and all: hold its place
            # until the suite hands the comments on.
            line = updated_node.with_changes(body=body or [cst.Pass()])
            if not body:
                self.emptied.add(id(line))
            return line
        before = cst.SimpleStatementLine(body=prefixes, leading_lines=updated_node.leading_lines)
        if not body:
            return before.with_changes(trailing_whitespace=updated_node.trailing_whitespace)
        after = updated_node.with_changes(body=body, leading_lines=())
        return cst.FlattenSentinel([before, after])

    def leave_SimpleStatementSuite(
        self, original_node: cst.SimpleStatementSuite, updated_node: cst.SimpleStatementSuite
    ) -> cst.SimpleStatementSuite:
        rewritten = self._rewrite(original_node.body, updated_node.body)
        if rewritten is None:
            return updated_node
        prefixes, body = rewritten
        return updated_node.with_changes(body=_semicolons([*prefixes, *body]))

    def _rewrite(
        self,
        original: Sequence[cst.BaseSmallStatement],
        updated: Sequence[cst.BaseSmallStatement],
    ) -> tuple[list[cst.BaseSmallStatement], list[cst.BaseSmallStatement]] | None:
        """The facade imports to put first and the statements that stay, `None` if none of
        them change."""
        if not any(statement in self.plan.statements for statement in original):
            return None
        prefixes: list[cst.BaseSmallStatement] = []
        body: list[cst.BaseSmallStatement] = []
        for before, after in zip(original, updated, strict=True):
            change = self.plan.statements.get(before)
            if change is None:
                body.append(after)
                continue
            if change.prefix is not None:
                prefixes.append(change.prefix)
            if change.replacement is not None:
                body.append(change.replacement.with_changes(semicolon=after.semicolon))
        return _semicolons(prefixes), _semicolons(body)

    def leave_IndentedBlock(
        self, original_node: cst.IndentedBlock, updated_node: cst.IndentedBlock
    ) -> cst.IndentedBlock:
        if not self._has_emptied(updated_node.body):
            return updated_node
        body, comments = self._drop_emptied(updated_node.body)
        return updated_node.with_changes(body=body, footer=[*comments, *updated_node.footer])

    def leave_Module(self, original_node: cst.Module, updated_node: cst.Module) -> cst.Module:
        if not self._has_emptied(updated_node.body):
            return updated_node
        body, comments = self._drop_emptied(updated_node.body)
        return updated_node.with_changes(body=body, footer=[*comments, *updated_node.footer])

    def _has_emptied(self, statements: Sequence[cst.BaseStatement]) -> bool:
        return any(id(statement) in self.emptied for statement in statements)

    def _drop_emptied(
        self, statements: Sequence[cst.BaseStatement]
    ) -> tuple[list[cst.BaseStatement], list[cst.EmptyLine]]:
        """Drop the lines whose imports all moved, handing their comments on to the next
        statement; the comments left over after the last one."""
        body: list[cst.BaseStatement] = []
        comments: list[cst.EmptyLine] = []
        for statement in statements:
            if isinstance(statement, cst.SimpleStatementLine) and id(statement) in self.emptied:
                comments.extend(line for line in statement.leading_lines if line.comment)
                trailing = statement.trailing_whitespace.comment
                if trailing is not None:
                    comments.append(cst.EmptyLine(comment=trailing))
            elif comments and isinstance(
                statement, cst.SimpleStatementLine | cst.BaseCompoundStatement
            ):
                lines = [*comments, *statement.leading_lines]
                body.append(statement.with_changes(leading_lines=lines))
                comments = []
            else:
                body.append(statement)
        return body, comments


def _semicolons(statements: list[cst.BaseSmallStatement]) -> list[cst.BaseSmallStatement]:
    """Separate small statements with `; ` and end the last one without."""
    result = []
    for index, statement in enumerate(statements):
        if index == len(statements) - 1:
            result.append(statement.with_changes(semicolon=cst.MaybeSentinel.DEFAULT))
        elif isinstance(statement.semicolon, cst.Semicolon):
            result.append(statement)
        else:
            separator = cst.Semicolon(whitespace_after=cst.SimpleWhitespace(" "))
            result.append(statement.with_changes(semicolon=separator))
    return result

"""One pass over a file's tree: its storage imports and the calls that construct storage.

Imports are judged as the walk meets them. Calls are judged after the walk, once every
import of the file is known, so that an alias works wherever it is bound. Names are tracked
per file, not per scope: a name bound anywhere to a storage class is one everywhere.
"""

from __future__ import annotations

import ast
import enum
from typing import NamedTuple, cast

from .config import Config
from .modules import ModulePath, is_private_name, resolve_relative
from .rules import MESSAGES


class Report(NamedTuple):
    """One violation: 1-based line, 0-based column (flake8 adds 1 when printing), message,
    and the lines of the statement (or call) it is in, which a `# noqa` may mark."""

    line: int
    col: int
    message: str
    first_line: int
    first_col: int
    last_line: int
    last_col: int

    @property
    def code(self) -> str:
        """The rule's code, e.g. `STG002`."""
        return self.message.partition(" ")[0]


class _Kind(enum.Enum):
    PRIVATE = enum.auto()
    DEPRECATED = enum.auto()
    NON_FACADE = enum.auto()
    NON_FACADE_MODULE = enum.auto()


class _Verdict(NamedTuple):
    kind: _Kind
    target: str


_IMPORT_MODULE = "importlib.import_module"
_DUNDER_IMPORTS = frozenset({"__import__", "builtins.__import__", "importlib.__import__"})
_IMPORTER_NAMES = frozenset({"import_module", "__import__"})

# Expression contexts and operators are childless nodes: not pushing them saves about a
# fifth of the walk.
_LEAF_FIELDS = frozenset({"ctx", "op", "ops"})
_CHILD_FIELDS: dict[type[ast.AST], tuple[str, ...]] = {}


class FileScan:
    """The STG rules for one file, applied in one walk of its tree."""

    def __init__(
        self, config: Config, module: ModulePath | None, *, composition_root: bool
    ) -> None:
        """Prepare to scan a file that is `module` (None: outside every source root)."""
        self._config = config
        self._classes = frozenset(config.classes)
        self._module = module
        self._composition_root = composition_root
        self._package = config.package
        self._below_package = config.package + "."
        self._bindings: dict[str, list[str]] = {}
        self._calls: list[ast.Call] = []
        self._reports: list[Report] = []

    def scan(self, tree: ast.AST) -> list[Report]:
        """The violations in `tree`, sorted by position."""
        # A hand-rolled walk at half the cost of ast.walk, whose generators per node cost more
        # than all the checks; `type() is` and the inline cache save another fifth.
        call, import_, import_from = ast.Call, ast.Import, ast.ImportFrom
        child_fields, node_type = _CHILD_FIELDS, ast.AST
        calls = self._calls
        stack: list[ast.AST] = [tree]
        pop, push = stack.pop, stack.append
        while stack:
            node = pop()
            kind = type(node)
            if kind is call:
                calls.append(cast(ast.Call, node))
            elif kind is import_from:
                self._import_from(cast(ast.ImportFrom, node))
                continue
            elif kind is import_:
                self._import(cast(ast.Import, node))
                continue
            try:
                fields = child_fields[kind]
            except KeyError:
                fields = child_fields[kind] = tuple(
                    field for field in kind._fields if field not in _LEAF_FIELDS
                )
            for field in fields:
                value = getattr(node, field)
                if type(value) is list:
                    for item in value:
                        if isinstance(item, node_type):
                            push(item)
                elif isinstance(value, node_type):
                    push(value)
        self._check_calls()
        return sorted(self._reports)

    def _bind(self, name: str, target: str) -> None:
        self._bindings.setdefault(name, []).append(target)

    def _in_package(self, module: str) -> bool:
        return module == self._package or module.startswith(self._below_package)

    def _import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.asname:
                self._bind(alias.asname, alias.name)
            else:
                top = alias.name.partition(".")[0]
                self._bind(top, top)
            verdict = self._module_verdict(alias.name)
            if verdict is None and alias.name.startswith(self._below_package):
                verdict = _Verdict(_Kind.NON_FACADE_MODULE, alias.name)
            if verdict is not None:
                self._report_import(node, alias, verdict)

    def _import_from(self, node: ast.ImportFrom) -> None:
        if node.level:
            if self._module is None:
                return
            module = resolve_relative(self._module.package, node.level, node.module)
            if module is None:
                return
        else:
            module = node.module or ""
        for alias in node.names:
            if alias.name != "*":
                self._bind(alias.asname or alias.name, f"{module}.{alias.name}")
        if not self._in_package(module):
            return
        verdict = self._module_verdict(module)
        if verdict is not None:
            # The module is the offence, not each name: report it once.
            self._report_import(node, node.names[0], verdict)
            return
        for alias in node.names:
            verdict = self._member_verdict(module, alias.name)
            if verdict is not None:
                self._report_import(node, alias, verdict)

    def _module_verdict(self, module: str) -> _Verdict | None:
        """What is wrong with importing `module` itself (the facade and outsiders are fine)."""
        if not module.startswith(self._below_package):
            return None
        if any(is_private_name(part) for part in module[len(self._below_package) :].split(".")):
            return _Verdict(_Kind.PRIVATE, module)
        for deprecated in self._config.deprecated_modules:
            if module == deprecated or module.startswith(deprecated + "."):
                return _Verdict(_Kind.DEPRECATED, module)
        return None

    def _member_verdict(self, module: str, name: str) -> _Verdict | None:
        """What is wrong with `from module import name`, `module` being a sound storage module."""
        target = f"{module}.{name}"
        if is_private_name(name):
            return _Verdict(_Kind.PRIVATE, target)
        verdict = self._module_verdict(target)
        if verdict is not None:
            return verdict
        if name in self._config.deprecated_names:
            return _Verdict(_Kind.DEPRECATED, target)
        if name in self._classes and module != self._package:
            return _Verdict(_Kind.NON_FACADE, target)
        return None

    def _report_import(
        self, statement: ast.Import | ast.ImportFrom, alias: ast.alias, verdict: _Verdict
    ) -> None:
        config = self._config
        if verdict.kind is _Kind.PRIVATE:
            message = MESSAGES["STG001"].format(target=verdict.target, package=config.package)
        elif verdict.kind is _Kind.DEPRECATED:
            message = MESSAGES["STG002"].format(
                target=verdict.target, package=config.package, replacement=config.replacement
            )
        elif verdict.kind is _Kind.NON_FACADE_MODULE:
            message = MESSAGES["STG005-module"].format(
                target=verdict.target, package=config.package
            )
        else:
            module, _, name = verdict.target.rpartition(".")
            message = MESSAGES["STG005-name"].format(
                name=name, module=module, package=config.package
            )
        self._report(alias, message, statement)

    def _report(self, node: ast.alias | ast.Call, message: str, span: ast.stmt | ast.Call) -> None:
        end_line = span.end_lineno if span.end_lineno is not None else span.lineno
        end_col = span.end_col_offset if span.end_col_offset is not None else span.col_offset
        self._reports.append(
            Report(
                node.lineno,
                node.col_offset,
                message,
                span.lineno,
                span.col_offset,
                end_line,
                end_col,
            )
        )

    def _check_calls(self) -> None:
        classes = self._classes
        attributes = classes | _IMPORTER_NAMES
        names = set(attributes)
        for name, targets in self._bindings.items():
            if any(target.rpartition(".")[2] in attributes for target in targets):
                names.add(name)
        constructions: list[tuple[int, int, str, ast.Call]] = []
        for call in self._calls:
            func = call.func
            if isinstance(func, ast.Name):
                if func.id not in names:
                    continue
            elif not isinstance(func, ast.Attribute) or func.attr not in attributes:
                continue
            for target in self._targets(func):
                module, _, last = target.rpartition(".")
                if last in classes and (not module or self._in_package(module)):
                    constructions.append((call.lineno, call.col_offset, last, call))
                    break
                if target == _IMPORT_MODULE:
                    self._check_import_module(call)
                    break
                if target in _DUNDER_IMPORTS:
                    self._check_dunder_import(call)
                    break
        self._report_constructions(sorted(constructions, key=lambda found: found[:2]))

    def _targets(self, func: ast.expr) -> list[str]:
        """The absolute dotted names `func` may stand for, through the file's imports.

        A root name no import binds is taken literally: a bare `UnifiedStorage` (no module
        part) or a spelled-out `src.storage.UnifiedStorage`.
        """
        attributes: list[str] = []
        while isinstance(func, ast.Attribute):
            attributes.append(func.attr)
            func = func.value
        if not isinstance(func, ast.Name):
            return []
        rest = "".join(f".{attribute}" for attribute in reversed(attributes))
        return [target + rest for target in self._bindings.get(func.id, [func.id])]

    def _report_constructions(self, constructions: list[tuple[int, int, str, ast.Call]]) -> None:
        if self._composition_root:
            if not constructions:
                return
            first = constructions[0][0]
            for _, _, cls, call in constructions[1:]:
                self._report(call, MESSAGES["STG006"].format(cls=cls, first=first), call)
        else:
            for _, _, cls, call in constructions:
                self._report(call, MESSAGES["STG003"].format(cls=cls), call)

    def _check_import_module(self, call: ast.Call) -> None:
        name = _string(_argument(call, 0, "name"))
        if name is None:
            return
        module: str | None = name
        if name.startswith("."):
            package = _string(_argument(call, 1, "package"))
            if package is None:
                return
            relative = name.lstrip(".")
            module = resolve_relative(package, len(name) - len(relative), relative or None)
        if module is not None:
            self._report_dynamic(call, self._module_verdict(module))

    def _check_dunder_import(self, call: ast.Call) -> None:
        name = _string(_argument(call, 0, "name"))
        level_node = _argument(call, 4, "level")
        if level_node is not None:
            level = _integer(level_node)
        elif _unpacks(call):
            level = None
        else:
            level = 0
        if name is None or level is None:
            return
        module: str | None = name
        if level:
            if self._module is None:
                return
            module = resolve_relative(self._module.package, level, name or None)
        if module is None:
            return
        verdict = self._module_verdict(module)
        if verdict is None and self._in_package(module):
            for member in _strings(_argument(call, 3, "fromlist")):
                verdict = self._member_verdict(module, member)
                if verdict is not None and verdict.kind is not _Kind.NON_FACADE:
                    break
        self._report_dynamic(call, verdict)

    def _report_dynamic(self, call: ast.Call, verdict: _Verdict | None) -> None:
        config = self._config
        if verdict is None or verdict.kind in (_Kind.NON_FACADE, _Kind.NON_FACADE_MODULE):
            return
        if verdict.kind is _Kind.PRIVATE:
            message = MESSAGES["STG004-private"].format(
                target=verdict.target, package=config.package
            )
        else:
            message = MESSAGES["STG004-deprecated"].format(
                target=verdict.target, package=config.package, replacement=config.replacement
            )
        self._report(call, message, call)


def _argument(call: ast.Call, position: int, keyword: str) -> ast.expr | None:
    """The argument passed for a parameter; None if not passed or hidden by `*args`."""
    for passed in call.keywords:
        if passed.arg == keyword:
            return passed.value
    positional = call.args[: position + 1]
    if len(positional) <= position or any(isinstance(arg, ast.Starred) for arg in positional):
        return None
    return positional[position]


def _unpacks(call: ast.Call) -> bool:
    """Whether `*args` or `**kwargs` may pass arguments `_argument` cannot see."""
    return any(isinstance(arg, ast.Starred) for arg in call.args) or any(
        passed.arg is None for passed in call.keywords
    )


def _string(node: ast.expr | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _integer(node: ast.expr) -> int | None:
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    return None


def _strings(node: ast.expr | None) -> list[str]:
    """The string literals of a list, tuple or set display; empty for anything else."""
    if not isinstance(node, ast.List | ast.Tuple | ast.Set):
        return []
    return [item for item in map(_string, node.elts) if item is not None]

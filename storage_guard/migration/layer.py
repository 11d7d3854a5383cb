"""What the migration knows about the storage layer it migrates code to, read statically
off the *target's* storage package.

Nothing is imported: the facade (`<package>/__init__.py`) and the modules it re-exports from
are parsed with `ast`, below the configured source roots. The facade's public names are its
`__all__` (else the public names it binds); the storage class is the configured replacement
as the facade binds it, followed through `from .x import Cls` to its `class` statement, and
through its bases inside the package. Its async twins are the methods `aX` it (or one of
those bases) defines where `X` is a method too.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..config import Config
from ..modules import ModulePath, is_private_name, module_file, module_path

RECEIVER_WORD = "storage"
"""Receivers named like this may be the storage even when no annotation says so."""


class LayerError(Exception):
    """The target's storage package does not provide what the configuration names."""


@dataclass(frozen=True, slots=True)
class StorageLayer:
    """The facade's public surface, its deprecated past, and the async twins of its class."""

    config: Config
    public_names: frozenset[str]
    """What `from <facade> import ...` offers, without the deprecated names."""
    method_renames: Mapping[str, str]
    """Each method of the storage class that has an async twin, and that twin."""

    @property
    def facade(self) -> str:
        """The storage package, whose `__init__` is the facade."""
        return self.config.package

    @property
    def replacement(self) -> str:
        """The storage class the deprecated names become."""
        return self.config.replacement

    @property
    def deprecated_names(self) -> frozenset[str]:
        """Names that must not be imported from the storage package."""
        return self.config.deprecated_names

    @property
    def notice(self) -> str | None:
        """What a run must say once when the class gives it no call to rename."""
        if self.method_renames:
            return None
        return f"{self.replacement} defines no async twins: only imports are rewritten"

    @property
    def words(self) -> tuple[str, ...]:
        """Lowercase words of which every way to reach the storage spells one: the package's
        last name, the class names, and the word a receiver's name may hint with."""
        package = self.facade.rpartition(".")[2]
        names = (RECEIVER_WORD, package, *self.config.classes)
        return tuple(dict.fromkeys(name.lower() for name in names))

    def owns(self, module: str) -> bool:
        """Whether `module` is the facade or lives inside the storage package."""
        return module == self.facade or module.startswith(f"{self.facade}.")

    def is_submodule(self, module: str) -> bool:
        """Whether `module` is a storage module other than the facade (private, deprecated or
        public but not meant to be imported from)."""
        return module.startswith(f"{self.facade}.")

    def is_restricted(self, module: str) -> bool:
        """Whether importing `module` from outside is what STG001 or STG002 forbid."""
        if any(
            module == deprecated or module.startswith(f"{deprecated}.")
            for deprecated in self.config.deprecated_modules
        ):
            return True
        return self.is_submodule(module) and any(
            is_private_name(part) for part in module[len(self.facade) + 1 :].split(".")
        )

    def counterpart(self, name: str) -> str | None:
        """The facade name that replaces `name` imported from a storage module, if any."""
        if name in self.deprecated_names:
            return self.replacement
        if name in self.public_names:
            return name
        return None

    def is_storage_class(self, qualified_name: str) -> bool:
        """Whether `qualified_name` names one of the configured storage classes."""
        module, _, name = qualified_name.rpartition(".")
        return self.owns(module) and name in self.config.classes


def load_layer(config: Config) -> StorageLayer:
    """Parse the target's storage package and read the layer off it.

    Raises:
        LayerError: the facade cannot be read, or does not bind the replacement class to a
            class statement inside the package.
    """
    package = _Package(config)
    facade = package.module(config.package)
    if facade is None:
        raise LayerError(f"{config.package}: no __init__.py to read the facade from")
    found = package.find_class(config.package, config.replacement)
    if found is None:
        raise LayerError(
            f"{config.package} ({facade.path}) does not define or import a class "
            f"{config.replacement!r} from inside the package"
        )
    methods = package.methods(found)
    return StorageLayer(
        config=config,
        public_names=facade.public_names() - config.deprecated_names,
        method_renames=method_renames(methods),
    )


def method_renames(methods: frozenset[str]) -> dict[str, str]:
    """Map every method name to its async twin: a public `aX` whose `X` is public too."""
    return {
        name[1:]: name
        for name in sorted(methods)
        if name.startswith("a")
        and name[1:] in methods
        and not is_private_name(name)
        and not is_private_name(name[1:])
    }


@dataclass(frozen=True, slots=True)
class _Module:
    name: ModulePath
    path: Path
    tree: ast.Module

    def statements(self) -> Iterator[ast.stmt]:
        """The module-level statements, including those under `if` and `try`."""
        pending = list(reversed(self.tree.body))
        while pending:
            statement = pending.pop()
            yield statement
            if isinstance(statement, ast.If | ast.Try | ast.TryStar):
                nested = [*statement.body, *statement.orelse]
                if isinstance(statement, ast.Try | ast.TryStar):
                    nested += [*(stmt for h in statement.handlers for stmt in h.body)]
                    nested += statement.finalbody
                pending.extend(reversed(nested))

    def public_names(self) -> frozenset[str]:
        exported = self._dunder_all()
        if exported is not None:
            return exported
        bound: set[str] = set()
        for statement in self.statements():
            if isinstance(statement, ast.ImportFrom):
                bound.update(alias.asname or alias.name for alias in statement.names)
            elif isinstance(statement, ast.Import):
                bound.update(
                    alias.asname or alias.name.partition(".")[0] for alias in statement.names
                )
            elif isinstance(statement, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                bound.add(statement.name)
            elif isinstance(statement, ast.Assign | ast.AnnAssign):
                targets = (
                    statement.targets if isinstance(statement, ast.Assign) else [statement.target]
                )
                bound.update(target.id for target in targets if isinstance(target, ast.Name))
        return frozenset(name for name in bound if name != "*" and not name.startswith("_"))

    def _dunder_all(self) -> frozenset[str] | None:
        names: set[str] | None = None
        for statement in self.statements():
            if isinstance(statement, ast.Assign):
                targets = statement.targets
            elif isinstance(statement, ast.AnnAssign | ast.AugAssign):
                targets = [statement.target]
            else:
                continue
            if statement.value is None or not any(
                isinstance(target, ast.Name) and target.id == "__all__" for target in targets
            ):
                continue
            listed = _strings(statement.value)
            if isinstance(statement, ast.AugAssign):
                names = {*(names or ()), *listed}
            else:
                names = set(listed)
        return frozenset(names) if names is not None else None


@dataclass(frozen=True, slots=True)
class _Class:
    module: _Module
    node: ast.ClassDef


class _Package:
    """The storage package's modules, parsed on demand, each once."""

    def __init__(self, config: Config) -> None:
        self._config = config
        self._modules: dict[str, _Module | None] = {}

    def _inside(self, name: str) -> bool:
        package = self._config.package
        return name == package or name.startswith(f"{package}.")

    def module(self, name: str) -> _Module | None:
        if name in self._modules:
            return self._modules[name]
        found: _Module | None = None
        path = module_file(name, self._config.source_roots)
        if path is not None:
            where = module_path(path, self._config.source_roots)
            try:
                tree = ast.parse(path.read_bytes(), filename=str(path))
            except (OSError, SyntaxError, ValueError) as exc:
                raise LayerError(f"cannot read {path}: {exc}") from None
            if where is not None:
                found = _Module(where, path, tree)
        self._modules[name] = found
        return found

    def find_class(
        self, module_name: str, name: str, seen: frozenset[tuple[str, str]] = frozenset()
    ) -> _Class | None:
        """The `class` statement that `name` in `module_name` is, following imports that stay
        inside the package."""
        if (module_name, name) in seen or not self._inside(module_name):
            return None
        seen = seen | {(module_name, name)}
        module = self.module(module_name)
        if module is None:
            return None
        found: _Class | None = None
        # The last binding wins, as at run time.
        for statement in module.statements():
            if isinstance(statement, ast.ClassDef) and statement.name == name:
                found = _Class(module, statement)
            elif isinstance(statement, ast.ImportFrom):
                source = module.name.resolve(statement.level, statement.module)
                for alias in statement.names:
                    if source is not None and (alias.asname or alias.name) == name:
                        found = self.find_class(source, alias.name, seen)
        return found

    def find_attribute_class(self, module: _Module, dotted: list[str]) -> _Class | None:
        """The class `a.b.C` names in `module`, where `a` binds a module inside the package."""
        head, *middle, last = dotted
        target: str | None = None
        for statement in module.statements():
            if isinstance(statement, ast.ImportFrom):
                source = module.name.resolve(statement.level, statement.module)
                for alias in statement.names:
                    if source is not None and (alias.asname or alias.name) == head:
                        target = f"{source}.{alias.name}"
            elif isinstance(statement, ast.Import):
                for alias in statement.names:
                    if alias.asname == head:
                        target = alias.name
                    elif alias.asname is None and alias.name.partition(".")[0] == head:
                        target = head
        if target is None:
            return None
        return self.find_class(".".join([target, *middle]), last)

    def methods(self, found: _Class) -> frozenset[str]:
        """The methods `found` and its bases inside the package define."""
        names: set[str] = set()
        pending = [found]
        visited: set[tuple[Path, str]] = set()
        while pending:
            current = pending.pop()
            key = (current.module.path, current.node.name)
            if key in visited:
                continue
            visited.add(key)
            names.update(
                statement.name
                for statement in current.node.body
                if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef)
                and not _is_property(statement)
            )
            for base in current.node.bases:
                base_class = self._base(current.module, base)
                if base_class is not None:
                    pending.append(base_class)
        return frozenset(names)

    def _base(self, module: _Module, base: ast.expr) -> _Class | None:
        if isinstance(base, ast.Subscript):
            base = base.value
        dotted = _dotted(base)
        if dotted is None:
            return None
        if len(dotted) == 1:
            return self.find_class(module.name.name, dotted[0])
        return self.find_attribute_class(module, dotted)


def _is_property(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """Properties are read, not called: they have no twin to rename to."""
    for decorator in function.decorator_list:
        dotted = _dotted(decorator)
        if dotted and (dotted[-1] in ("property", "cached_property") or dotted[-1] in _ACCESSORS):
            return True
    return False


_ACCESSORS = frozenset({"setter", "getter", "deleter"})


def _dotted(node: ast.expr) -> list[str] | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return parts[::-1]


def _strings(node: ast.expr) -> list[str]:
    if not isinstance(node, ast.List | ast.Tuple):
        return []
    return [
        element.value
        for element in node.elts
        if isinstance(element, ast.Constant) and isinstance(element.value, str)
    ]

"""Dotted module names: which module a file is, and what a relative import refers to.

The one module resolver of the suite. Names come from the source roots, never from
`__init__.py` files: a folder without one below a source root is a namespace package, as it
is at run time (PEP 420).
"""

from __future__ import annotations

import keyword
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

SOURCE_SUFFIXES = (".py", ".pyi")


def is_dotted_name(value: str) -> bool:
    """Whether `value` is an importable dotted name such as `src.storage`."""
    return all(part.isidentifier() and not keyword.iskeyword(part) for part in value.split("."))


def is_private_name(name: str) -> bool:
    """Whether one component of a dotted name is private by convention.

    Dunder names (`__init__`, `__version__`) are public protocol, not private.
    """
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


@dataclass(frozen=True, slots=True)
class ModulePath:
    """The dotted name a file is imported as, e.g. `src.api.routers.mcp.mcp`."""

    name: str
    is_package: bool = False

    @property
    def package(self) -> str:
        """The package relative imports start from (`__package__` at run time)."""
        return self.name if self.is_package else self.name.rpartition(".")[0]

    def resolve(self, level: int, module: str | None) -> str | None:
        """The absolute name of `from {'.' * level}{module} import ...`.

        Follows `importlib.util.resolve_name`: level 1 is the package itself, each further
        level one parent up. None when the dots climb above the top-level package, which
        fails at run time too.
        """
        if level == 0:
            return module
        return resolve_relative(self.package, level, module)

    def relative_name(self, level: int, target: str) -> str | None:
        """What follows `level` dots to name `target` (`""` for the base package itself), or
        None when `target` is not below the package those dots reach."""
        base = self.resolve(level, None)
        if base is None:
            return None
        if target == base:
            return ""
        if target.startswith(f"{base}."):
            return target[len(base) + 1 :]
        return None


def resolve_relative(package: str, level: int, module: str | None) -> str | None:
    """The absolute name of `from {'.' * level}{module} import ...` (level >= 1) in `package`."""
    parts = package.split(".") if package else []
    if level > len(parts):
        return None
    base = ".".join(parts[: len(parts) - level + 1])
    return f"{base}.{module}" if module else base


def module_path(path: str | os.PathLike[str], source_roots: Sequence[Path]) -> ModulePath | None:
    """The module of the file `path` (made absolute and normalised here).

    `source_roots` are absolute directories, deepest first, so that a file below two roots
    (`.` and `./src`) is named relative to the innermost one. None when no root contains
    the file or the path is not an importable module name (`bench-lint.py`).
    """
    absolute = os.path.abspath(path)
    for root in source_roots:
        prefix = str(root)
        prefix = prefix if prefix.endswith(os.sep) else prefix + os.sep
        if absolute.startswith(prefix):
            relative = absolute[len(prefix) :]
            break
    else:
        return None
    stem, suffix = os.path.splitext(relative)
    if suffix not in SOURCE_SUFFIXES:
        return None
    parts = stem.split(os.sep)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts.pop()
    name = ".".join(parts)
    if not parts or not is_dotted_name(name):
        return None
    return ModulePath(name, is_package)


def package_directory(name: str, source_roots: Sequence[Path]) -> Path | None:
    """The directory of the package `name` below the first source root that has it."""
    for root in source_roots:
        candidate = root.joinpath(*name.split("."))
        if candidate.is_dir():
            return candidate
    return None


def module_file(name: str, source_roots: Sequence[Path]) -> Path | None:
    """The file that defines the module `name`: `a/b.py`, or `a/b/__init__.py` for a
    package (None for a namespace package, which has no file, and for a missing module)."""
    parts = name.split(".")
    for root in source_roots:
        for candidate in (
            root.joinpath(*parts[:-1], f"{parts[-1]}.py"),
            root.joinpath(*parts, "__init__.py"),
        ):
            if candidate.is_file():
                return candidate
    return None

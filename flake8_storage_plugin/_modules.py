"""Dotted module names: which module a file is, and what a relative import refers to."""

from __future__ import annotations

import keyword
import os
from collections.abc import Sequence
from typing import NamedTuple

_SOURCE_SUFFIXES = (".py", ".pyi")


class ModulePath(NamedTuple):
    """The dotted name of a file's module, and the package its relative imports start from."""

    name: str
    package: str


def is_dotted_name(value: str) -> bool:
    """Whether `value` is an importable dotted name such as `src.storage`."""
    return all(part.isidentifier() and not keyword.iskeyword(part) for part in value.split("."))


def is_private_name(name: str) -> bool:
    """Whether one component of a dotted name is private by convention.

    Dunder names (`__init__`, `__version__`) are public protocol, not private.
    """
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def module_path(path: str, source_roots: Sequence[str]) -> ModulePath | None:
    """The module of the absolute, normalised file `path`.

    `source_roots` are absolute directories, deepest first, so that a file below two roots
    (`.` and `./src`) is named relative to the innermost one. Returns None when no root
    contains the file or the path is not an importable module name (`bench-lint.py`).
    """
    for root in source_roots:
        prefix = root if root.endswith(os.sep) else root + os.sep
        if path.startswith(prefix):
            relative = path[len(prefix) :]
            break
    else:
        return None
    stem, suffix = os.path.splitext(relative)
    if suffix not in _SOURCE_SUFFIXES:
        return None
    parts = stem.split(os.sep)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts.pop()
    name = ".".join(parts)
    if not parts or not is_dotted_name(name):
        return None
    return ModulePath(name, name if is_package else name.rpartition(".")[0])


def resolve_relative(package: str, level: int, module: str | None) -> str | None:
    """The absolute name of `from {'.' * level}{module} import ...` (level >= 1) in `package`.

    Follows `importlib.util.resolve_name`: level 1 is `package` itself, each further level
    one parent up. Returns None when the import climbs above the top-level package, which
    fails at run time too.
    """
    parts = package.split(".") if package else []
    if level - 1 >= len(parts):
        return None
    base = ".".join(parts[: len(parts) - level + 1])
    return f"{base}.{module}" if module else base

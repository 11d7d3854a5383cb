"""Where a file sits in the package tree, and what its relative imports point at."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ModulePath:
    """The dotted name a file is imported as, e.g. `src.api.routers.mcp.mcp`."""

    name: str
    is_package: bool = False

    @property
    def package(self) -> str:
        """The package relative imports start from (`__package__` at run time)."""
        return self.name if self.is_package else self.name.rpartition(".")[0]

    def resolve(self, dots: int, module: str | None) -> str | None:
        """The absolute module of `from <dots><module> import ...`.

        `None` when the dots climb above the top-level package, as Python refuses that too.
        """
        if dots == 0:
            return module
        parts = self.package.split(".") if self.package else []
        if dots > len(parts):
            return None
        base = ".".join(parts[: len(parts) - dots + 1])
        return f"{base}.{module}" if module else base

    def relative_name(self, dots: int, target: str) -> str | None:
        """What follows `dots` dots to name `target` (`""` for the base package itself), or
        `None` when `target` is not below the package those dots reach."""
        base = self.resolve(dots, None)
        if base is None:
            return None
        if target == base:
            return ""
        if target.startswith(f"{base}."):
            return target[len(base) + 1 :]
        return None


def module_path_for(file: Path) -> ModulePath:
    """The module `file` is imported as, found by climbing the folders that hold `__init__.py`."""
    file = file.absolute()
    if file.name == "__init__.py":
        return ModulePath(".".join(_package_parts(file.parent)), is_package=True)
    return ModulePath(".".join((*_package_parts(file.parent), file.stem)))


@functools.cache
def _package_parts(folder: Path) -> tuple[str, ...]:
    if not (folder / "__init__.py").is_file():
        return ()
    return (*_package_parts(folder.parent), folder.name)

"""`StorageChecker`: the flake8 entry point of the STG rules."""

from __future__ import annotations

import argparse
import ast
import os
import unicodedata
from collections.abc import Iterator, Sequence
from typing import ClassVar

from flake8.options.manager import OptionManager

from ._modules import module_path
from ._options import Settings, add_options
from ._scan import FileScan


class StorageChecker:
    """Keep a project on one storage layer: the facade of one storage package.

    STG001 private storage module imported from outside the package; STG002 deprecated
    storage module or name imported; STG003 storage constructed outside a composition root;
    STG004 private or deprecated storage module imported through `importlib.import_module`
    or `__import__`; STG005 storage class imported from a module other than the facade;
    STG006 storage constructed a second time in a composition root.

    The checker reads the tree flake8 parsed and never imports the code it checks. Files
    inside the storage package are exempt from every rule.
    """

    name = "flake8-storage-plugin"
    version = "0.1.0"

    settings: ClassVar[Settings | None] = None
    """The options of the run, set by `parse_options`."""

    def __init__(
        self,
        tree: ast.AST,
        filename: str,
        lines: Sequence[str] | None = None,
        *,
        settings: Settings | None = None,
    ) -> None:
        """Check `tree`, parsed from `filename` whose text is `lines`.

        flake8 passes `tree`, `filename` and `lines`, and leaves `settings` to the class
        (it never passes keyword-only arguments). Without `lines` every file is walked.
        """
        resolved = settings if settings is not None else type(self).settings
        if resolved is None:
            raise RuntimeError("StorageChecker needs settings: pass them or call parse_options")
        self._settings = resolved
        self._tree = tree
        self._filename = filename
        self._lines = lines

    @classmethod
    def add_options(cls, manager: OptionManager) -> None:
        """Register the `--storage-*` options (also read from the config file)."""
        add_options(manager)

    @classmethod
    def parse_options(cls, options: argparse.Namespace) -> None:
        """Validate the options for the run; raise `StorageOptionError` naming a bad one."""
        cls.settings = Settings.from_options(options)

    def run(self) -> Iterator[tuple[int, int, str, type[StorageChecker]]]:
        """Yield `(line, column, message, type)` for each violation, in position order."""
        settings = self._settings
        path = os.path.abspath(self._filename)
        module = module_path(path, settings.source_roots)
        if module is not None and (
            module.name == settings.package or module.name.startswith(settings.package + ".")
        ):
            return
        if self._lines is not None and not _mentions_any(self._lines, settings.words):
            return
        scan = FileScan(settings, module, composition_root=path in settings.composition_roots)
        for line, col, message in scan.scan(self._tree):
            yield line, col, message, type(self)


def _mentions_any(lines: Sequence[str], words: Sequence[str]) -> bool:
    """Whether the source may contain one of `words` as a name or in a string literal.

    Breaking a rule takes the storage package's last name or a class name in the source, so
    a file that mentions none needs no walk. Python NFKC-normalises identifiers (a fullwidth
    spelling is the same name), so non-ASCII lines are also searched normalised.
    """
    text = "".join(lines)
    if any(word in text for word in words):
        return True
    if text.isascii():
        return False
    normalised = "".join(
        unicodedata.normalize("NFKC", line) for line in lines if not line.isascii()
    )
    return any(word in normalised for word in words)

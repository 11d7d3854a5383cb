"""`StorageChecker`: the flake8 front end of the STG rules, a thin adapter over
`storage_guard`.

The configuration is `[tool.storage-guard]` in `pyproject.toml`; the `storage-*` options
of flake8's own configuration or command line override its keys.
"""

from __future__ import annotations

import argparse
import ast
import os
import sys
from collections.abc import Iterator, Sequence
from typing import ClassVar

from flake8.options.manager import OptionManager

from storage_guard.check import analyse, may_break_a_rule
from storage_guard.config import Config, ConfigError, load_config
from storage_guard.exits import EXIT_USAGE

# flake8 option -> configuration key; paths go through flake8's `normalize_paths`.
_LIST_OPTIONS = ("classes", "deprecated-modules", "deprecated-names")
_PATH_OPTIONS = ("composition-roots", "source-roots")


class StorageChecker:
    """Keep a project on one storage layer: the facade of one storage package.

    The rules are documented in `docs/rules.md` (`storage-guard explain CODE`). The checker
    reads the tree flake8 parsed and never imports the code it checks.
    """

    name = "flake8-storage-plugin"
    version = "0.2.0"

    config: ClassVar[Config | None] = None
    """The configuration of the run, set by `parse_options`."""
    noqa: ClassVar[bool] = True
    """False under flake8's `--disable-noqa`."""

    def __init__(
        self,
        tree: ast.AST,
        filename: str,
        lines: Sequence[str] | None = None,
        *,
        config: Config | None = None,
    ) -> None:
        """Check `tree`, parsed from `filename` whose text is `lines`.

        flake8 passes `tree`, `filename` and `lines`, and leaves `config` to the class (it
        never passes keyword-only arguments). Without `lines` every file is walked.
        """
        resolved = config if config is not None else type(self).config
        if resolved is None:
            raise RuntimeError("StorageChecker needs a config: pass one or call parse_options")
        self._config = resolved
        self._tree = tree
        self._filename = filename
        self._lines = lines

    @classmethod
    def add_options(cls, manager: OptionManager) -> None:
        """Register the `--storage-*` options (also read from the config file)."""
        manager.add_option(
            "--storage-package",
            parse_from_config=True,
            help="The storage package whose __init__ is the only import path",
        )
        for key in (*_LIST_OPTIONS, *_PATH_OPTIONS):
            manager.add_option(
                f"--storage-{key}",
                parse_from_config=True,
                comma_separated_list=True,
                normalize_paths=key in _PATH_OPTIONS,
                help=f"Overrides [tool.storage-guard] {key}",
            )

    @classmethod
    def parse_options(cls, options: argparse.Namespace) -> None:
        """Load and validate the configuration; a bad one ends flake8 with exit status 2."""
        try:
            cls.config = config_from_options(options)
        except ConfigError as exc:
            print(f"flake8-storage-plugin: {exc}", file=sys.stderr)
            raise SystemExit(EXIT_USAGE) from None
        cls.noqa = not getattr(options, "disable_noqa", False)

    def run(self) -> Iterator[tuple[int, int, str, type[StorageChecker]]]:
        """Yield `(line, column, message, type)` for each violation, in position order."""
        config = self._config
        if config.is_excluded(self._filename):
            return
        if self._lines is not None and not may_break_a_rule("".join(self._lines), config):
            return
        reports = analyse(
            self._tree, self._filename, self._lines or [], config, noqa=type(self).noqa
        )
        for report in reports:
            yield report.line, report.col, report.message, type(self)


def config_from_options(options: argparse.Namespace) -> Config:
    """The configuration: `pyproject.toml`, overridden by the `storage-*` options set."""
    overrides: dict[str, object] = {}
    package = getattr(options, "storage_package", None)
    if package is not None:
        overrides["package"] = package
    for key in (*_LIST_OPTIONS, *_PATH_OPTIONS):
        value = getattr(options, f"storage_{key.replace('-', '_')}", None)
        if value is None:
            continue
        if key in _PATH_OPTIONS:
            for path in value:
                if not os.path.isabs(path):
                    raise ConfigError(
                        f"--storage-{key}: {path!r} is a bare name, which flake8 does not "
                        f"resolve against the config file; write './{path}'"
                    )
        overrides[key] = list(value)
    return load_config(overrides=overrides, override_origin="--storage-{key}")

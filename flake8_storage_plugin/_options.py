"""The STG options: their flake8 registration and their validated form, `Settings`.

Path options go through flake8's own `normalize_paths`, like `exclude`: a value that
contains a `/` (or is `.`) becomes absolute, resolved against the directory of the config
file it came from, or against the working directory when it came from the command line or
is the default. flake8 leaves a bare name (`main.py`) untouched, which would make it depend
on the working directory, so the plugin rejects bare names and asks for `./main.py`.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from dataclasses import dataclass

from flake8.exceptions import ExecutionError
from flake8.options.manager import OptionManager

from ._modules import is_dotted_name


class StorageOptionError(ExecutionError, ValueError):
    """An STG option has an invalid value.

    flake8 prints an `ExecutionError` as a one-line critical error and exits 1, instead of
    a traceback; it is a `ValueError` for callers that validate options themselves.
    """


@dataclass(frozen=True, slots=True)
class Settings:
    """The validated STG options, shared by every file of a run."""

    package: str
    """The storage package, e.g. `src.storage`; its `__init__` is the facade."""
    classes: frozenset[str]
    """Class names whose call constructs storage."""
    deprecated_modules: tuple[str, ...]
    """Absolute dotted names of the deprecated modules, e.g. `src.storage.redis_storage`."""
    deprecated_names: frozenset[str]
    """Names that must not be imported from the storage package."""
    replacement: str
    """The class STG002 suggests instead: the first of `classes` that is not deprecated."""
    composition_roots: frozenset[str]
    """Absolute paths of the files allowed to construct storage (once each)."""
    source_roots: tuple[str, ...]
    """Absolute directories that module names are relative to, deepest first."""
    words: tuple[str, ...]
    """A file that contains none of these cannot break a rule (see `StorageChecker.run`)."""

    @classmethod
    def from_options(cls, options: argparse.Namespace) -> Settings:
        """Validate the options flake8 parsed; raise `StorageOptionError` naming a bad one."""
        package = options.storage_package.strip()
        if not is_dotted_name(package):
            raise StorageOptionError(
                f"--storage-package: {package!r} is not a dotted module name such as src.storage"
            )
        classes = _identifiers("storage-classes", options.storage_classes)
        if not classes:
            raise StorageOptionError("--storage-classes: name at least one storage class")
        deprecated_names = _identifiers(
            "storage-deprecated-names", options.storage_deprecated_names
        )
        replacement = next((name for name in classes if name not in deprecated_names), None)
        if replacement is None:
            raise StorageOptionError(
                "--storage-classes: every class is in --storage-deprecated-names; "
                "at least one must remain to suggest as the replacement"
            )
        deprecated_modules = []
        for module in options.storage_deprecated_modules:
            if not is_dotted_name(module):
                raise StorageOptionError(
                    f"--storage-deprecated-modules: {module!r} is not a dotted module name "
                    f"relative to {package}, such as redis_storage"
                )
            deprecated_modules.append(f"{package}.{module}")
        source_roots = _paths("storage-source-roots", options.storage_source_roots)
        if not source_roots:
            raise StorageOptionError("--storage-source-roots: name at least one directory")
        for root in source_roots:
            if not os.path.isdir(root):
                raise StorageOptionError(
                    f"--storage-source-roots: {root!r} does not exist or is not a directory"
                )
        return cls(
            package=package,
            classes=frozenset(classes),
            deprecated_modules=tuple(deprecated_modules),
            deprecated_names=frozenset(deprecated_names),
            replacement=replacement,
            composition_roots=frozenset(
                _paths("storage-composition-roots", options.storage_composition_roots)
            ),
            source_roots=tuple(sorted(set(source_roots), key=len, reverse=True)),
            words=(package.rpartition(".")[2], *classes),
        )


def add_options(manager: OptionManager) -> None:
    """Register the STG options, each readable from the command line and the config file."""
    manager.add_option(
        "--storage-package",
        default="src.storage",
        parse_from_config=True,
        help="The storage package whose __init__ is the only import path (default: %(default)s)",
    )
    manager.add_option(
        "--storage-classes",
        default="UnifiedStorage,AsyncRedisStorage,RedisStorage",
        parse_from_config=True,
        comma_separated_list=True,
        help="Storage classes; calling one constructs storage (default: %(default)s)",
    )
    manager.add_option(
        "--storage-deprecated-modules",
        default="async_redis_storage,redis_storage",
        parse_from_config=True,
        comma_separated_list=True,
        help="Deprecated modules, relative to the storage package (default: %(default)s)",
    )
    manager.add_option(
        "--storage-deprecated-names",
        default="AsyncRedisStorage,RedisStorage",
        parse_from_config=True,
        comma_separated_list=True,
        help="Deprecated names of the storage package (default: %(default)s)",
    )
    manager.add_option(
        "--storage-composition-roots",
        default="src/main.py",
        parse_from_config=True,
        comma_separated_list=True,
        normalize_paths=True,
        help=(
            "Files that may construct storage, once each; paths resolve like --exclude's "
            "(default: %(default)s)"
        ),
    )
    manager.add_option(
        "--storage-source-roots",
        default=".",
        parse_from_config=True,
        comma_separated_list=True,
        normalize_paths=True,
        help=(
            "Directories that module names are relative to; paths resolve like --exclude's "
            "(default: %(default)s)"
        ),
    )


def _identifiers(option: str, values: Sequence[str]) -> list[str]:
    for value in values:
        if "." in value or not is_dotted_name(value):
            raise StorageOptionError(f"--{option}: {value!r} is not a Python identifier")
    return list(values)


def _paths(option: str, values: Sequence[str]) -> list[str]:
    for value in values:
        if not os.path.isabs(value):
            raise StorageOptionError(
                f"--{option}: {value!r} is a bare name, which flake8 does not resolve "
                f"against the config file; write './{value}'"
            )
    return list(values)

"""`check-startup`: run the repository's configured startup entry and check that it
created exactly one storage.

The entry is `[tool.storage-guard] startup = "package.module:function"`: a function (or
coroutine function) that starts the application without serving, creating its storage the
way production does. The check imports the repository's own code from its source roots
(never an installed copy elsewhere), counts the instances of the configured storage classes
that are created while the entry runs, and reports where each was created. It writes no
bytecode or other file into the repository; what the entry itself writes is its own affair.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import os
import sys
import warnings
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any, Final, TextIO

from .config import Config
from .exits import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE

_HERE: Final = Path(__file__).resolve().parent


class StartupConfigError(Exception):
    """The entry cannot be run: not configured, not importable, or not the repository's."""


@dataclass(frozen=True, slots=True)
class Creation:
    """One storage instance created while the entry ran."""

    cls: str
    site: str
    """`path:line` of the call that created it, relative to the root."""


@dataclass
class _Recorder:
    root: Path
    skipped: tuple[Path, ...]
    creations: list[Creation] = field(default_factory=list)
    _seen: set[int] = field(default_factory=set)
    # Strong references keep the ids of recorded instances from being reused.
    _instances: list[object] = field(default_factory=list)

    def record(self, instance: object, cls: str) -> None:
        if id(instance) in self._seen:
            return
        self._seen.add(id(instance))
        self._instances.append(instance)
        self.creations.append(Creation(cls, self._site(sys._getframe(2))))

    def _site(self, frame: FrameType | None) -> str:
        while frame is not None:
            # Resolved, as `root` and `skipped` are: a checkout may be imported through a
            # symlink (linked into a virtual environment).
            filename = Path(os.path.realpath(frame.f_code.co_filename))
            if not any(filename.is_relative_to(folder) for folder in self.skipped):
                try:
                    shown = filename.relative_to(self.root).as_posix()
                except ValueError:
                    shown = str(filename)
                return f"{shown}:{frame.f_lineno}"
            frame = frame.f_back
        return "<unknown>"


def check_startup(config: Config, stdout: TextIO, stderr: TextIO) -> int:
    """Run the configured entry; 0 when it created exactly one storage."""
    try:
        with _repository_on_path(config):
            facade, classes = _storage_classes(config)
            entry = _entry(config)
            storage_folder = Path(facade.__file__ or "").resolve().parent
            recorder = _Recorder(config.root.resolve(), (_HERE, storage_folder))
            with _instrumented(classes, recorder):
                error = _run(entry)
    except StartupConfigError as exc:
        print(f"check-startup: {exc}", file=stderr)
        return EXIT_USAGE
    creations = recorder.creations
    if error is None and len(creations) == 1:
        (only,) = creations
        print(
            f"startup created exactly one storage: {only.cls} created at {only.site}", file=stdout
        )
        return EXIT_OK
    if error is not None:
        print(f"check-startup: the startup entry {config.startup} raised {error}", file=stderr)
    if not creations:
        print("check-startup: startup created no storage", file=stderr)
    elif len(creations) > 1:
        print(f"check-startup: startup created {len(creations)} storages:", file=stderr)
        for creation in creations:
            print(f"  {creation.cls} created at {creation.site}", file=stderr)
    return EXIT_FINDINGS


@contextmanager
def _repository_on_path(config: Config) -> Iterator[None]:
    """The repository's source roots first on `sys.path`, and no bytecode written."""
    saved_path, saved_bytecode = list(sys.path), sys.dont_write_bytecode
    sys.path[:0] = [str(folder) for folder in config.source_roots]
    sys.dont_write_bytecode = True
    try:
        yield
    finally:
        sys.path[:] = saved_path
        sys.dont_write_bytecode = saved_bytecode


def _import(name: str, what: str, config: Config) -> ModuleType:
    try:
        module = importlib.import_module(name)
    except ImportError as exc:
        raise StartupConfigError(f"cannot import {what} {name!r}: {exc}") from None
    location = getattr(module, "__file__", None)
    if location is not None and not Path(location).resolve().is_relative_to(config.root):
        raise StartupConfigError(
            f"{what} {name!r} resolves to {location}, outside the repository {config.root}: "
            "check [tool.storage-guard] source-roots"
        )
    return module


def _storage_classes(config: Config) -> tuple[ModuleType, list[type]]:
    facade = _import(config.package, "the storage package", config)
    modules = [facade]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in config.deprecated_modules:
            try:
                modules.append(importlib.import_module(name))
            except ImportError:
                continue
    classes: list[type] = []
    for module in modules:
        for name in config.classes:
            found = getattr(module, name, None)
            if isinstance(found, type) and found not in classes:
                classes.append(found)
    if not classes:
        raise StartupConfigError(
            f"{config.package} defines none of the storage classes {', '.join(config.classes)}: "
            "check [tool.storage-guard] classes"
        )
    return facade, classes


def _entry(config: Config) -> Callable[[], object]:
    if config.startup is None:
        raise StartupConfigError(
            "no startup entry configured: set [tool.storage-guard] startup = "
            "'package.module:function' in pyproject.toml, a function that starts the "
            "application without serving"
        )
    module_name, _, attribute = config.startup.partition(":")
    target: Any = _import(module_name, "the startup module", config)
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise StartupConfigError(
                f"the startup module {module_name!r} has no {attribute!r}"
            ) from None
    if not callable(target):
        raise StartupConfigError(f"the startup entry {config.startup!r} is not callable")
    entry: Callable[[], object] = target
    return entry


@contextmanager
def _instrumented(classes: list[type], recorder: _Recorder) -> Iterator[None]:
    """Record each instance of `classes` as its `__init__` starts (before it can raise)."""
    originals = {cls: cls.__dict__.get("__init__") for cls in classes}

    def wrap(cls: type) -> Callable[..., None]:
        inherited = type.__getattribute__(cls, "__init__")

        def __init__(self: object, *args: Any, **kwargs: Any) -> None:
            recorder.record(self, type(self).__name__)
            inherited(self, *args, **kwargs)

        return __init__

    wrappers = {cls: wrap(cls) for cls in classes}
    for cls, wrapper in wrappers.items():
        type.__setattr__(cls, "__init__", wrapper)
    try:
        yield
    finally:
        for cls, original in originals.items():
            if original is None:
                type.__delattr__(cls, "__init__")
            else:
                type.__setattr__(cls, "__init__", original)


def _run(entry: Callable[[], object]) -> str | None:
    """Run the entry; None, or what it raised as `Type: message`."""
    try:
        result = entry()
        if inspect.isawaitable(result):
            asyncio.run(_await(result))
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


async def _await(awaitable: Awaitable[object]) -> object:
    return await awaitable

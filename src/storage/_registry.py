"""The process-wide registry that allows one live storage instance.

Static guards cannot see factories, reflection or plugins; this can. Constructing a second
live storage raises `StorageAlreadyCreatedError` naming both creation sites.
"""

from __future__ import annotations

import os
import sys
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ._errors import StorageAlreadyCreatedError, StorageInstanceError

_STORAGE_PACKAGE = str(Path(__file__).resolve().parent)


@dataclass(frozen=True, slots=True)
class StorageInstanceInfo:
    """Where and for what a storage instance was created."""

    kind: str
    redis_url: str
    """The URL with its password redacted."""
    created_at: str
    """`file:line` of the first caller outside the storage package."""

    def __str__(self) -> str:
        return f"{self.kind} for {self.redis_url} created at {self.created_at}"


@dataclass
class _State:
    live: weakref.ref[object] | None = None
    live_info: StorageInstanceInfo | None = None
    created: list[StorageInstanceInfo] = field(default_factory=list)


def creation_site() -> str:
    """`file:line` of the innermost frame outside the storage package."""
    frame = sys._getframe(1)
    # Resolved: the package may be imported through a symlink (a checkout linked into a
    # virtual environment), and `_STORAGE_PACKAGE` is the real path.
    while frame.f_back is not None and os.path.realpath(frame.f_code.co_filename).startswith(
        _STORAGE_PACKAGE
    ):
        frame = frame.f_back
    return f"{os.path.relpath(os.path.realpath(frame.f_code.co_filename))}:{frame.f_lineno}"


class _Registry:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state = _State()

    def register(self, instance: object, info: StorageInstanceInfo) -> None:
        with self._lock:
            state = self._state
            if state.live is not None and state.live() is not None:
                raise StorageAlreadyCreatedError(
                    f"a second storage instance was created: {info}, but this process "
                    f"already has one: {state.live_info}. Create the storage once in the "
                    "composition root (src/main.py) and pass it to the components that need it."
                )
            state.live = weakref.ref(instance, self._collected)
            state.live_info = info
            state.created.append(info)

    def release(self, instance: object) -> None:
        with self._lock:
            if self._state.live is not None and self._state.live() is instance:
                self._state.live = None
                self._state.live_info = None

    def _collected(self, reference: weakref.ref[object]) -> None:
        # An instance dropped without close() frees the slot when it is garbage-collected.
        with self._lock:
            if self._state.live is reference:
                self._state.live = None
                self._state.live_info = None

    def snapshot(self) -> tuple[StorageInstanceInfo | None, list[StorageInstanceInfo]]:
        with self._lock:
            return self._state.live_info, list(self._state.created)

    def swap(self, state: _State) -> _State:
        with self._lock:
            previous, self._state = self._state, state
            return previous

    def reset_after_fork(self) -> None:
        # The parent's lock may have been held by another thread at fork time, and the
        # parent's instance record describes another process.
        self._lock = threading.Lock()
        self._state = _State()


registry = _Registry()
os.register_at_fork(after_in_child=registry.reset_after_fork)


def live_instance() -> StorageInstanceInfo | None:
    """The live storage instance of this process, if there is one."""
    return registry.snapshot()[0]


def assert_single_instance() -> StorageInstanceInfo:
    """Check that exactly one storage was created in this process and is still live.

    Startup calls this once everything is wired. Raises `StorageInstanceError` listing
    every creation site otherwise.
    """
    live, created = registry.snapshot()
    if live is not None and len(created) == 1:
        return live
    sites = "; ".join(str(info) for info in created) or "none"
    raise StorageInstanceError(
        f"expected exactly one live storage instance, found {len(created)} created "
        f"({'one' if live else 'none'} live): {sites}"
    )


@contextmanager
def isolated_storage_registry() -> Iterator[None]:
    """Run a block against an empty registry, restoring the previous one afterwards.

    The explicit test API: each test can create its own storage without seeing (or
    leaving behind) another test's instance.
    """
    previous = registry.swap(_State())
    try:
        yield
    finally:
        registry.swap(previous)

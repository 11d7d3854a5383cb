"""The storage errors. Every one of them is a `StorageError`."""

from __future__ import annotations


class StorageError(Exception):
    """Base class of every error the storage layer raises."""


class StorageConfigurationError(StorageError):
    """The storage was given a configuration it cannot use (a malformed Redis URL, say)."""


class StorageUnavailableError(StorageError):
    """Redis refused the connection, could not be reached, or did not answer in time."""


class StorageClosedError(StorageError):
    """The storage was used after `close()` / `aclose()`."""


class CorruptRecordError(StorageError):
    """A record in Redis cannot be decoded into its model."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"record {key!r} is corrupt: {reason}")
        self.key = key


class InvalidKeyError(StorageError, ValueError):
    """A hostname, id or key part would escape its record family."""


class SyncCallInAsyncContextError(StorageError):
    """A blocking storage method was called on a thread that runs an event loop."""

    def __init__(self, method: str) -> None:
        super().__init__(
            f"UnifiedStorage.{method}() blocks, but it was called on a thread that runs an "
            f"event loop; use `await storage.a{method}(...)` there instead"
        )
        self.method = method


class StorageAlreadyCreatedError(StorageError):
    """A second live storage instance was constructed in this process."""


class StorageInstanceError(StorageError):
    """The process does not hold exactly one storage instance when it should."""


class NoFreePortError(StorageError):
    """Every port of the requested range is allocated."""

    def __init__(self, service: str, start: int, end: int) -> None:
        super().__init__(f"no free port for service {service!r}: ports {start}-{end} are all taken")
        self.service = service
        self.start = start
        self.end = end

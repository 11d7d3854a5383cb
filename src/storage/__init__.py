"""The gateway's one storage layer. Import from here; every `_` module is private.

`async_redis_storage` and `redis_storage` are deprecated shims kept for old call sites.
"""

from ._config import redact_url
from ._defaults import AUTH_EXCLUDED_PATHS
from ._errors import (
    CorruptRecordError,
    InvalidKeyError,
    NoFreePortError,
    StorageAlreadyCreatedError,
    StorageClosedError,
    StorageConfigurationError,
    StorageError,
    StorageInstanceError,
    StorageUnavailableError,
    SyncCallInAsyncContextError,
)
from ._models import ProxyTarget, Route, RouteMode, RouteTargetType
from ._registry import (
    StorageInstanceInfo,
    assert_single_instance,
    isolated_storage_registry,
    live_instance,
)
from .unified_storage import UnifiedStorage

__all__ = [
    "AUTH_EXCLUDED_PATHS",
    "CorruptRecordError",
    "InvalidKeyError",
    "NoFreePortError",
    "ProxyTarget",
    "Route",
    "RouteMode",
    "RouteTargetType",
    "StorageAlreadyCreatedError",
    "StorageClosedError",
    "StorageConfigurationError",
    "StorageError",
    "StorageInstanceError",
    "StorageInstanceInfo",
    "StorageUnavailableError",
    "SyncCallInAsyncContextError",
    "UnifiedStorage",
    "assert_single_instance",
    "isolated_storage_registry",
    "live_instance",
    "redact_url",
]

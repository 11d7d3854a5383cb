"""`UnifiedStorage`: the one storage of the gateway, for sync and async code alike.

Each record family lives in a module of its own (`_values`, `_proxy_targets`, `_routes`,
...) as a set of methods on `StorageBase`; this class joins them.
"""

from __future__ import annotations

from ._authorization import AuthorizationRecords
from ._certificates import CertificateRecords
from ._config_changes import ConfigChangeRecords
from ._device import DeviceRecords
from ._docker_services import DockerServiceRecords
from ._mcp import McpRecords
from ._oauth import OAuthRecords
from ._ports import PortRecords
from ._proxy_targets import ProxyTargetRecords
from ._routes import RouteRecords
from ._users import UserRecords
from ._values import ValueRecords


class UnifiedStorage(
    ValueRecords,
    ProxyTargetRecords,
    RouteRecords,
    ConfigChangeRecords,
    PortRecords,
    McpRecords,
    CertificateRecords,
    DockerServiceRecords,
    OAuthRecords,
    UserRecords,
    AuthorizationRecords,
    DeviceRecords,
):
    """The gateway's storage on Redis: one instance per process, created by the composition root.

    Every operation has a blocking method and an async twin with an `a` prefix
    (`get_proxy_target()` / `await aget_proxy_target()`). Blocking methods raise
    `SyncCallInAsyncContextError` on a thread that runs an event loop. The first operation
    initialises the storage (see `initialize()`) if nobody did.

    Args:
        redis_url: `redis://`, `rediss://` or `unix://` URL; defaults to `REDIS_URL`.
        namespace: prefix of every key, for several gateways (or tests) on one Redis.
        connect_timeout: seconds to wait for a connection before `StorageUnavailableError`.
        timeout: seconds to wait for a reply before `StorageUnavailableError`.
        max_connections: size of each connection pool; callers beyond it wait up to
            `timeout` for a free connection.
        wait_for_replicas: how many replicas must acknowledge each grant-critical write
            (a refresh token's rotation, a revocation) before it returns: `WAIT` on the
            write's connection. Defaults to `REDIS_WAIT_REPLICAS`, else 0 (no waiting).
            Single node and Sentinel only; on a Redis Cluster it is a
            `StorageConfigurationError` at the first use.
        replica_wait_timeout: seconds such a write waits for the replicas at most; one
            that is not acknowledged in time is logged, and stays applied on the primary.
    """

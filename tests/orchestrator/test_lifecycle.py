"""`MainOrchestrator.startup()` and `shutdown()`: the storage initialised and reconciled
first, closed last."""

from __future__ import annotations

import pytest
import redis

from src.orchestrator import MainOrchestrator, ReconcileReport
from src.storage import AUTH_EXCLUDED_PATHS, StorageClosedError, UnifiedStorage, live_instance
from tests.keys_v2 import port_key, service_ports_key


async def test_startup_initialises_then_reconciles(
    orchestrator: MainOrchestrator, storage: UnifiedStorage, raw: redis.Redis, namespace: str
) -> None:
    # Left by an earlier run: a port whose service is gone. Written behind the storage's
    # back, since any storage call would initialise it first.
    raw.set(port_key(namespace, 30003), "gone")
    raw.sadd(service_ports_key(namespace, "gone"), "30003")
    assert raw.get(f"{namespace}:proxy:localhost") is None

    report = await orchestrator.startup()

    assert report == ReconcileReport(released_ports={"gone": (30003,)})
    localhost = await storage.aget_proxy_target("localhost")
    assert localhost is not None
    assert localhost.auth_excluded_paths == list(AUTH_EXCLUDED_PATHS)
    assert raw.get(port_key(namespace, 30003)) is None


async def test_shutdown_closes_the_storage_and_frees_its_slot(
    orchestrator: MainOrchestrator, storage: UnifiedStorage
) -> None:
    await orchestrator.startup()
    assert live_instance() is storage.info

    await orchestrator.shutdown()

    assert live_instance() is None
    with pytest.raises(StorageClosedError):
        await storage.aget_proxy_target("localhost")
    with pytest.raises(StorageClosedError):
        await orchestrator.reconcile()

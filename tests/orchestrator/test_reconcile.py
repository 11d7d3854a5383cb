"""`MainOrchestrator.reconcile()`: expired MCP sessions dropped, the ports of deleted Docker
services released, corrupt records reported and left alone."""

from __future__ import annotations

import logging
import re

import pytest
import redis

from src.orchestrator import MainOrchestrator, ReconcileReport
from src.storage import McpClientInfo, UnifiedStorage
from tests.keys_v2 import service_ports_key, session_key, sessions_index_key
from tests.redis_topologies import namespace_keys

CLIENT = McpClientInfo(name="test-client", version="1.0")


def snapshot(raw: redis.Redis, namespace: str) -> dict[bytes, object]:
    """Every key of the namespace with its value."""
    found: dict[bytes, object] = {}
    for key in namespace_keys(raw, namespace):
        kind = raw.type(key)
        found[key] = raw.smembers(key) if kind == b"set" else raw.get(key)
    return found


async def open_session(storage: UnifiedStorage, user: str | None) -> str:
    session = await storage.acreate_mcp_session(
        user=user, client=CLIENT, protocol_version="2025-06-18", ttl=60
    )
    return session.session_id


def expire(raw: redis.Redis, namespace: str, session_id: str) -> None:
    """What the session's TTL running out does: its record disappears, its index entries
    stay."""
    assert raw.delete(session_key(namespace, session_id)) == 1


async def test_expired_sessions_are_dropped(
    orchestrator: MainOrchestrator, storage: UnifiedStorage, raw: redis.Redis, namespace: str
) -> None:
    live = await open_session(storage, "alice")
    expired = await open_session(storage, "alice")
    anonymous = await open_session(storage, None)
    expire(raw, namespace, expired)
    expire(raw, namespace, anonymous)

    report = await orchestrator.reconcile()

    assert report == ReconcileReport(expired_mcp_sessions=2)
    assert raw.smembers(sessions_index_key(namespace)) == {live.encode()}
    assert raw.smembers(sessions_index_key(namespace, "alice")) == {live.encode()}
    assert [session.session_id for session in await storage.alist_mcp_sessions()] == [live]


async def test_ports_of_deleted_services_are_released(
    orchestrator: MainOrchestrator, storage: UnifiedStorage
) -> None:
    docker = orchestrator.components.docker
    await docker.create_service("web", "nginx:1.27", container_ports=[80, 443])
    await docker.create_service("gone", "redis:7", container_ports=[6379, 16379])
    # A delete that stopped between the record and the ports, as a crash would.
    assert await storage.adelete_docker_service("gone")
    await storage.aallocate_port("orphan", 30000, 30009)
    # No Docker service can have a one-character name.
    await storage.aallocate_port("x", 30000, 30009)

    report = await orchestrator.reconcile()

    assert report == ReconcileReport(
        released_ports={"gone": (30002, 30003), "orphan": (30004,), "x": (30005,)}
    )
    assert await storage.alist_port_services() == ["web"]
    assert await storage.alist_ports("web") == [30000, 30001]
    assert [await storage.aget_port_owner(port) for port in range(30000, 30007)] == [
        "web", "web", None, None, None, None, None,
    ]  # fmt: skip
    # Freed ports go to the next service.
    service = await docker.create_service("next", "redis:7", container_ports=[6379])
    assert [mapping.host_port for mapping in service.ports] == [30002]


async def test_a_second_reconcile_finds_nothing_to_do(
    orchestrator: MainOrchestrator, storage: UnifiedStorage, raw: redis.Redis, namespace: str
) -> None:
    await orchestrator.components.docker.create_service("web", "nginx:1.27", container_ports=[80])
    await storage.aallocate_port("orphan", 30000, 30009)
    expire(raw, namespace, await open_session(storage, None))
    first = await orchestrator.reconcile()
    assert first == ReconcileReport(expired_mcp_sessions=1, released_ports={"orphan": (30001,)})
    before = snapshot(raw, namespace)
    assert await orchestrator.reconcile() == ReconcileReport()
    assert snapshot(raw, namespace) == before


async def test_a_corrupt_docker_record_keeps_its_ports_and_is_reported(
    orchestrator: MainOrchestrator, storage: UnifiedStorage, raw: redis.Redis, namespace: str
) -> None:
    await storage.aallocate_port("broken", 30000, 30009)
    await storage.aallocate_port("gone", 30000, 30009)
    raw.set(f"{namespace}:docker-service:broken", b"not json")
    expire(raw, namespace, await open_session(storage, None))

    report = await orchestrator.reconcile()

    assert report.expired_mcp_sessions == 1
    assert report.released_ports == {"gone": (30001,)}
    assert len(report.problems) == 1
    assert re.fullmatch(
        rf"ports of 'broken' kept: record '{namespace}:docker-service:broken' is corrupt: "
        r"not a valid DockerService \(.+\)",
        report.problems[0],
    )
    assert await storage.alist_ports("broken") == [30000]
    assert raw.get(f"{namespace}:docker-service:broken") == b"not json"


async def test_a_corrupt_port_set_is_reported(
    orchestrator: MainOrchestrator, storage: UnifiedStorage, raw: redis.Redis, namespace: str
) -> None:
    await storage.aallocate_port("gone", 30000, 30009)
    raw.sadd(service_ports_key(namespace, "mangled"), "http")
    await storage.aallocate_port("orphan", 30000, 30009)

    report = await orchestrator.reconcile()

    assert report == ReconcileReport(
        released_ports={"gone": (30000,), "orphan": (30001,)},
        problems=(
            f"ports of 'mangled' kept: record '{service_ports_key(namespace, 'mangled')}' is "
            "corrupt: a member is not a port number",
        ),
    )
    assert raw.smembers(service_ports_key(namespace, "mangled")) == {b"http"}


async def test_a_corrupt_port_owner_key_stops_only_the_port_step(
    orchestrator: MainOrchestrator, storage: UnifiedStorage, raw: redis.Redis, namespace: str
) -> None:
    await storage.aallocate_port("gone", 30000, 30009)
    raw.sadd(service_ports_key(namespace, "bad name"), "30005")
    expire(raw, namespace, await open_session(storage, None))
    ports_before = {
        key: value
        for key, value in snapshot(raw, namespace).items()
        if f"{{{namespace}:ports}}".encode() in key
    }

    report = await orchestrator.reconcile()

    assert report == ReconcileReport(
        expired_mcp_sessions=1,
        problems=(
            f"ports not reconciled: record '{service_ports_key(namespace, 'bad name')}' is "
            "corrupt: the key does not end in a valid service name",
        ),
    )
    ports_after = {
        key: value
        for key, value in snapshot(raw, namespace).items()
        if f"{{{namespace}:ports}}".encode() in key
    }
    assert ports_after == ports_before


async def test_a_corrupt_session_index_stops_only_the_session_step(
    orchestrator: MainOrchestrator, storage: UnifiedStorage, raw: redis.Redis, namespace: str
) -> None:
    live = await open_session(storage, None)
    raw.sadd(sessions_index_key(namespace), "not-a-session-id")
    await storage.aallocate_port("gone", 30000, 30009)

    report = await orchestrator.reconcile()

    assert report == ReconcileReport(
        released_ports={"gone": (30000,)},
        problems=(
            f"expired MCP sessions not dropped: record '{sessions_index_key(namespace)}' is "
            "corrupt: a member is not a session id",
        ),
    )
    assert raw.smembers(sessions_index_key(namespace)) == {
        live.encode(),
        b"not-a-session-id",
    }


async def test_the_report_is_logged(
    orchestrator: MainOrchestrator,
    storage: UnifiedStorage,
    raw: redis.Redis,
    namespace: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await storage.aallocate_port("gone", 30000, 30009)
    await storage.aallocate_port("gone", 30000, 30009)
    raw.sadd(service_ports_key(namespace, "mangled"), "http")
    expire(raw, namespace, await open_session(storage, None))
    with caplog.at_level(logging.INFO, logger="src.orchestrator"):
        report = await orchestrator.reconcile()
    assert [(record.levelname, record.getMessage()) for record in caplog.records] == [
        (
            "INFO",
            "reconciled the storage: 1 expired MCP session(s) dropped, 2 port(s) of 1 "
            "deleted Docker service(s) released, 1 problem(s)",
        ),
        ("WARNING", f"reconcile: {report.problems[0]}"),
    ]

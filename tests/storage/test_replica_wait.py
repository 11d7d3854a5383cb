"""`wait_for_replicas`: grant-critical writes (a rotation, a revocation) wait for replicas
with `WAIT` on their connection, where the deployment has replicas to wait for."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import pytest
import redis

from src.storage import (
    InvalidGrantError,
    OAuthGrantType,
    StorageConfigurationError,
    UnifiedStorage,
)

GRANTS = [OAuthGrantType.REFRESH_TOKEN]


def waits(raw: redis.Redis) -> int:
    """How many WAIT commands the server (the primary) has run."""
    stats = raw.info("commandstats").get("cmdstat_wait", {"calls": 0})
    return int(stats["calls"])


@pytest.fixture
def waiting(redis_url: str, namespace: str, storage_registry: None) -> Iterator[UnifiedStorage]:
    storage = UnifiedStorage(
        redis_url, namespace=namespace, wait_for_replicas=1, replica_wait_timeout=0.05
    )
    yield storage
    storage.close()


def rotate_and_revoke(storage: UnifiedStorage) -> None:
    """Two grant-critical writes (the rotation, then the revocation of its family), and the
    async twin of one."""
    client_id = storage.register_oauth_client("replicated", GRANTS).client.client_id
    issued = storage.issue_token_pair(client_id, "alice", "", 60, 600)
    assert issued.refresh_token is not None
    rotated = storage.rotate_refresh_token(issued.refresh_token, client_id, 60, 600)
    assert rotated.refresh_token is not None
    assert storage.revoke_token(rotated.refresh_token, client_id) is True
    assert storage.get_access_token(rotated.access_token) is None
    again = storage.issue_token_pair(client_id, "alice", "", 60, 600)
    assert asyncio.run(storage.arevoke_token(again.access_token, client_id)) is True


@pytest.mark.topologies("sentinel")
def test_writes_wait_for_a_replica_under_sentinel(
    waiting: UnifiedStorage,
    raw: redis.Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    waiting.initialize()
    before = waits(raw)
    rotate_and_revoke(waiting)
    # The rotation, the family's revocation, the access token's revocation: one WAIT each.
    assert waits(raw) - before == 3
    assert "replicas within" not in caplog.text


@pytest.mark.topologies("single")
def test_without_replicas_a_write_is_logged_and_stays(
    waiting: UnifiedStorage, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    client_id = waiting.register_oauth_client("replicated", GRANTS).client.client_id
    issued = waiting.issue_token_pair(client_id, "alice", "", 60, 600)
    assert issued.refresh_token is not None
    rotated = waiting.rotate_refresh_token(issued.refresh_token, client_id, 60, 600)
    assert "acknowledged by 0 of 1 replicas within 50 ms" in caplog.text
    assert issued.refresh_token not in caplog.text
    # Applied all the same: the new pair works, the old refresh token is used.
    assert waiting.get_access_token(rotated.access_token) is not None
    with pytest.raises(InvalidGrantError):
        waiting.rotate_refresh_token(issued.refresh_token, client_id, 60, 600)


@pytest.mark.topologies("cluster")
def test_a_cluster_refuses_the_setting(waiting: UnifiedStorage) -> None:
    client_id = waiting.register_oauth_client("replicated", GRANTS).client.client_id
    issued = waiting.issue_token_pair(client_id, "alice", "", 60, 600)
    with pytest.raises(StorageConfigurationError, match="Sentinel only"):
        waiting.revoke_token(issued.access_token, client_id)


# A Cluster client has no one server to ask how many WAITs it ran.
@pytest.mark.topologies("single", "sentinel")
def test_no_wait_by_default(storage: UnifiedStorage, raw: redis.Redis) -> None:
    storage.initialize()
    before = waits(raw)
    rotate_and_revoke(storage)
    assert waits(raw) == before


@pytest.mark.parametrize(("argument", "variable"), [(-1, None), (None, "x"), (None, "-2")])
def test_bad_settings(
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
    storage_registry: None,
    argument: int | None,
    variable: str | None,
) -> None:
    if variable is not None:
        monkeypatch.setenv("REDIS_WAIT_REPLICAS", variable)
    with pytest.raises(StorageConfigurationError, match="wait_for_replicas"):
        UnifiedStorage(redis_url, wait_for_replicas=argument)
    with pytest.raises(StorageConfigurationError, match="replica_wait_timeout"):
        UnifiedStorage(redis_url, wait_for_replicas=0, replica_wait_timeout=0)


@pytest.mark.topologies("sentinel")
def test_the_variable_sets_it(
    redis_url: str,
    namespace: str,
    raw: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
    storage_registry: None,
) -> None:
    monkeypatch.setenv("REDIS_WAIT_REPLICAS", "1")
    storage = UnifiedStorage(redis_url, namespace=namespace)
    try:
        storage.initialize()
        before = waits(raw)
        rotate_and_revoke(storage)
        assert waits(raw) - before == 3
    finally:
        storage.close()

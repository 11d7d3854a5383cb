"""Bad input gets a clear error and loses nothing."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
import redis

from src.embedded_redis import EmbeddedRedis
from src.storage import (
    CorruptRecordError,
    InvalidKeyError,
    ProxyTarget,
    Route,
    StorageConfigurationError,
    StorageUnavailableError,
    UnifiedStorage,
)
from tests.keys_v2 import route_index_key
from tests.redis_topologies import namespace_keys


def test_refused_connection(closed_port: int, storage_registry: None) -> None:
    storage = UnifiedStorage(f"redis://:hunter2@127.0.0.1:{closed_port}/0", connect_timeout=0.5)
    with pytest.raises(StorageUnavailableError, match=f"127.0.0.1:{closed_port}") as raised:
        storage.get("k")
    assert "hunter2" not in str(raised.value)
    with pytest.raises(StorageUnavailableError):
        asyncio.run(storage.aget("k"))
    assert storage.health_check() is False
    assert asyncio.run(storage.ahealth_check()) is False
    storage.close()


@pytest.mark.parametrize("api", ["sync", "async"])
def test_silent_server_times_out(silent_server: int, api: str, storage_registry: None) -> None:
    storage = UnifiedStorage(f"redis://127.0.0.1:{silent_server}/0", timeout=0.3)
    started = time.monotonic()
    with pytest.raises(StorageUnavailableError, match="unavailable"):
        if api == "sync":
            storage.get("k")
        else:
            asyncio.run(storage.aget("k"))
    # Bounded, never a hang: one timeout per attempt, well under a second here.
    assert time.monotonic() - started < 5
    storage.close()


def test_a_restarted_redis_is_used_again(tmp_path: Path, storage_registry: None) -> None:
    server = EmbeddedRedis(tmp_path, persist=False)
    url = server.start()
    storage = UnifiedStorage(url, timeout=1, connect_timeout=1)
    try:
        storage.set("k", "before")
        asyncio.run(storage.aset("k2", "before"))
        server.stop()
        with pytest.raises(StorageUnavailableError):
            storage.get("k")
        server = EmbeddedRedis(tmp_path, persist=False, port=server.port)
        server.start()
        storage.set("k", "after")
        assert storage.get("k") == "after"
        assert asyncio.run(storage.aget("k")) == "after"
        assert storage.get("k2") is None  # the new server is empty
        # ... but the `localhost` target heals at its first lookup, without initialize().
        localhost = storage.get_proxy_target("localhost")
        assert localhost is not None and "/token" in localhost.auth_excluded_paths
    finally:
        storage.close()
        server.stop()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://:pw@127.0.0.1:6379/0", "schemes"),
        ("redis://:pw@127.0.0.1:port/0", "Port could not be cast"),
        ("redis://:pw@127.0.0.1:6379/zero", "database must be a number"),
        ("redis://:pw@[::1/0", "IPv6"),
        ("", "no Redis URL"),
    ],
)
def test_bad_urls(url: str, expected: str, storage_registry: None) -> None:
    with pytest.raises(StorageConfigurationError, match=expected) as raised:
        UnifiedStorage(url)
    assert "pw" not in str(raised.value).replace("pass redis_url", "")


def test_missing_url_falls_back_to_redis_url_env(
    redis_url: str, monkeypatch: pytest.MonkeyPatch, storage_registry: None
) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    with pytest.raises(StorageConfigurationError, match="set REDIS_URL"):
        UnifiedStorage()
    monkeypatch.setenv("REDIS_URL", redis_url)
    storage = UnifiedStorage()
    assert storage.health_check()
    storage.close()


@pytest.mark.parametrize(
    "options",
    [{"timeout": 0}, {"connect_timeout": -1}, {"max_connections": 0}, {"namespace": "a:b"}],
)
def test_bad_options(redis_url: str, options: dict[str, object], storage_registry: None) -> None:
    with pytest.raises((StorageConfigurationError, InvalidKeyError)):
        UnifiedStorage(redis_url, **options)  # type: ignore[arg-type]


HOSTILE = ["*", "a:b", "proxy:evil", "line\nbreak", "", " ", "x" * 10_000, "ünï", "a b", "[ab]"]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_ids_are_rejected_and_write_nothing(
    storage: UnifiedStorage, raw: redis.Redis, namespace: str, value: str
) -> None:
    storage.initialize()
    before = sorted(namespace_keys(raw, namespace))
    for operation in (
        lambda: storage.set(value, "v"),
        lambda: storage.get(value),
        lambda: storage.incr(value),
        lambda: storage.delete(value),
        lambda: storage.get_proxy_target(value),
        lambda: storage.delete_proxy_target(value),
        lambda: storage.get_route(value),
        lambda: asyncio.run(storage.aset(value, "v")),
    ):
        with pytest.raises(InvalidKeyError) as raised:
            operation()
        assert len(str(raised.value)) < 300
    with pytest.raises(ValueError):
        ProxyTarget(hostname=value, target_url="http://x")
    with pytest.raises(ValueError):
        Route(route_id=value, path_pattern="/x", target_type="url", target_value="http://x")
    assert sorted(namespace_keys(raw, namespace)) == before


@pytest.mark.parametrize(
    ("stored", "reason"),
    [
        (b"not json", "not a valid ProxyTarget"),
        (b'{"hostname": "a.example.com"}', "target_url"),
        (b'{"hostname": "*", "target_url": "http://x"}', "hostname"),
    ],
)
def test_corrupt_proxy_records(
    storage: UnifiedStorage, raw: redis.Redis, namespace: str, stored: bytes, reason: str
) -> None:
    key = f"{namespace}:proxy:a.example.com"
    raw.set(key, stored)
    with pytest.raises(CorruptRecordError, match=reason) as raised:
        storage.get_proxy_target("a.example.com")
    assert raised.value.key == key
    with pytest.raises(CorruptRecordError):
        storage.list_proxy_targets()
    with pytest.raises(CorruptRecordError):
        asyncio.run(storage.aupdate_proxy_target("a.example.com", {"enabled": False}))
    assert raw.get(key) == stored


def test_corrupt_record_errors_do_not_echo_the_record(
    storage: UnifiedStorage, raw: redis.Redis, namespace: str
) -> None:
    raw.set(
        f"{namespace}:proxy:a.example.com",
        b'{"hostname": "a.example.com", "target_url": "http://x", '
        b'"custom_headers": {"Authorization": ["Bearer s3cr3t-token"]}}',
    )
    with pytest.raises(CorruptRecordError) as raised:
        storage.get_proxy_target("a.example.com")
    assert "s3cr3t" not in str(raised.value)
    assert "custom_headers" in str(raised.value)


def test_wrong_redis_types_and_values(
    storage: UnifiedStorage, raw: redis.Redis, namespace: str
) -> None:
    raw.hset(f"{namespace}:proxy:h.example.com", "field", "value")
    with pytest.raises(CorruptRecordError, match="WRONGTYPE"):
        storage.get_proxy_target("h.example.com")
    raw.set(f"{namespace}:kv:binary", b"\xff\xfe")
    with pytest.raises(CorruptRecordError, match="not UTF-8"):
        storage.get("binary")
    raw.set(f"{namespace}:kv:word", b"seven")
    with pytest.raises(CorruptRecordError, match="not an integer"):
        storage.incr("word")
    with pytest.raises(CorruptRecordError, match="not an integer"):
        asyncio.run(storage.aincr("word"))
    assert raw.get(f"{namespace}:kv:word") == b"seven"


def test_a_corrupt_route_index_is_reported(
    storage: UnifiedStorage, raw: redis.Redis, namespace: str
) -> None:
    storage.initialize()
    index = route_index_key(namespace)
    raw.sadd(index, "bad id*")
    with pytest.raises(CorruptRecordError, match="not a valid route id") as raised:
        storage.list_routes()
    assert raised.value.key == index
    assert raw.sismember(index, "bad id*")

"""The key schema migration: v1 data, written as the v1 storage wrote it
(`tests/storage/v1_fixture.py`), is readable through the API once a storage starts, on
every topology; the migration is idempotent, runs once when processes start together, and
finishes when run again after a process was killed in the middle of it."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from src.storage import (
    Certificate,
    CorruptRecordError,
    InvalidGrantError,
    OAuthClient,
    OAuthGrantType,
    Route,
    RouteTargetType,
    TokenCounts,
    UnifiedStorage,
)
from tests.keys_v2 import (
    client_key,
    legacy_alias_key,
    legacy_token_key,
    schema_version_key,
)
from tests.redis_topologies import namespace_keys
from tests.storage.v1_fixture import V1Grant, V1Writer

ROOT = Path(__file__).resolve().parents[2]
DIRECTORY = "https://acme-staging-v02.api.letsencrypt.org/directory"
MIGRATE = """
import logging, sys, time
from pathlib import Path
from src.storage import UnifiedStorage
logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(name)s %(message)s")
url, namespace, start = sys.argv[1:4]
storage = UnifiedStorage(url, namespace=namespace)
print("ready", flush=True)
while start and not Path(start).exists():
    time.sleep(0.001)
storage.initialize()
storage.close()
print("done", flush=True)
"""
"""A gateway process starting: its storage migrates (or waits for another's migration).
With a start file, it waits for the file before initialising, so processes start together."""


def v1_keys(raw: redis.Redis, namespace: str) -> list[bytes]:
    """The namespace's keys under a v1 family tag (`<ns>:{<family>}:...`)."""
    return [
        key for key in namespace_keys(raw, namespace) if key.startswith(f"{namespace}:{{".encode())
    ]


def contents(raw: redis.Redis, namespace: str) -> dict[bytes, object]:
    """Every key of the namespace with its value (by type) and whether it expires."""
    found: dict[bytes, object] = {}
    for key in namespace_keys(raw, namespace):
        kind = raw.type(key)
        value: object
        if kind == b"set":
            value = sorted(raw.smembers(key))
        elif kind == b"zset":
            value = raw.zrange(key, 0, -1, withscores=True)
        elif kind == b"stream":
            value = raw.xrange(key)
        else:
            value = raw.get(key)
        found[key] = (kind, value, raw.pttl(key) > 0)
    return found


def route(route_id: str = "legacy") -> Route:
    return Route(
        route_id=route_id,
        path_pattern="/legacy",
        target_type=RouteTargetType.URL,
        target_value="http://127.0.0.1:9",
    )


def pending_certificate() -> Certificate:
    return Certificate(
        cert_name="site",
        domains=["app.example.com", "*.example.com"],
        email="ops@example.com",
        acme_directory_url=DIRECTORY,
    )


class V1Data:
    """One of every v1 record, as the v1 storage wrote them."""

    def __init__(self, raw: redis.Redis, namespace: str) -> None:
        writer = V1Writer(raw, namespace)
        self.client = writer.client()
        client_id = self.client.client_id
        self.grant = writer.grant(client_id, "alice")
        self.client_token = writer.grant(client_id, None, refresh_ttl=None)
        self.rotated = writer.grant(client_id, "bob")
        writer.used_refresh_token(self.rotated)
        writer.registrations("192.0.2.1", 3)
        self.alice_session = writer.session("alice")
        self.anonymous_session = writer.session(None, events=0)
        self.route = route()
        writer.route(self.route)
        writer.port("web", 30000)
        writer.certificate(pending_certificate())


def check_readable(storage: UnifiedStorage, data: V1Data) -> None:
    """Every record of `data` through the API, as v1 served it; then the v1 tokens rotate
    and are revoked as v2 tokens are."""
    client_id = data.client.client_id
    client = storage.get_oauth_client(client_id)
    assert client is not None and client.name == "v1-client"
    assert storage.verify_client_secret(client_id, data.client.secret) == client
    assert client in storage.list_oauth_clients()  # SCAN, of every primary on a Cluster
    grant = data.grant
    access = storage.get_access_token(grant.access_token)
    assert access is not None and (access.family_id, access.user) == (grant.family_id, "alice")
    assert storage.get_access_token(data.client_token.access_token) is not None
    assert storage.get_access_token(data.rotated.access_token) is not None
    assert grant.refresh_token is not None
    refresh = storage.introspect_token(grant.refresh_token)
    assert refresh is not None and refresh.kind == "refresh"
    assert [t.kind for t in storage.list_user_tokens("alice")] == ["access", "refresh"]
    # The used refresh token is in no index, as under v1.
    assert storage.count_client_tokens(client_id) == TokenCounts(access=3, refresh=1)
    assert storage.count_registration_attempt("192.0.2.1", 60).count == 4

    session = storage.get_mcp_session(data.alice_session)
    assert session is not None and session.user == "alice"
    assert [e.message["params"] for e in storage.read_mcp_events(data.alice_session)] == [
        {"n": 0},
        {"n": 1},
    ]
    assert {s.session_id for s in storage.list_mcp_sessions()} == {
        data.alice_session,
        data.anonymous_session,
    }
    assert [s.session_id for s in storage.list_mcp_sessions("alice")] == [data.alice_session]
    assert storage.get_route("legacy") == data.route
    assert "legacy" in {r.route_id for r in storage.list_routes()}
    assert storage.get_port_owner(30000) == "web"
    assert storage.list_ports("web") == [30000]
    assert storage.allocate_port("api", 30000, 30001) == 30001
    certificate = storage.get_certificate_for_domain("www.example.com")
    assert certificate is not None and certificate.cert_name == "site"

    # A v1 refresh token rotates into a v2 pair of the same grant ...
    rotated = storage.rotate_refresh_token(grant.refresh_token, client_id, 60, 600)
    assert rotated.access_token.startswith(f"{grant.family_id}.")
    assert storage.get_access_token(rotated.access_token) is not None
    # ... once: a second use revokes the grant, v1 and v2 tokens alike.
    with pytest.raises(InvalidGrantError, match="already used"):
        storage.rotate_refresh_token(grant.refresh_token, client_id, 60, 600)
    assert storage.get_access_token(rotated.access_token) is None
    assert storage.get_access_token(grant.access_token) is None
    # A refresh token v1 had marked used is a reuse too.
    assert data.rotated.refresh_token is not None
    with pytest.raises(InvalidGrantError, match="already used"):
        storage.rotate_refresh_token(data.rotated.refresh_token, client_id, 60, 600)
    assert storage.get_access_token(data.rotated.access_token) is None
    # Deleting the client takes its remaining v1 token with it.
    assert storage.delete_oauth_client(client_id) is True
    assert storage.get_access_token(data.client_token.access_token) is None


def test_v1_data_is_read_through_the_api_after_the_migration(
    storage: UnifiedStorage, raw: redis.Redis, namespace: str
) -> None:
    data = V1Data(raw, namespace)
    storage.initialize()
    assert v1_keys(raw, namespace) == []
    assert raw.get(schema_version_key(namespace)) == b"2"
    # A v1 token finds its grant through an alias that expires with it.
    alias = legacy_alias_key(namespace, data.grant.access_token)
    assert raw.get(alias) == data.grant.family_id.encode()
    token = legacy_token_key(namespace, data.grant.family_id, "access", data.grant.access_token)
    assert abs(raw.pttl(alias) - raw.pttl(token)) < 1000
    check_readable(storage, data)


async def test_the_async_twin_migrates_too(
    storage: UnifiedStorage, raw: redis.Redis, namespace: str
) -> None:
    data = V1Data(raw, namespace)
    await storage.ainitialize()
    assert v1_keys(raw, namespace) == []
    record = await storage.aget_access_token(data.grant.access_token)
    assert record is not None and record.family_id == data.grant.family_id


def test_the_migration_is_idempotent(
    storage: UnifiedStorage, raw: redis.Redis, namespace: str
) -> None:
    data = V1Data(raw, namespace)
    storage.initialize()
    migrated = contents(raw, namespace)
    # Run again from the start (the version key gone), over the migrated data.
    raw.delete(schema_version_key(namespace))
    storage.initialize()
    assert contents(raw, namespace) == migrated
    check_readable(storage, data)


def test_a_v2_record_is_never_overwritten(
    storage: UnifiedStorage, raw: redis.Redis, namespace: str
) -> None:
    writer = V1Writer(raw, namespace)
    client = writer.client(name="old")
    newer = OAuthClient(
        client_id=client.client_id,
        name="newer",
        secret_hash="0" * 64,
        grant_types=[OAuthGrantType.REFRESH_TOKEN],
    )
    raw.set(client_key(namespace, client.client_id), newer.model_dump_json())
    storage.initialize()
    assert storage.get_oauth_client(client.client_id) == newer
    assert v1_keys(raw, namespace) == []


def test_unreadable_v1_records_are_moved_as_they_are_or_left_and_reported(
    storage: UnifiedStorage,
    raw: redis.Redis,
    namespace: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    writer = V1Writer(raw, namespace)
    good = writer.grant(writer.client().client_id, "alice")
    # A client record that is not JSON moves as it is: v2 reports it, as v1 did.
    raw.set(writer.key("oauth", "client:broken"), b"{not json")
    # A token record without a readable family id cannot find its grant: it stays.
    lost = writer.key("oauth", "access:" + "0" * 64)
    raw.set(lost, b"{not json", px=60_000)
    strange = writer.key("oauth", "mystery:1")
    raw.set(strange, b"?")
    storage.initialize()
    with pytest.raises(CorruptRecordError, match="client:broken"):
        storage.get_oauth_client("broken")
    assert sorted(v1_keys(raw, namespace)) == sorted([lost.encode(), strange.encode()])
    assert raw.get(lost) == b"{not json"
    assert f"{lost} left under its v1 name" in caplog.text
    assert f"{strange} left under its v1 name" in caplog.text
    assert storage.get_access_token(good.access_token) is not None


def start_gateway(url: str, namespace: str, start: Path | None) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", MIGRATE, url, namespace, str(start or "")],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert process.stdout is not None
    assert process.stdout.readline() == "ready\n"
    return process


def many_grants(raw: redis.Redis, namespace: str, count: int) -> list[V1Grant]:
    writer = V1Writer(raw, namespace)
    client_id = writer.client().client_id
    return [writer.grant(client_id, f"user-{number % 7}") for number in range(count)]


def test_two_processes_starting_together_migrate_once(
    storage: UnifiedStorage, raw: redis.Redis, namespace: str, tmp_path: Path, redis_url: str
) -> None:
    data = V1Data(raw, namespace)
    grants = many_grants(raw, namespace, 100)
    start = tmp_path / "start"
    gateways = [start_gateway(redis_url, namespace, start) for _ in range(2)]
    start.touch()
    outputs = [gateway.communicate(timeout=120)[0] for gateway in gateways]
    assert [gateway.returncode for gateway in gateways] == [0, 0], outputs
    # One migrated; the other waited for it, and found the version key.
    assert sorted("v1 keys moved" in output for output in outputs) == [False, True], outputs
    assert v1_keys(raw, namespace) == []
    for grant in grants:
        assert storage.get_access_token(grant.access_token) is not None
    check_readable(storage, data)


def test_a_migration_killed_halfway_finishes_when_run_again(
    storage: UnifiedStorage, raw: redis.Redis, namespace: str, redis_url: str
) -> None:
    data = V1Data(raw, namespace)
    grants = many_grants(raw, namespace, 300)
    gateway = start_gateway(redis_url, namespace, None)
    deadline = time.monotonic() + 60
    # Killed once some tokens moved (their aliases exist).
    while next(raw.scan_iter(match=f"{{{namespace}:token:*", count=1000), None) is None:
        assert gateway.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    gateway.send_signal(signal.SIGKILL)
    gateway.communicate()
    # A real partial state: some keys moved, others not, no version.
    assert raw.get(schema_version_key(namespace)) is None
    assert v1_keys(raw, namespace) != []
    storage.initialize()  # waits for the dead process's lock to expire, then migrates
    assert v1_keys(raw, namespace) == []
    assert raw.get(schema_version_key(namespace)) == b"2"
    for grant in grants:
        assert storage.get_access_token(grant.access_token) is not None
    check_readable(storage, data)

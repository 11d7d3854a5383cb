"""Port allocations, through the blocking API and through its async twins."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import redis
from redis.crc import key_slot

from src.storage import CorruptRecordError, InvalidKeyError, NoFreePortError
from tests.keys_v2 import port_key, service_ports_key
from tests.redis_topologies import namespace_keys

Call = Callable[..., Any]

HOSTILE_SERVICES = ["*", ":", "web:1", "web\n", "a\nb", "", "x" * 10_000, "{ports}", "web*"]
HOSTILE_PORTS: list[object] = [0, -1, 65536, 10**30, True, False, 80.0, "80", None]


def snapshot(raw: redis.Redis, namespace: str) -> dict[bytes, object]:
    """Every key of the namespace with its value, to prove that nothing was written."""
    found: dict[bytes, object] = {}
    for key in namespace_keys(raw, namespace):
        kind = raw.type(key)
        found[key] = raw.smembers(key) if kind == b"set" else raw.get(key)
    return found


def test_allocates_the_lowest_free_port(call: Call) -> None:
    assert call("allocate_port", "web", 30000, 30004) == 30000
    assert call("allocate_port", "web", 30000, 30004) == 30001
    assert call("allocate_port", "api", 30000, 30004) == 30002
    assert call("get_port_owner", 30000) == "web"
    assert call("get_port_owner", 30002) == "api"
    assert call("get_port_owner", 30003) is None
    assert call("list_ports", "web") == [30000, 30001]
    assert call("list_ports", "api") == [30002]
    assert call("list_ports", "nobody") == []


def test_release_and_reuse(call: Call) -> None:
    for _ in range(3):
        call("allocate_port", "web", 30000, 30009)
    assert call("release_port", 30001) is True
    assert call("release_port", 30001) is False
    assert call("get_port_owner", 30001) is None
    assert call("list_ports", "web") == [30000, 30002]
    assert call("allocate_port", "api", 30000, 30009) == 30001
    assert call("allocate_port", "api", 30000, 30009) == 30003
    assert call("release_port", 40000) is False


def test_ranges_are_independent_of_other_allocations(call: Call) -> None:
    assert call("allocate_port", "web", 30005, 30005) == 30005
    assert call("allocate_port", "web", 30000, 30009) == 30000
    assert call("allocate_port", "web", 30004, 30009) == 30004
    assert call("allocate_port", "web", 30004, 30009) == 30006


def test_exhausted_range(call: Call, raw: redis.Redis, namespace: str) -> None:
    assert call("allocate_port", "web", 30000, 30001) == 30000
    assert call("allocate_port", "api", 30000, 30001) == 30001
    before = snapshot(raw, namespace)
    with pytest.raises(NoFreePortError, match="30000-30001") as caught:
        call("allocate_port", "db", 30000, 30001)
    assert (caught.value.service, caught.value.start, caught.value.end) == ("db", 30000, 30001)
    assert snapshot(raw, namespace) == before
    assert call("list_ports", "db") == []


def test_large_range_spans_several_claim_batches(
    call: Call, raw: redis.Redis, namespace: str
) -> None:
    for port in range(20000, 20700):
        raw.set(port_key(namespace, port), "squatter")
    assert call("allocate_port", "web", 20000, 21000) == 20700
    with pytest.raises(NoFreePortError):
        call("allocate_port", "web", 20000, 20699)


def test_release_service_ports(call: Call) -> None:
    web = [call("allocate_port", "web", 30000, 30009) for _ in range(3)]
    api = call("allocate_port", "api", 30000, 30009)
    assert call("release_service_ports", "web") == web
    assert call("list_ports", "web") == []
    assert all(call("get_port_owner", port) is None for port in web)
    assert call("get_port_owner", api) == "api"
    assert call("release_service_ports", "web") == []
    assert call("allocate_port", "db", 30000, 30009) == web[0]


def test_list_port_services(call: Call, raw: redis.Redis, namespace: str) -> None:
    assert call("list_port_services") == []
    call("allocate_port", "web", 30000, 30009)
    call("allocate_port", "api", 30000, 30009)
    call("allocate_port", "web", 30000, 30009)
    # The same key shape one namespace down is another storage's, not this one's.
    raw.sadd(f"{{{namespace}:nested:ports}}:service:db", "30005")
    assert call("list_port_services") == ["api", "web"]
    call("release_port", 30001)
    assert call("list_port_services") == ["web"]
    call("release_service_ports", "web")
    assert call("list_port_services") == []


@pytest.mark.parametrize("suffix", ["bad name", "web:1", "", "-web"])
def test_list_port_services_reports_a_corrupt_key(
    call: Call, raw: redis.Redis, namespace: str, suffix: str
) -> None:
    call("allocate_port", "web", 30000, 30009)
    raw.sadd(service_ports_key(namespace, suffix), "30005")
    before = snapshot(raw, namespace)
    with pytest.raises(CorruptRecordError, match="does not end in a valid service name"):
        call("list_port_services")
    assert snapshot(raw, namespace) == before


def test_key_schema_shares_one_cluster_slot(call: Call, raw: redis.Redis, namespace: str) -> None:
    call("allocate_port", "web", 30000, 30009)
    port = port_key(namespace, 30000)
    service = service_ports_key(namespace, "web")
    assert raw.get(port) == b"web"
    assert raw.smembers(service) == {b"30000"}
    assert key_slot(port.encode()) == key_slot(service.encode())


@pytest.mark.parametrize("service", HOSTILE_SERVICES)
def test_hostile_service_names_are_rejected(
    call: Call, raw: redis.Redis, namespace: str, service: str
) -> None:
    call("initialize")
    before = snapshot(raw, namespace)
    for method, args in [
        ("allocate_port", (service, 30000, 30009)),
        ("list_ports", (service,)),
        ("release_service_ports", (service,)),
    ]:
        with pytest.raises(InvalidKeyError, match="invalid service name"):
            call(method, *args)
    assert snapshot(raw, namespace) == before


@pytest.mark.parametrize("port", HOSTILE_PORTS, ids=repr)
def test_hostile_ports_are_rejected(
    call: Call, raw: redis.Redis, namespace: str, port: object
) -> None:
    call("initialize")
    before = snapshot(raw, namespace)
    for method, args in [
        ("allocate_port", ("web", port, 30000)),
        ("allocate_port", ("web", 1, port)),
        ("release_port", (port,)),
        ("get_port_owner", (port,)),
    ]:
        with pytest.raises(InvalidKeyError, match="invalid port"):
            call(method, *args)
    assert snapshot(raw, namespace) == before


def test_empty_range_is_rejected(call: Call, raw: redis.Redis, namespace: str) -> None:
    call("initialize")
    before = snapshot(raw, namespace)
    with pytest.raises(ValueError, match="start must not exceed end"):
        call("allocate_port", "web", 30001, 30000)
    assert snapshot(raw, namespace) == before


def test_whole_port_range_bounds(call: Call) -> None:
    assert call("allocate_port", "web", 1, 1) == 1
    assert call("allocate_port", "web", 65535, 65535) == 65535
    assert call("list_ports", "web") == [1, 65535]


def test_corrupt_records_are_reported(call: Call, raw: redis.Redis, namespace: str) -> None:
    raw.set(port_key(namespace, 30000), "not a service!")
    with pytest.raises(CorruptRecordError, match="owner is not a valid service name"):
        call("release_port", 30000)
    raw.sadd(service_ports_key(namespace, "web"), "http")
    with pytest.raises(CorruptRecordError, match="not a port number"):
        call("list_ports", "web")

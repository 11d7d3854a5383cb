"""Who a proxy target admits (`allowed_users`, `required_scopes`): stored and read back on
every topology, validated, and absent from records written before they existed."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import redis

from src.storage import ProxyTarget

Call = Callable[..., Any]


def test_admission_fields_round_trip(call: Call) -> None:
    target = ProxyTarget(
        hostname="mcp.example.com",
        target_url="http://127.0.0.1:9",
        auth_enabled=True,
        allowed_users=["alice", "bob"],
        required_scopes=["write", "read", "read"],
    )
    call("store_proxy_target", target)
    stored = call("get_proxy_target", "mcp.example.com")
    assert stored.allowed_users == ["alice", "bob"]
    assert stored.required_scopes == ["read", "write"]  # normalised: sorted, no repeats
    changed = call("update_proxy_target", "mcp.example.com", {"allowed_users": None})
    assert changed.allowed_users is None


def test_a_record_from_before_admits_everyone(call: Call, raw: redis.Redis, namespace: str) -> None:
    old = {"hostname": "old.example.com", "target_url": "http://127.0.0.1:9", "auth_enabled": True}
    raw.set(f"{namespace}:proxy:old.example.com", json.dumps(old))
    stored = call("get_proxy_target", "old.example.com")
    assert (stored.allowed_users, stored.required_scopes) == (None, [])


@pytest.mark.parametrize(
    "fields",
    [
        {"allowed_users": ["al ice"]},
        {"allowed_users": [""]},
        {"required_scopes": ['a"b']},
        {"required_scopes": ["a b"]},
    ],
)
def test_bad_admission_fields_are_refused(fields: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        ProxyTarget(hostname="x.example.com", target_url="http://127.0.0.1:9", **fields)

"""Device authorizations (RFC 8628), through the blocking API and its async twins, on every
topology."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis

from src.storage import DeviceGrantError, OAuthGrantType, UnifiedStorage

Call = Callable[..., Any]


@pytest.fixture
def client_id(storage: UnifiedStorage) -> str:
    return storage.register_public_oauth_client("tv", [OAuthGrantType.DEVICE_CODE]).client_id


def poll_error(call: Call, device_code: str, client_id: str) -> str:
    with pytest.raises(DeviceGrantError) as refused:
        call("poll_device_code", device_code, client_id, 60, 600)
    assert not device_code or device_code not in str(refused.value)
    return refused.value.error


def test_approved_once_then_used_up(
    call: Call, client_id: str, raw: redis.Redis, namespace: str
) -> None:
    device_code, record = call(
        "start_device_authorization", client_id, "read", ("https://mcp.example/", "mcp.example"),
        60, 0.05,
    )  # fmt: skip
    key = f"{{{namespace}:device:{hashlib.sha256(device_code.encode()).hexdigest()}}}:record"
    assert raw.get(key) is not None and 0 < raw.pttl(key) <= 60_000
    assert len(record.user_code) == 8 and record.pending
    assert poll_error(call, device_code, client_id) == "authorization_pending"
    assert poll_error(call, device_code, client_id) == "slow_down"  # within the interval
    shown = f"{record.user_code[:4]}-{record.user_code[4:]}".lower()
    assert call("get_device_authorization", shown) == record
    assert call("decide_device_authorization", shown, "alice") is True
    assert call("decide_device_authorization", record.user_code, None) is False  # decided
    time.sleep(0.06)
    issued = call("poll_device_code", device_code, client_id, 60, 600)
    assert (issued.access.user, issued.access.scope, issued.access.audience) == (
        "alice",
        "read",
        "mcp.example",
    )
    assert issued.refresh_token is not None
    time.sleep(0.06)
    assert poll_error(call, device_code, client_id) == "expired_token"
    assert call("get_device_authorization", record.user_code) is None


def test_denied_expired_and_foreign(call: Call, client_id: str, storage: UnifiedStorage) -> None:
    device_code, record = call("start_device_authorization", client_id, "", (None, None), 60, 0.01)
    call("decide_device_authorization", record.user_code, None)
    assert poll_error(call, device_code, client_id) == "access_denied"

    other = storage.register_public_oauth_client("other", [OAuthGrantType.DEVICE_CODE])
    device_code, _ = call("start_device_authorization", client_id, "", (None, None), 0.1, 0.01)
    assert poll_error(call, device_code, other.client_id) == "invalid_grant"
    time.sleep(0.15)
    assert poll_error(call, device_code, client_id) == "expired_token"
    for hostile in ["", "x" * 10_000, "a b"]:
        assert poll_error(call, hostile, client_id) in ("invalid_grant", "expired_token")
    for code in ["", "AAAA-AAAA", "*", "x" * 1000]:
        assert call("get_device_authorization", code) is None
        assert call("decide_device_authorization", code, "alice") is False

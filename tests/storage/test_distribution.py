"""Key schema v2 spreads OAuth grants and MCP sessions over a Redis Cluster's primaries
(v1 put every token, and every session, in one slot)."""

from __future__ import annotations

from collections import Counter

import pytest
import redis
from redis.crc import key_slot

from src.storage import McpClientInfo, OAuthGrantType, UnifiedStorage
from tests.keys_v2 import session_key, token_key

COUNT = 1000


def primary_of(raw: redis.Redis, key: str) -> str:
    """The primary serving `key`'s slot on the run's own cluster, with the slot Redis itself
    computes (CLUSTER KEYSLOT) checked against the client's."""
    slot = raw.execute_command("CLUSTER KEYSLOT", key)
    assert slot == key_slot(key.encode())
    node = raw.get_node_from_key(key)  # type: ignore[attr-defined]
    return f"{node.host}:{node.port}"


@pytest.mark.topologies("cluster")
def test_tokens_and_sessions_spread_over_the_primaries(
    storage: UnifiedStorage, raw: redis.Redis, namespace: str
) -> None:
    grants = [OAuthGrantType.REFRESH_TOKEN]
    client_id = storage.register_oauth_client("spread", grants).client.client_id
    tokens: Counter[str] = Counter()
    for number in range(COUNT // 2):
        issued = storage.issue_token_pair(client_id, f"user-{number}", "", 60, 600)
        assert issued.refresh_token is not None
        for kind, token in (("access", issued.access_token), ("refresh", issued.refresh_token)):
            key = token_key(namespace, kind, token)
            assert raw.exists(key)
            tokens[primary_of(raw, key)] += 1
    sessions: Counter[str] = Counter()
    client = McpClientInfo(name="spread", version="1")
    for _ in range(COUNT):
        session = storage.create_mcp_session(
            user=None, client=client, protocol_version="2025-06-18", ttl=60
        )
        key = session_key(namespace, session.session_id)
        assert raw.exists(key)
        sessions[primary_of(raw, key)] += 1
    print(f"\n{COUNT} tokens per primary: {dict(tokens)}; {COUNT} sessions: {dict(sessions)}")
    for counts in (tokens, sessions):
        assert sum(counts.values()) == COUNT
        assert len(counts) >= 2
        # Random ids over three equal slot ranges: about a third each, far above a fifth.
        assert min(counts.values()) > COUNT / 5

"""Data as the key schema v1 wrote it, to test the migration to v2 on real v1 layouts.

Copied from the storage as it was before v2 (commit ad8b39d): every tagged family sat
after the namespace, one hash tag per family (`<ns>:{oauth}:...`, `<ns>:{mcp}:...`,
`<ns>:{routes}:...`, `<ns>:{ports}:...`, `<ns>:{certs}:...`), tokens were plain
`secrets.token_urlsafe(32)` strings, and the token indexes' members were
`access:<sha256>` / `refresh:<sha256>`. Records are the same JSON in both schemas, so the
public models encode them. Writes go through plain redis-py commands, one key at a time
(all keys of a v1 family share a slot, so a Cluster client takes them too).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import redis

from src.storage import (
    AccessTokenRecord,
    Certificate,
    McpClientInfo,
    McpSession,
    OAuthClient,
    OAuthGrantType,
    RefreshTokenRecord,
    Route,
)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


@dataclass(frozen=True)
class V1Client:
    client_id: str
    secret: str


@dataclass(frozen=True)
class V1Grant:
    client_id: str
    user: str | None
    family_id: str
    access_token: str
    refresh_token: str | None


class V1Writer:
    """Writes v1 records under `namespace` as the v1 storage did."""

    def __init__(self, raw: redis.Redis, namespace: str) -> None:
        self.raw = raw
        self.prefix = f"{namespace}:" if namespace else ""

    def key(self, family: str, rest: str) -> str:
        """A v1 key: `<ns>:{<family>}:<rest>`."""
        return f"{self.prefix}{{{family}}}:{rest}"

    def client(self, name: str = "v1-client") -> V1Client:
        secret = secrets.token_urlsafe(32)
        client = OAuthClient(
            client_id=secrets.token_hex(16),
            name=name,
            secret_hash=_sha(secret),
            grant_types=[OAuthGrantType.REFRESH_TOKEN, OAuthGrantType.CLIENT_CREDENTIALS],
            scope="read write",
        )
        self.raw.set(self.key("oauth", f"client:{client.client_id}"), client.model_dump_json())
        return V1Client(client.client_id, secret)

    def _store_token(
        self,
        client_id: str,
        user: str | None,
        family_id: str,
        member: str,
        record: str,
        ttl_ms: int,
        expiry_ms: int,
    ) -> None:
        raw = self.raw
        raw.set(self.key("oauth", member), record, px=ttl_ms)
        family = self.key("oauth", f"family:{family_id}")
        raw.sadd(family, member)
        if raw.pttl(family) < ttl_ms:
            raw.pexpire(family, ttl_ms)
        indexes = [self.key("oauth", f"client-tokens:{client_id}")]
        if user is not None:
            indexes.append(self.key("oauth", f"user-tokens:{_sha(user)}"))
        for index in indexes:
            raw.zadd(index, {member: expiry_ms})
            if raw.pttl(index) < ttl_ms:
                raw.pexpire(index, ttl_ms)

    def grant(
        self,
        client_id: str,
        user: str | None,
        scope: str = "read",
        access_ttl: float = 600,
        refresh_ttl: float | None = 3600,
    ) -> V1Grant:
        """Issue a grant as v1's `_ISSUE` script stored it."""
        now = datetime.now(UTC)
        family_id = secrets.token_hex(16)
        fields = {
            "client_id": client_id,
            "user": user,
            "scope": scope,
            "family_id": family_id,
            "issued_at": now,
        }
        access_token = secrets.token_urlsafe(32)
        access_ms = round(access_ttl * 1000)
        access = AccessTokenRecord.model_validate(
            {**fields, "expires_at": now + timedelta(milliseconds=access_ms)}
        )
        self._store_token(
            client_id, user, family_id, f"access:{_sha(access_token)}",
            access.model_dump_json(), access_ms, _ms(access.expires_at),
        )  # fmt: skip
        refresh_token = None
        if refresh_ttl is not None:
            refresh_token = secrets.token_urlsafe(32)
            refresh_ms = round(refresh_ttl * 1000)
            refresh = RefreshTokenRecord.model_validate(
                {**fields, "expires_at": now + timedelta(milliseconds=refresh_ms)}
            )
            self._store_token(
                client_id, user, family_id, f"refresh:{_sha(refresh_token)}",
                refresh.model_dump_json(), refresh_ms, _ms(refresh.expires_at),
            )  # fmt: skip
        return V1Grant(client_id, user, family_id, access_token, refresh_token)

    def used_refresh_token(self, grant: V1Grant) -> None:
        """Mark the grant's refresh token used, as v1's `_ROTATE` did (kept, out of the
        indexes)."""
        assert grant.refresh_token is not None
        member = f"refresh:{_sha(grant.refresh_token)}"
        key = self.key("oauth", member)
        record = json.loads(self.raw.get(key) or b"null")
        record["used_at"] = datetime.now(UTC).isoformat()
        self.raw.set(key, json.dumps(record), keepttl=True)
        self.raw.zrem(self.key("oauth", f"client-tokens:{grant.client_id}"), member)
        if grant.user is not None:
            self.raw.zrem(self.key("oauth", f"user-tokens:{_sha(grant.user)}"), member)

    def registrations(self, address: str, count: int, window_ms: int = 60_000) -> None:
        key = self.key("oauth", f"registrations:{_sha(address)}")
        self.raw.set(key, count, px=window_ms)

    def session(self, user: str | None, ttl_ms: int = 600_000, events: int = 2) -> str:
        """Open a session as v1's `create_mcp_session` did, with `events` events."""
        session = McpSession(
            session_id=secrets.token_urlsafe(32),
            user=user,
            client=McpClientInfo(name="v1", version="1.0"),
            protocol_version="2025-06-18",
        )
        sid = session.session_id
        self.raw.set(self.key("mcp", f"session:{sid}"), session.model_dump_json(), px=ttl_ms)
        self.raw.sadd(self.key("mcp", "sessions"), sid)
        if user is not None:
            self.raw.sadd(self.key("mcp", f"user:{user}"), sid)
        stream = self.key("mcp", f"events:{sid}")
        for number in range(events):
            message = json.dumps({"jsonrpc": "2.0", "method": "note", "params": {"n": number}})
            self.raw.xadd(stream, {"message": message}, maxlen=100)
        if events:
            self.raw.pexpire(stream, ttl_ms)
        return sid

    def route(self, route: Route) -> None:
        self.raw.set(self.key("routes", f"route:{route.route_id}"), route.model_dump_json())
        self.raw.sadd(self.key("routes", "index"), route.route_id)

    def port(self, service: str, port: int) -> None:
        self.raw.set(self.key("ports", f"port:{port}"), service)
        self.raw.sadd(self.key("ports", f"service:{service}"), port)

    def certificate(self, certificate: Certificate) -> None:
        """Store a certificate without secrets (a pending one) with its domain claims."""
        name = certificate.cert_name
        self.raw.set(self.key("certs", f"cert:{name}"), certificate.model_dump_json())
        for domain in certificate.domains:
            part = f"_wildcard.{domain[2:]}" if domain.startswith("*.") else domain
            self.raw.set(self.key("certs", f"domain:{part}"), name)

"""The Redis keys of key schema v2, spelled out by hand for tests that look behind the
storage's back (`src/storage/README.md` documents them). Written independently of
`src.storage`, so a key the storage renames breaks these tests."""

from __future__ import annotations

import hashlib


def _tag(namespace: str, inside: str) -> str:
    return f"{{{namespace}:{inside}}}" if namespace else f"{{{inside}}}"


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def route_key(namespace: str, route_id: str) -> str:
    return f"{_tag(namespace, 'routes')}:route:{route_id}"


def route_index_key(namespace: str) -> str:
    return f"{_tag(namespace, 'routes')}:index"


def port_key(namespace: str, port: int | str) -> str:
    return f"{_tag(namespace, 'ports')}:port:{port}"


def service_ports_key(namespace: str, service: str) -> str:
    return f"{_tag(namespace, 'ports')}:service:{service}"


def cert_key(namespace: str, name: str) -> str:
    return f"{_tag(namespace, 'certs')}:cert:{name}"


def domain_key(namespace: str, part: str) -> str:
    return f"{_tag(namespace, 'certs')}:domain:{part}"


def session_key(namespace: str, session_id: str) -> str:
    return f"{_tag(namespace, f'mcp:{session_id}')}:session"


def events_key(namespace: str, session_id: str) -> str:
    return f"{_tag(namespace, f'mcp:{session_id}')}:events"


def sessions_index_key(namespace: str, user: str | None = None) -> str:
    """The index of every session, or of `user`'s."""
    if user is None:
        return f"{_tag(namespace, 'mcp-sessions')}:index"
    return f"{_tag(namespace, f'mcp-user:{user}')}:sessions"


def client_key(namespace: str, client_id: str) -> str:
    return f"{_tag(namespace, f'client:{client_id}')}:record"


def client_index_key(namespace: str, client_id: str) -> str:
    return f"{_tag(namespace, f'client:{client_id}')}:tokens"


def user_index_key(namespace: str, user: str) -> str:
    return f"{_tag(namespace, f'user-tokens:{_sha(user)}')}:tokens"


def family_key(namespace: str, family_id: str) -> str:
    return f"{_tag(namespace, f'grant:{family_id}')}:members"


def token_key(namespace: str, kind: str, token: str) -> str:
    """The key of an access or refresh token issued under v2 (`<family id>.<random>`)."""
    family_id = token.split(".", 1)[0]
    return f"{_tag(namespace, f'grant:{family_id}')}:{kind}:{_sha(token)}"


def legacy_token_key(namespace: str, family_id: str, kind: str, token: str) -> str:
    """The key of a token issued under v1 (no family id in it), once migrated."""
    return f"{_tag(namespace, f'grant:{family_id}')}:{kind}:{_sha(token)}"


def legacy_alias_key(namespace: str, token: str) -> str:
    return f"{_tag(namespace, f'token:{_sha(token)}')}:grant"


def registrations_key(namespace: str, address: str) -> str:
    return f"{_tag(namespace, f'registrations:{_sha(address)}')}:count"


def schema_version_key(namespace: str) -> str:
    return f"{namespace}:schema-version" if namespace else "schema-version"

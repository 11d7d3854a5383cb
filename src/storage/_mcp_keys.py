"""The keys of MCP sessions, their streams and their indexes (key schema v2), without I/O.

`_mcp` documents the schema; the schema migration builds the same keys from v1 data.
"""

from __future__ import annotations

from ._keys import KeySchema, validate_identifier
from ._mcp_models import validate_session_id


def session_key(keys: KeySchema, session_id: str) -> str:
    """The key of a session record."""
    return f"{keys.entity_tag('mcp', validate_session_id(session_id))}:session"


def events_key(keys: KeySchema, session_id: str) -> str:
    """The key of a session's event stream."""
    return f"{keys.entity_tag('mcp', validate_session_id(session_id))}:events"


def sessions_index_key(keys: KeySchema) -> str:
    """The key of the set of every session id."""
    return f"{keys.family_tagged('mcp-sessions')}:index"


def user_index_key(keys: KeySchema, user: str) -> str:
    """The key of the set of a user's session ids."""
    return f"{keys.tagged('mcp-user', validate_identifier(user, 'user name'))}:sessions"


def user_index_pattern(keys: KeySchema) -> str:
    """The SCAN pattern that matches every user's index."""
    return f"{keys.tagged_pattern('mcp-user')}:sessions"

"""The MCP records: sessions, the client that opened them, and the events of their streams.

Session ids are credentials (whoever presents one speaks in that session), so they are
generated here from 32 random bytes, checked against that exact shape on every lookup, and
never repeated in an error message.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ._errors import InvalidKeyError
from ._keys import validate_identifier

_SESSION_ID_BYTES = 32
# `secrets.token_urlsafe(32)`: 32 bytes in unpadded URL-safe base64 are 43 characters.
_SESSION_ID = re.compile(r"[A-Za-z0-9_-]{43}")
_EVENT_ID = re.compile(r"[0-9]{1,20}-[0-9]{1,20}")
_MAX_INFO_LENGTH = 256


def new_session_id() -> str:
    """A fresh, unguessable session id."""
    return secrets.token_urlsafe(_SESSION_ID_BYTES)


def validate_session_id(session_id: object) -> str:
    """Return `session_id` if it has the shape of a generated one, else raise
    `InvalidKeyError`. The value is not shown: it may be a real id with a typo."""
    if not isinstance(session_id, str) or not _SESSION_ID.fullmatch(session_id):
        raise InvalidKeyError(
            "invalid MCP session id: expected 43 URL-safe base64 characters "
            "(A-Z, a-z, 0-9, '-', '_')"
        )
    return session_id


def validate_event_id(event_id: object) -> str:
    """Return `event_id` if it is a Redis stream id (`<ms>-<seq>`), else raise `ValueError`."""
    if not isinstance(event_id, str) or not _EVENT_ID.fullmatch(event_id):
        raise ValueError(
            f"invalid MCP event id {event_id!r:.40}: expected '<milliseconds>-<sequence>'"
        )
    return event_id


def _now() -> datetime:
    return datetime.now(UTC)


class McpClientInfo(BaseModel):
    """The client that opened a session, as its `initialize` request named it.

    Other fields a client sends (`title`, `websiteUrl`, ...) are dropped, not refused.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    name: str = Field(min_length=1, max_length=_MAX_INFO_LENGTH)
    version: str = Field(min_length=1, max_length=_MAX_INFO_LENGTH)


class McpSession(BaseModel):
    """One MCP session: who opened it, with which client and protocol version, and when."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    session_id: str
    user: str | None = None
    """The authenticated user the session belongs to; `None` without a user."""
    oauth_client_id: str | None = None
    """The OAuth client whose token opened the session; `None` for an anonymous session
    (and for the sessions stored before this field existed)."""
    client: McpClientInfo
    protocol_version: str = Field(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
    created_at: datetime = Field(default_factory=_now)
    last_seen_at: datetime = Field(default_factory=_now)

    @field_validator("session_id")
    @classmethod
    def _valid_session_id(cls, value: str) -> str:
        return validate_session_id(value)

    @field_validator("user")
    @classmethod
    def _valid_user(cls, value: str | None) -> str | None:
        return None if value is None else validate_identifier(value, "user name")

    @field_validator("oauth_client_id")
    @classmethod
    def _valid_oauth_client_id(cls, value: str | None) -> str | None:
        return None if value is None else validate_identifier(value, "client id")


class McpEvent(BaseModel):
    """One event of a session's stream: a JSON-RPC message and the id to resume after."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: str
    message: dict[str, Any]

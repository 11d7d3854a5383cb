"""`SessionManager`: opens, checks, renews and ends MCP sessions."""

from __future__ import annotations

from datetime import timedelta

from ....storage import InvalidKeyError, McpClientInfo, McpSession, UnifiedStorage
from ...identity import TokenIdentity

DEFAULT_SESSION_TTL = timedelta(hours=1)


class SessionManager:
    """MCP sessions on the shared storage. A session expires `ttl` after its last use.

    A session belongs to the identity that opened it: the pair of its OAuth client and user
    (no user for a client acting for itself). Presented by any other pair, even the same
    client for another user or for no user, it is treated as unknown, so a leaked id cannot
    be used by anyone else.
    """

    def __init__(self, storage: UnifiedStorage, ttl: timedelta = DEFAULT_SESSION_TTL) -> None:
        if ttl <= timedelta(0):
            raise ValueError(f"the session TTL must be positive, got {ttl}")
        self._storage = storage
        self.ttl = ttl

    async def create(
        self, owner: TokenIdentity, client: McpClientInfo, protocol_version: str
    ) -> McpSession:
        """Open a session for `owner` under a fresh random id."""
        return await self._storage.acreate_mcp_session(
            user=owner.user,
            oauth_client_id=owner.client_id,
            client=client,
            protocol_version=protocol_version,
            ttl=self.ttl,
        )

    async def validate(self, session_id: str, owner: TokenIdentity) -> McpSession | None:
        """The live session `session_id` of `owner`, renewed for another `ttl`; `None` when
        there is no such session, it expired, it is someone else's, or the id is malformed
        (nothing is written then)."""
        if await self._owned(session_id, owner) is None:
            return None
        return await self._storage.atouch_mcp_session(session_id, self.ttl)

    async def end(self, session_id: str, owner: TokenIdentity) -> bool:
        """End the session `session_id` of `owner`, with its event stream; `True` if it was
        live and theirs."""
        if await self._owned(session_id, owner) is None:
            return False
        return await self._storage.adelete_mcp_session(session_id)

    async def _owned(self, session_id: str, owner: TokenIdentity) -> McpSession | None:
        try:
            session = await self._storage.aget_mcp_session(session_id)
        except InvalidKeyError:
            # No session can have this id; it is unknown, like any other.
            return None
        if session is None or (session.oauth_client_id, session.user) != (
            owner.client_id,
            owner.user,
        ):
            return None
        return session

    async def list(self, user: str | None = None) -> list[McpSession]:
        """The live sessions (of `user`, when given), oldest first."""
        return await self._storage.alist_mcp_sessions(user)

    async def prune_expired(self) -> int:
        """Forget the expired sessions in every index; how many there were."""
        return await self._storage.aprune_expired_mcp_sessions()

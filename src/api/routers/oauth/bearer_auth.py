"""Who an API request acts for: the bearer access token it presents, checked in the storage.

`BearerAuthBackend` lets Starlette's `AuthenticationMiddleware` put the token's client and
user in `request.user` (and `scope["user"]`), as a `TokenIdentity`, for the routes that want
to know (the MCP sessions).
"""

from __future__ import annotations

from starlette.authentication import AuthCredentials, AuthenticationBackend
from starlette.requests import HTTPConnection

from ....proxy.authorization import CHECKED_TOKEN, bearer_credentials
from ....storage import AccessTokenRecord, UnifiedStorage
from ...bearer_challenge import authorization_headers
from ...identity import TokenIdentity


class BearerAuthBackend(AuthenticationBackend):
    """Authenticates a request by its bearer access token.

    A request without a valid token passes as unauthenticated (never refused here: the
    token endpoint must accept a client that still sends its expired token). A token of a
    client acting for itself (client credentials) gives an identity without a user.
    """

    def __init__(self, storage: UnifiedStorage) -> None:
        self._storage = storage

    async def authenticate(
        self, conn: HTTPConnection
    ) -> tuple[AuthCredentials, TokenIdentity] | None:
        """The token's scopes and identity, or `None` without a valid token."""
        record: AccessTokenRecord | None = conn.scope.get(CHECKED_TOKEN)
        if record is None:
            credentials = bearer_credentials(authorization_headers(conn))
            if credentials.token is None:
                return None
            record = await self._storage.aget_access_token(credentials.token)
        if record is None:
            return None
        return AuthCredentials(record.scope.split()), TokenIdentity(record.client_id, record.user)

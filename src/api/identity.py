"""Who an API request acts for, as the bearer authentication found it.

Shared by the routers (which must not know each other): the OAuth router's authentication
backend sets it, the MCP router binds sessions to it.
"""

from __future__ import annotations

from starlette.authentication import BaseUser


class TokenIdentity(BaseUser):
    """The client and user of a valid access token.

    Args:
        client_id: the OAuth client the token was issued to.
        user: the user it was issued to; `None` for a client acting for itself (the client
            credentials grant).
    """

    def __init__(self, client_id: str, user: str | None) -> None:
        self.client_id = client_id
        self.user = user

    def __repr__(self) -> str:
        return f"TokenIdentity(client_id={self.client_id!r}, user={self.user!r})"

    @property
    def is_authenticated(self) -> bool:
        """Always: an anonymous request has no identity at all."""
        return True

    @property
    def display_name(self) -> str:
        """The user, or the client when it acts for itself."""
        return self.client_id if self.user is None else self.user

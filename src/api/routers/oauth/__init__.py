"""The gateway's OAuth server: token, revocation and introspection endpoints, metadata,
health and status routes, and the management commands."""

from .bearer_auth import BearerAuthBackend
from .commands import CommandError, delete_client, login, register_client
from .endpoints import oauth_router
from .oauth_status import oauth_status
from .settings import OAuthSettings

__all__ = [
    "BearerAuthBackend",
    "CommandError",
    "OAuthSettings",
    "delete_client",
    "login",
    "oauth_router",
    "oauth_status",
    "register_client",
]

"""The gateway's OAuth server: token, revocation and introspection endpoints, metadata,
health and status routes, the sign-in page, and the management commands."""

from .bearer_auth import BearerAuthBackend
from .commands import CommandError, delete_client, issue_token, register_client
from .device_login import device_login
from .endpoints import oauth_router
from .oauth_status import oauth_status
from .settings import OAuthSettings
from .user_commands import add_user, list_users, remove_user

__all__ = [
    "BearerAuthBackend",
    "CommandError",
    "OAuthSettings",
    "add_user",
    "delete_client",
    "device_login",
    "issue_token",
    "list_users",
    "oauth_router",
    "oauth_status",
    "register_client",
    "remove_user",
]

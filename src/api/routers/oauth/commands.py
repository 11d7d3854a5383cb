"""The OAuth management commands: registering a client, deleting one, and issuing a user's
token pair of a registered client without a sign-in (an administrator's tool). Each takes
the storage and its arguments and returns the text to print; `src/main.py` wires them into
`python -m src oauth ...`.

Their output holds secrets (the client secret, the tokens) on purpose: this is the one
time they are shown.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta

from ....storage import InvalidKeyError, InvalidScopeError, OAuthGrantType, UnifiedStorage
from .responses import token_body, validation_problems
from .scopes import granted_scope
from .settings import DEFAULT_ACCESS_TOKEN_TTL, DEFAULT_REFRESH_TOKEN_TTL


class CommandError(Exception):
    """A command cannot run with the arguments given; the message says why."""


def register_client(
    storage: UnifiedStorage,
    *,
    name: str,
    grant_types: Sequence[str],
    redirect_uris: Sequence[str] = (),
    scope: str = "",
) -> str:
    """Register an OAuth client; its id and secret, to print (the secret is shown only now)."""
    try:
        grants = [OAuthGrantType(grant) for grant in grant_types]
    except ValueError:
        supported = ", ".join(grant.value for grant in OAuthGrantType)
        raise CommandError(f"unknown grant type; supported: {supported}") from None
    try:
        registered = storage.register_oauth_client(name, grants, redirect_uris, scope)
    except ValueError as exc:
        raise CommandError(f"cannot register the client: {validation_problems(exc)}") from None
    return (
        f"client_id: {registered.client.client_id}\n"
        f"client_secret: {registered.client_secret}\n"
        "The secret is shown only now; only its hash is stored."
    )


def delete_client(storage: UnifiedStorage, *, client_id: str) -> str:
    """Delete a client, registered by any means, and every usable token issued to it (its
    access tokens stop working at once); what was done, to print."""
    try:
        existed = storage.delete_oauth_client(client_id)
    except InvalidKeyError:
        existed = False
    if not existed:
        raise CommandError(f"no OAuth client {client_id!r:.80} is registered")
    return f"deleted OAuth client {client_id} and its tokens"


def issue_token(
    storage: UnifiedStorage,
    *,
    client_id: str,
    user: str,
    scope: str | None = None,
    access_ttl: timedelta = DEFAULT_ACCESS_TOKEN_TTL,
    refresh_ttl: timedelta = DEFAULT_REFRESH_TOKEN_TTL,
) -> str:
    """An administrator's tool: issue an access and refresh token of `user` for the
    client, without anyone signing in, as the JSON of a token response (`python -m src
    oauth issue-token`; a user signs in with `oauth login`, the device grant). `scope`
    defaults to everything the client may be granted. The tokens have no audience."""
    client = storage.get_oauth_client(client_id)
    if client is None:
        raise CommandError(f"no OAuth client {client_id!r} is registered")
    if not client.allows(OAuthGrantType.REFRESH_TOKEN):
        raise CommandError(
            f"the client {client_id!r} may not use refresh tokens; register it with the "
            "refresh_token grant type"
        )
    try:
        issued = storage.issue_token_pair(
            client_id, user, granted_scope(scope, client.scope), access_ttl, refresh_ttl
        )
    except InvalidScopeError as exc:
        raise CommandError(str(exc)) from None
    except ValueError as exc:
        raise CommandError(f"cannot issue tokens: {validation_problems(exc)}") from None
    return json.dumps(token_body(issued), indent=2)

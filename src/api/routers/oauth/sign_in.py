"""Checking a user's name and password at a sign-in page, within the failure limits:
shared by `/authorize` and the device verification page.

Failed sign-ins count per user and per client address (`sign_in_failures_per_user` /
`_per_address` per `sign_in_failure_window`); past either, the check refuses with 429
"too many attempts" without looking at the password.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from ....storage import UnifiedStorage, User
from .settings import OAuthSettings

_UNKNOWN_ADDRESS = "unknown"
"""The address counted for a connection whose peer the server does not know."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a sign-in failed, as the page says it."""

    message: str
    status: int
    headers: dict[str, str]


async def check_sign_in(
    storage: UnifiedStorage, settings: OAuthSettings, request: Request, form: dict[str, str]
) -> User | Refusal:
    """The user the form's `username` and `password` sign in, or why not."""
    username = form.get("username", "")
    if not username or "password" not in form:
        return Refusal("Enter your user name and password.", 400, {})
    address = request.client.host if request.client else _UNKNOWN_ADDRESS
    wrong = Refusal("Wrong user name or password.", 401, {})
    try:
        failures = await storage.aget_sign_in_failures(username, address)
    except ValueError:  # not a name any user can have: nothing to check or count
        return wrong
    if (
        failures.user >= settings.sign_in_failures_per_user
        or failures.address >= settings.sign_in_failures_per_address
    ):
        retry_after = str(int(settings.sign_in_failure_window.total_seconds()))
        return Refusal(
            "Too many attempts: sign-in is paused for a while. Try again later.",
            429,
            {"Retry-After": retry_after},
        )
    user = await storage.averify_user(username, form["password"])
    if user is None:
        await storage.acount_sign_in_failure(username, address, settings.sign_in_failure_window)
        return wrong
    return user

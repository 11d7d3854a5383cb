"""`GET|POST /device/verify`: the device verification page of the device authorization
grant (RFC 8628 §3.3), where a user approves, on any browser, what a device without one
(`python -m src oauth login`) asked for at `POST /device/authorize`.

The form carries the user's name and password itself: there is no session for another site
to ride on, so a cross-site post can only approve a device code with credentials its sender
already has. Posts that say they come from another origin are refused all the same. Failed
sign-ins are limited as at `/authorize` (see `sign_in`); a wrong user code counts as a
failed sign-in of that user, so user codes cannot be guessed faster than passwords.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import APIRouter
from fastapi.responses import Response
from starlette.requests import Request

from ....storage import StorageUnavailableError, UnifiedStorage, User
from ...request_body import BodyTooLargeError, read_body
from .forms import FormError, parse_form
from .settings import OAuthSettings
from .sign_in import check_sign_in
from .sign_in_page import device_done_page, device_page, error_page

VERIFY_PATH = "/device/verify"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class _Device:
    def __init__(self, storage: UnifiedStorage, settings: OAuthSettings) -> None:
        self._storage = storage
        self._settings = settings

    async def show(self, request: Request) -> Response:
        """`GET /device/verify[?user_code=...]`: the page, the code filled in if given."""
        return device_page(request.query_params.get("user_code", "")[:32])

    async def verify(self, request: Request) -> Response:
        """`POST /device/verify`: sign in, and approve or deny the device's request."""
        origin = request.headers.get("origin")
        if origin is not None and origin != _origin(self._settings.issuer):
            return error_page("This form was posted from another site.")
        try:
            body = await read_body(request, self._settings.max_form_bytes)
            form = parse_form(request.headers.get("content-type"), body)
        except (BodyTooLargeError, FormError):
            return error_page("The sign-in form could not be read.")
        user_code = form.get("user_code", "")[:32]
        username = form.get("username", "")
        try:
            checked = await check_sign_in(self._storage, self._settings, request, form)
            if not isinstance(checked, User):
                return device_page(
                    user_code, checked.message, checked.status, checked.headers, username=username
                )
            pending = await self._storage.aget_device_authorization(user_code)
            if pending is None or not pending.pending:
                address = request.client.host if request.client else "unknown"
                await self._storage.acount_sign_in_failure(
                    checked.name, address, self._settings.sign_in_failure_window
                )
                return device_page(
                    user_code, "This code is unknown, expired or used.", 400, username=username
                )
            approve = form.get("action") != "deny"
            decided = await self._storage.adecide_device_authorization(
                user_code, checked.name if approve else None
            )
        except StorageUnavailableError:
            return error_page("The gateway's storage is unavailable; try again later.", 503)
        if not decided:
            return device_page(user_code, "This code was decided already.", 400)
        return device_done_page(approve)


def device_router(storage: UnifiedStorage, settings: OAuthSettings) -> APIRouter:
    """The router of the device verification page."""
    device = _Device(storage, settings)
    router = APIRouter()
    router.add_api_route(VERIFY_PATH, device.show, methods=["GET"])
    router.add_api_route(VERIFY_PATH, device.verify, methods=["POST"])
    return router

"""`GET|POST /authorize`: the authorization code grant with PKCE (OAuth 2.1 §4.1), with the
gateway's own sign-in and consent page.

`GET` checks what the client asks for, stores it as a pending request (TTL
`authorization_request_ttl`) and shows the page. `POST` (the page's form) signs the user in
and answers with a redirect to the client: `redirect_uri?code=...&state=...&iss=...`.

- Unknown client, missing or unregistered redirect URI: an error page (400), never a
  redirect (RFC 6749 §4.1.2.1): the client cannot be told, and the URI may be an attacker's.
- Anything else wrong goes back to the redirect URI: `error=...&state=...`.
- PKCE S256 is required; `plain` or no challenge is `invalid_request`.
- `resource` (RFC 8707) must name an auth-enabled proxy target (else `invalid_target`):
  the tokens are for that target alone. Without it they are for every protected target,
  as every token was before audiences, and the page says so.
- CSRF: the form carries the pending request's random token (stored only as a hash), and
  the request is bound to the browser that opened the page by a random nonce in an
  `HttpOnly`, `SameSite=Lax` cookie (its hash in the request). A form posted from another
  site carries no cookie (Lax cookies are not sent on cross-site POSTs), and a token an
  attacker opened for himself is bound to his own browser, so he cannot sign a victim
  into his account either.
- Failed sign-ins are limited per user and per client address (see `sign_in`).

No secret (password, code, form token, nonce) is logged or shown in a message.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response
from starlette.requests import Request

from ....storage import (
    AuthorizationAsk,
    AuthorizationRequest,
    CorruptRecordError,
    InvalidKeyError,
    InvalidScopeError,
    OAuthClient,
    OAuthGrantType,
    StorageUnavailableError,
    UnifiedStorage,
    User,
    valid_code_challenge,
)
from ...request_body import BodyTooLargeError, read_body
from .forms import FormError, parse_form
from .resources import InvalidTargetError, resource_audience
from .scopes import granted_scope
from .settings import OAuthSettings
from .sign_in import check_sign_in
from .sign_in_page import PAGE_HEADERS, SignInForm, error_page, sign_in_page

_COOKIE_PREFIX = "gateway_authorize_"
_PARAMETERS = (
    "response_type",
    "client_id",
    "redirect_uri",
    "state",
    "scope",
    "code_challenge",
    "code_challenge_method",
    "resource",
)


class _Redirected(Exception):
    """An error to send back to the client's redirect URI."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description


def _cookie_name(request_token: str) -> str:
    # One cookie per pending request (two sign-ins in two tabs do not clash); named by a
    # hash of the token, which tells nothing about it.
    return _COOKIE_PREFIX + hashlib.sha256(request_token.encode()).hexdigest()[:16]


def _with_query(uri: str, parameters: dict[str, str]) -> str:
    """`uri` with `parameters` added to its query (RFC 6749 §3.1.2: its own query kept)."""
    separator = "&" if urlsplit(uri).query else ("" if uri.endswith("?") else "?")
    return f"{uri}{separator}{urlencode(parameters)}"


class _Authorize:
    def __init__(self, storage: UnifiedStorage, settings: OAuthSettings) -> None:
        self._storage = storage
        self._settings = settings

    def _redirect(self, uri: str, parameters: dict[str, str | None]) -> RedirectResponse:
        present = {name: value for name, value in parameters.items() if value is not None}
        # RFC 9207: the issuer in the answer, so a client can tell which server answered.
        present["iss"] = self._settings.issuer
        # 303: the browser follows a POST's answer with a GET.
        return RedirectResponse(_with_query(uri, present), status_code=303, headers=PAGE_HEADERS)

    async def _client(self, client_id: str | None) -> OAuthClient | None:
        if client_id is None:
            return None
        try:
            return await self._storage.aget_oauth_client(client_id)
        except (InvalidKeyError, CorruptRecordError):
            return None

    async def start(self, request: Request) -> Response:
        """`GET /authorize`: check the request, store it, show the sign-in page."""
        query = request.query_params
        try:
            client = await self._client(query.get("client_id"))
            if client is None:
                return error_page("The application asking to sign you in is not registered.")
            redirect_uri = query.get("redirect_uri")
            if redirect_uri is None and len(client.redirect_uris) == 1:
                redirect_uri = client.redirect_uris[0]
            identifying = ("client_id", "redirect_uri")
            if (
                redirect_uri is None
                or redirect_uri not in client.redirect_uris
                or any(len(query.getlist(name)) > 1 for name in identifying)
            ):
                return error_page(
                    "The application's redirect URI is missing or not one it registered."
                )
            state = query.get("state")
            try:
                ask = await self._ask(client, redirect_uri, request)
            except _Redirected as exc:
                return self._redirect(
                    redirect_uri,
                    {"error": exc.error, "error_description": exc.description, "state": state},
                )
            nonce = secrets.token_urlsafe(32)
            token = await self._storage.acreate_authorization_request(
                ask, nonce, self._settings.authorization_request_ttl
            )
        except StorageUnavailableError:
            return error_page("The gateway's storage is unavailable; try again later.", 503)
        page = sign_in_page(SignInForm(token, client.name, ask.resource, ask.scope))
        page.set_cookie(
            _cookie_name(token),
            nonce,
            max_age=max(1, math.ceil(self._settings.authorization_request_ttl.total_seconds())),
            path="/authorize",
            secure=self._settings.issuer.startswith("https://"),
            httponly=True,
            samesite="lax",
        )
        return page

    async def _ask(
        self, client: OAuthClient, redirect_uri: str, request: Request
    ) -> AuthorizationAsk:
        query = request.query_params
        repeated = [name for name in _PARAMETERS if len(query.getlist(name)) > 1]
        if repeated:
            # RFC 6749 §3.1; one `resource` only: a token has one audience here.
            raise _Redirected("invalid_request", f"the {repeated[0]} parameter is repeated")
        if query.get("response_type") != "code":
            raise _Redirected("unsupported_response_type", "the only response type is code")
        if not client.allows(OAuthGrantType.AUTHORIZATION_CODE):
            raise _Redirected(
                "unauthorized_client", "the client may not use the authorization code grant"
            )
        method = query.get("code_challenge_method")
        challenge = query.get("code_challenge")
        if challenge is None or method != "S256":
            raise _Redirected(
                "invalid_request", "PKCE is required: code_challenge with method S256"
            )
        if not valid_code_challenge(challenge):
            raise _Redirected(
                "invalid_request", "an S256 code_challenge is 43 base64url characters"
            )
        try:
            scope = granted_scope(query.get("scope"), client.scope)
        except InvalidScopeError as exc:
            raise _Redirected("invalid_scope", str(exc)) from None
        resource = query.get("resource")
        try:
            audience = await resource_audience(self._storage, resource)
        except InvalidTargetError as exc:
            raise _Redirected("invalid_target", str(exc)) from None
        try:
            return AuthorizationAsk(
                client_id=client.client_id,
                redirect_uri=redirect_uri,
                code_challenge=challenge,
                scope=scope,
                state=query.get("state"),
                resource=resource,
                audience=audience,
            )
        except ValueError:
            raise _Redirected("invalid_request", "a parameter is malformed") from None

    async def complete(self, request: Request) -> Response:
        """`POST /authorize`: the sign-in form. Signs the user in and redirects to the
        client with a code, or shows the page again saying what is wrong."""
        try:
            try:
                body = await read_body(request, self._settings.max_form_bytes)
                form = parse_form(request.headers.get("content-type"), body)
            except (BodyTooLargeError, FormError):
                return error_page("The sign-in form could not be read.")
            token = form.get("request", "")
            pending = await self._storage.aget_authorization_request(token)
            if pending is None:
                return error_page(
                    "This sign-in has expired or is complete. Start again from the application."
                )
            if not self._same_browser(request, token, pending):
                return error_page(
                    "This sign-in form was not opened in this browser. "
                    "Start again from the application."
                )
            client = await self._client(pending.client_id)
            if client is None:
                await self._storage.atake_authorization_request(token)
                return error_page("The application asking to sign you in is not registered.")
            if form.get("action") == "deny":
                return await self._deny(token, pending)
            return await self._sign_in(request, form, token, pending, client)
        except StorageUnavailableError:
            return error_page("The gateway's storage is unavailable; try again later.", 503)

    @staticmethod
    def _same_browser(request: Request, token: str, pending: AuthorizationRequest) -> bool:
        nonce = request.cookies.get(_cookie_name(token), "")
        digest = hashlib.sha256(nonce.encode("utf-8", "surrogatepass")).hexdigest()
        return bool(nonce) and hmac.compare_digest(digest, pending.browser_hash)

    async def _deny(self, token: str, pending: AuthorizationRequest) -> Response:
        if await self._storage.atake_authorization_request(token) is None:
            return error_page("This sign-in is complete already.")
        return self._redirect(
            pending.redirect_uri,
            {
                "error": "access_denied",
                "error_description": "the user denied the request",
                "state": pending.state,
            },
        )

    async def _sign_in(
        self,
        request: Request,
        form: dict[str, str],
        token: str,
        pending: AuthorizationRequest,
        client: OAuthClient,
    ) -> Response:
        checked = await check_sign_in(self._storage, self._settings, request, form)
        if not isinstance(checked, User):
            return sign_in_page(
                SignInForm(
                    token,
                    client.name,
                    pending.resource,
                    pending.scope,
                    form.get("username", ""),
                    checked.message,
                ),
                checked.status,
                checked.headers,
            )
        user = checked
        taken = await self._storage.atake_authorization_request(token)
        if taken is None:
            return error_page("This sign-in is complete already.")
        code = await self._storage.aissue_authorization_code(
            taken, user.name, self._settings.authorization_code_ttl
        )
        response = self._redirect(taken.redirect_uri, {"code": code, "state": taken.state})
        response.delete_cookie(_cookie_name(token), path="/authorize")
        return response


def authorize_router(storage: UnifiedStorage, settings: OAuthSettings) -> APIRouter:
    """The router of `GET` and `POST /authorize`."""
    authorize = _Authorize(storage, settings)
    router = APIRouter()
    router.add_api_route("/authorize", authorize.start, methods=["GET"])
    router.add_api_route("/authorize", authorize.complete, methods=["POST"])
    return router

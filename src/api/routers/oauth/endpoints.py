"""The OAuth server's HTTP endpoints.

    GET|POST /authorize  the authorization code grant with PKCE and the sign-in page
                         (`authorize`)
    POST /token          RFC 6749: `authorization_code` (PKCE S256), `refresh_token`
                         (rotating) and `client_credentials` grants
    POST /device/authorize  RFC 8628 device authorization (the page: `device`)
    POST /revoke         RFC 7009
    POST /introspect     RFC 7662
    POST /register       RFC 7591 dynamic client registration (`registration`)
    GET  /.well-known/oauth-authorization-server    RFC 8414 metadata
    GET  /health         503 unless Redis answers and the defaults are in place

These are the paths the `localhost` proxy target excludes from authentication: a client
must be able to refresh an expired access token without a valid one. Confidential clients
authenticate with HTTP Basic or with `client_id` / `client_secret` form parameters; a public
client (registered with auth method `none`) names itself with `client_id` alone, at
`/token` and `/revoke` (RFC 6749 §2.1, RFC 7009 §2.1), never at `/introspect`, which tells
a token's details to its authenticated client only. Form bodies are read here (no
multipart dependency) and limited in size.
"""

from __future__ import annotations

import math

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from starlette.requests import Request

from ....storage import (
    CorruptRecordError,
    DeviceGrantError,
    InvalidGrantError,
    InvalidKeyError,
    InvalidScopeError,
    IssuedTokens,
    OAuthClient,
    OAuthGrantType,
    StorageUnavailableError,
    TokenEndpointAuthMethod,
    UnifiedStorage,
    shown_user_code,
)
from ...request_body import CLOSE_CONNECTION, BodyTooLargeError, read_body
from .authorize import authorize_router
from .client_auth import ClientAuthError, client_credentials
from .device import VERIFY_PATH, device_router
from .forms import FormError, parse_form
from .oauth_status import status_router
from .registration import registration_router
from .resources import InvalidTargetError, resource_audience
from .responses import (
    OAuthError,
    invalid_client,
    no_store_empty,
    no_store_json,
    token_body,
)
from .scopes import granted_scope
from .settings import OAuthSettings


def _required(form: dict[str, str], name: str) -> str:
    value = form.get(name)
    if value is None:
        raise OAuthError("invalid_request", f"the {name} parameter is required")
    return value


class OAuthEndpoints:
    """The endpoints' handlers, on one storage and one set of settings."""

    def __init__(self, storage: UnifiedStorage, settings: OAuthSettings) -> None:
        self._storage = storage
        self._settings = settings

    async def _read_form(self, request: Request) -> dict[str, str]:
        try:
            body = await read_body(request, self._settings.max_form_bytes)
        except BodyTooLargeError as exc:
            raise OAuthError(
                "invalid_request", str(exc), status=413, headers=CLOSE_CONNECTION
            ) from None
        try:
            return parse_form(request.headers.get("content-type"), body)
        except FormError as exc:
            raise OAuthError("invalid_request", str(exc)) from None

    async def _authenticate(
        self, request: Request, form: dict[str, str], *, public: bool
    ) -> OAuthClient:
        """The client the request authenticates as; a public client too if `public`."""
        try:
            offered = client_credentials(request.headers.getlist("authorization"), form)
        except ClientAuthError as exc:
            raise OAuthError("invalid_request", str(exc)) from None
        if offered is not None:
            client = await self._storage.averify_client_secret(
                offered.client_id, offered.client_secret
            )
        elif public and "client_id" in form:
            client = await self._public_client(form["client_id"])
        else:
            client = None
        if client is None:
            raise invalid_client()
        return client

    async def _public_client(self, client_id: str) -> OAuthClient | None:
        try:
            client = await self._storage.aget_oauth_client(client_id)
        except (InvalidKeyError, CorruptRecordError):
            return None
        return client if client is not None and client.is_public else None

    async def token(self, request: Request) -> JSONResponse:
        """`POST /token`: exchange a grant for tokens."""
        try:
            form = await self._read_form(request)
            grant_type = _required(form, "grant_type")
            try:
                grant = OAuthGrantType(grant_type)
            except ValueError:
                supported = ", ".join(grant.value for grant in OAuthGrantType)
                raise OAuthError("unsupported_grant_type", f"supported: {supported}") from None
            client = await self._authenticate(request, form, public=True)
            if not client.allows(grant):
                raise OAuthError("unauthorized_client", f"the client may not use {grant.value}")
            if grant is OAuthGrantType.AUTHORIZATION_CODE:
                issued = await self._authorization_code(client, form)
            elif grant is OAuthGrantType.DEVICE_CODE:
                issued = await self._device_code(client, form)
            elif grant is OAuthGrantType.REFRESH_TOKEN:
                issued = await self._refresh(client, form)
            else:
                issued = await self._client_credentials(client, form)
            return no_store_json(token_body(issued))
        except OAuthError as exc:
            return exc.response()
        except StorageUnavailableError:
            return _unavailable()

    async def _authorization_code(self, client: OAuthClient, form: dict[str, str]) -> IssuedTokens:
        code = _required(form, "code")
        resource = form.get("resource")
        if resource is not None:
            # RFC 8707 §2.2: the resource asked for must be the one the code was issued
            # for; checked before the exchange, which would use the code up.
            record = await self._storage.aget_authorization_code(code)
            if record is not None and record.resource != resource:
                raise OAuthError("invalid_target", "the code was issued for another resource")
        try:
            return await self._storage.aredeem_authorization_code(
                code,
                client.client_id,
                form.get("redirect_uri"),
                form.get("code_verifier"),
                self._settings.access_token_ttl,
                self._settings.refresh_token_ttl,
            )
        except InvalidGrantError as exc:
            raise OAuthError("invalid_grant", str(exc)) from None

    async def _device_code(self, client: OAuthClient, form: dict[str, str]) -> IssuedTokens:
        try:
            return await self._storage.apoll_device_code(
                _required(form, "device_code"),
                client.client_id,
                self._settings.access_token_ttl,
                self._settings.refresh_token_ttl,
            )
        except DeviceGrantError as exc:
            raise OAuthError(exc.error, exc.description) from None

    async def device_authorization(self, request: Request) -> JSONResponse:
        """`POST /device/authorize` (RFC 8628 §3.1): a device code, the user code to type
        at the verification page, and how often to poll."""
        try:
            form = await self._read_form(request)
            client = await self._authenticate(request, form, public=True)
            if not client.allows(OAuthGrantType.DEVICE_CODE):
                raise OAuthError("unauthorized_client", "the client may not use the device grant")
            try:
                scope = granted_scope(form.get("scope"), client.scope)
            except InvalidScopeError as exc:
                raise OAuthError("invalid_scope", str(exc)) from None
            resource = form.get("resource")
            try:
                audience = await resource_audience(self._storage, resource)
            except InvalidTargetError as exc:
                raise OAuthError("invalid_target", str(exc)) from None
            device_code, record = await self._storage.astart_device_authorization(
                client.client_id,
                scope,
                (resource, audience),
                self._settings.device_code_ttl,
                self._settings.device_poll_interval,
            )
        except OAuthError as exc:
            return exc.response()
        except StorageUnavailableError:
            return _unavailable()
        user_code = shown_user_code(record.user_code)
        verification_uri = self._settings.endpoint(VERIFY_PATH)
        return no_store_json(
            {
                "device_code": device_code,
                "user_code": user_code,
                "verification_uri": verification_uri,
                "verification_uri_complete": f"{verification_uri}?user_code={user_code}",
                "expires_in": math.ceil(self._settings.device_code_ttl.total_seconds()),
                "interval": math.ceil(self._settings.device_poll_interval.total_seconds()),
            }
        )

    async def _refresh(self, client: OAuthClient, form: dict[str, str]) -> IssuedTokens:
        refresh_token = _required(form, "refresh_token")
        resource = form.get("resource")
        if resource is not None:
            await self._check_refresh_resource(refresh_token, resource)
        try:
            return await self._storage.arotate_refresh_token(
                refresh_token,
                client.client_id,
                self._settings.access_token_ttl,
                self._settings.refresh_token_ttl,
                form.get("scope"),
            )
        except InvalidGrantError as exc:
            raise OAuthError("invalid_grant", str(exc)) from None
        except InvalidScopeError as exc:
            raise OAuthError("invalid_scope", str(exc)) from None

    async def _check_refresh_resource(self, refresh_token: str, resource: str) -> None:
        """RFC 8707 at a refresh: the resource must be the grant's own. A refreshed token
        keeps its grant's audience, so naming another resource (or one for a grant that
        named none) is `invalid_target`, never a token for it."""
        try:
            audience = await resource_audience(self._storage, resource)
        except InvalidTargetError as exc:
            raise OAuthError("invalid_target", str(exc)) from None
        record = await self._storage.aintrospect_token(refresh_token)
        if record is not None and record.kind == "refresh" and record.audience != audience:
            raise OAuthError("invalid_target", "the refresh token was issued for another resource")

    async def _client_credentials(self, client: OAuthClient, form: dict[str, str]) -> IssuedTokens:
        try:
            return await self._storage.aissue_client_token(
                client.client_id,
                granted_scope(form.get("scope"), client.scope),
                self._settings.access_token_ttl,
            )
        except InvalidScopeError as exc:
            raise OAuthError("invalid_scope", str(exc)) from None

    async def revoke(self, request: Request) -> Response:
        """`POST /revoke`: revoke one of the client's tokens (RFC 7009).

        An unknown token, or another client's, is answered like a revoked one (200), as
        RFC 7009 §2.2 asks; `token_type_hint` is optional and not needed, so it is ignored.
        """
        try:
            form = await self._read_form(request)
            client = await self._authenticate(request, form, public=True)
            await self._storage.arevoke_token(_required(form, "token"), client.client_id)
            return no_store_empty()
        except OAuthError as exc:
            return exc.response()
        except StorageUnavailableError:
            return _unavailable()

    async def introspect(self, request: Request) -> JSONResponse:
        """`POST /introspect`: what a token is, for the client it was issued to (RFC 7662).

        Any other client learns only `{"active": false}`, as for an unknown token: a
        client that could introspect another's tokens could tell which are live, and whose.
        """
        try:
            form = await self._read_form(request)
            client = await self._authenticate(request, form, public=False)
            record = await self._storage.aintrospect_token(_required(form, "token"))
        except OAuthError as exc:
            return exc.response()
        except StorageUnavailableError:
            return _unavailable()
        if record is None or record.client_id != client.client_id:
            return no_store_json({"active": False})
        body: dict[str, object] = {
            "active": True,
            "scope": record.scope,
            "client_id": record.client_id,
            "exp": int(record.expires_at.timestamp()),
            "iat": int(record.issued_at.timestamp()),
            "sub": record.user if record.user is not None else record.client_id,
            "iss": self._settings.issuer,
        }
        if record.user is not None:
            body["username"] = record.user
        body["token_type"] = "Bearer" if record.kind == "access" else "refresh_token"
        return no_store_json(body)

    async def metadata(self) -> JSONResponse:
        """`GET /.well-known/oauth-authorization-server` (RFC 8414): the endpoints that
        exist, and nothing else; PKCE with S256 only."""
        confidential = [
            TokenEndpointAuthMethod.CLIENT_SECRET_BASIC.value,
            TokenEndpointAuthMethod.CLIENT_SECRET_POST.value,
        ]
        with_public = [*confidential, TokenEndpointAuthMethod.NONE.value]
        return JSONResponse(
            {
                "issuer": self._settings.issuer,
                "authorization_endpoint": self._settings.endpoint("/authorize"),
                "token_endpoint": self._settings.endpoint("/token"),
                "registration_endpoint": self._settings.endpoint("/register"),
                "device_authorization_endpoint": self._settings.endpoint("/device/authorize"),
                "revocation_endpoint": self._settings.endpoint("/revoke"),
                "introspection_endpoint": self._settings.endpoint("/introspect"),
                "grant_types_supported": [grant.value for grant in OAuthGrantType],
                "response_types_supported": ["code"],
                "response_modes_supported": ["query"],
                "code_challenge_methods_supported": ["S256"],
                "authorization_response_iss_parameter_supported": True,
                "token_endpoint_auth_methods_supported": with_public,
                "revocation_endpoint_auth_methods_supported": with_public,
                "introspection_endpoint_auth_methods_supported": confidential,
            }
        )

    async def health(self) -> JSONResponse:
        """`GET /health`: 200 when Redis answers and the defaults are in place, else 503
        saying which is wrong.

        Defaults found missing (Redis came back empty, someone deleted them) are written
        again at once, so the next check passes; this one reports what was missing.
        """
        unavailable = {"status": "unavailable", "storage": False, "defaults": None}
        if not await self._storage.ahealth_check():
            return JSONResponse(unavailable, status_code=503)
        try:
            report = await self._storage.aensure_defaults()
        except StorageUnavailableError:
            return JSONResponse(unavailable, status_code=503)
        if report.ok:
            return JSONResponse({"status": "ok", "storage": True, "defaults": True})
        return JSONResponse(
            {
                "status": "unavailable",
                "storage": True,
                "defaults": False,
                # Written again already; a corrupt record is left for an operator.
                "missing": list(report.missing),
                "corrupt": list(report.corrupt),
            },
            status_code=503,
        )


def _unavailable() -> JSONResponse:
    return OAuthError(
        "temporarily_unavailable", "the gateway's storage is unavailable", status=503
    ).response()


def oauth_router(storage: UnifiedStorage, settings: OAuthSettings) -> APIRouter:
    """The OAuth server's router: the endpoints above and the status route."""
    endpoints = OAuthEndpoints(storage, settings)
    router = APIRouter(tags=["oauth"])
    router.add_api_route("/token", endpoints.token, methods=["POST"])
    router.add_api_route("/revoke", endpoints.revoke, methods=["POST"])
    router.add_api_route("/introspect", endpoints.introspect, methods=["POST"])
    router.add_api_route(
        "/.well-known/oauth-authorization-server", endpoints.metadata, methods=["GET"]
    )
    router.add_api_route("/health", endpoints.health, methods=["GET"])
    router.include_router(registration_router(storage, settings))
    router.add_api_route("/device/authorize", endpoints.device_authorization, methods=["POST"])
    router.include_router(authorize_router(storage, settings))
    router.include_router(device_router(storage, settings))
    router.include_router(status_router(storage))
    return router

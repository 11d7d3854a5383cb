"""`POST /register`: dynamic client registration (RFC 7591), bounded.

Each request first counts against its client address (`registrations_per_address` per
`registration_window`; past it, 429 with `Retry-After`), refused ones included, so a
client cannot probe or fill the storage at will; then its body is read up to
`max_registration_bytes` (past it, 413 before or as soon as it is exceeded). What is
accepted is decided by `client_metadata`; the client is stored as every OAuth client is
(a confidential client's secret only as its hash) and shows up in `/oauth/status`.

The address is the connection's peer as the proxy received it: behind another reverse
proxy every client shares that proxy's address (and its count).
"""

from __future__ import annotations

import math

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from starlette.requests import Request

from ....storage import (
    OAuthClient,
    StorageUnavailableError,
    TokenEndpointAuthMethod,
    UnifiedStorage,
)
from ...request_body import CLOSE_CONNECTION, BodyTooLargeError, read_body
from .client_metadata import (
    ClientMetadataError,
    ClientRequest,
    parse_client_metadata,
    registration_response,
)
from .responses import OAuthError, no_store_json, validation_problems
from .settings import OAuthSettings

_UNKNOWN_ADDRESS = "unknown"
"""The address counted for a connection whose peer the server does not know."""


class _Registration:
    def __init__(self, storage: UnifiedStorage, settings: OAuthSettings) -> None:
        self._storage = storage
        self._settings = settings

    async def register(self, request: Request) -> JSONResponse:
        """`POST /register`: register a client; 201 with its id (and secret), or an RFC
        7591 §3.2.2 error."""
        try:
            await self._count_attempt(request)
            try:
                body = await read_body(request, self._settings.max_registration_bytes)
            except BodyTooLargeError as exc:
                raise OAuthError(
                    "invalid_client_metadata", str(exc), status=413, headers=CLOSE_CONNECTION
                ) from None
            try:
                wanted = parse_client_metadata(request.headers.get("content-type"), body)
            except ClientMetadataError as exc:
                raise OAuthError(exc.error, exc.description) from None
            client, secret = await self._store(wanted)
        except OAuthError as exc:
            return exc.response()
        except StorageUnavailableError:
            return OAuthError(
                "temporarily_unavailable", "the gateway's storage is unavailable", status=503
            ).response()
        return no_store_json(registration_response(client, secret), status=201)

    async def _count_attempt(self, request: Request) -> None:
        address = request.client.host if request.client else _UNKNOWN_ADDRESS
        attempts = await self._storage.acount_registration_attempt(
            address, self._settings.registration_window
        )
        if attempts.count > self._settings.registrations_per_address:
            retry_after = max(1, math.ceil(attempts.resets_in.total_seconds()))
            raise OAuthError(
                "temporarily_unavailable",
                "too many registrations from this address; try again later",
                status=429,
                headers={"Retry-After": str(retry_after)},
            )

    async def _store(self, wanted: ClientRequest) -> tuple[OAuthClient, str | None]:
        try:
            if wanted.auth_method is TokenEndpointAuthMethod.NONE:
                client = await self._storage.aregister_public_oauth_client(
                    wanted.name, wanted.grant_types, wanted.redirect_uris, wanted.scope
                )
                return client, None
            registered = await self._storage.aregister_oauth_client(
                wanted.name,
                wanted.grant_types,
                wanted.redirect_uris,
                wanted.scope,
                wanted.auth_method,
            )
        except ValueError as exc:  # a malformed scope, as the storage validates it
            raise OAuthError("invalid_client_metadata", validation_problems(exc)) from None
        return registered.client, registered.client_secret


def registration_router(storage: UnifiedStorage, settings: OAuthSettings) -> APIRouter:
    """The router of `POST /register`."""
    router = APIRouter()
    router.add_api_route("/register", _Registration(storage, settings).register, methods=["POST"])
    return router

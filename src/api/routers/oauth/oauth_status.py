"""`GET /oauth/status`: the registered clients (by the command line or by `/register`), their
live tokens, and the storage's health.

The route is not among the proxy's auth exclusions, so the proxy demands a bearer token
for it; the route checks the token itself too, since the API also listens on loopback.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from starlette.requests import Request

from ....proxy.authorization import bearer_credentials
from ....storage import StorageUnavailableError, UnifiedStorage
from ...bearer_challenge import authorization_headers, bearer_challenge


async def oauth_status(storage: UnifiedStorage) -> dict[str, Any]:
    """The status report: every client (never its secret) with its live token counts."""
    clients = []
    for client in await storage.alist_oauth_clients():
        counts = await storage.acount_client_tokens(client.client_id)
        clients.append(
            {
                "client_id": client.client_id,
                "name": client.name,
                "grant_types": [grant.value for grant in client.grant_types],
                "token_endpoint_auth_method": client.token_endpoint_auth_method.value,
                "redirect_uris": client.redirect_uris,
                "live_access_tokens": counts.access,
                "live_refresh_tokens": counts.refresh,
            }
        )
    return {"clients": clients, "storage": {"healthy": await storage.ahealth_check()}}


def status_router(storage: UnifiedStorage) -> APIRouter:
    """The router of `GET /oauth/status`, which answers 401 without a valid access token and
    503 while the storage is unavailable."""
    router = APIRouter()

    async def status(request: Request) -> JSONResponse:
        credentials = bearer_credentials(authorization_headers(request))
        try:
            token = credentials.token
            if token is None or await storage.aget_access_token(token) is None:
                return JSONResponse(
                    {"detail": "a valid bearer access token is required"},
                    status_code=401,
                    headers={"WWW-Authenticate": bearer_challenge(request)},
                )
            return JSONResponse(await oauth_status(storage))
        except StorageUnavailableError:
            return JSONResponse({"storage": {"healthy": False}}, status_code=503)

    router.add_api_route("/oauth/status", status, methods=["GET"])
    return router

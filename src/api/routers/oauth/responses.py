"""The OAuth server's answers: token responses and RFC 6749 §5.2 error responses.

Every answer of the token, revocation and introspection endpoints carries
`Cache-Control: no-store` (RFC 6749 §5.1): it holds tokens, or says something about them.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from ....storage import IssuedTokens

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class OAuthError(Exception):
    """An RFC 6749 error; `response()` is the answer to send.

    Args:
        error: the error code (`invalid_request`, `invalid_grant`, ...).
        description: a human-readable explanation; never a secret.
        status: the HTTP status (400 unless the error calls for another).
        headers: headers of the answer besides the `no-store` ones.
    """

    def __init__(
        self,
        error: str,
        description: str,
        status: int = 400,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        """The error as an RFC 6749 JSON answer."""
        headers = {**NO_STORE, **self.headers}
        if self.status == 401:
            headers["WWW-Authenticate"] = 'Basic realm="oauth"'
        return JSONResponse(
            {"error": self.error, "error_description": self.description},
            status_code=self.status,
            headers=headers,
        )


def invalid_client() -> OAuthError:
    """The error for a client that failed (or skipped) authentication."""
    return OAuthError("invalid_client", "client authentication failed", status=401)


def token_body(issued: IssuedTokens) -> dict[str, Any]:
    """The JSON body of a successful token response (RFC 6749 §5.1)."""
    body: dict[str, Any] = {
        "access_token": issued.access_token,
        "token_type": "Bearer",
        "expires_in": issued.expires_in,
        "scope": issued.access.scope,
    }
    if issued.refresh_token is not None:
        body["refresh_token"] = issued.refresh_token
    return body


def no_store_json(body: dict[str, Any], status: int = 200) -> JSONResponse:
    """A JSON answer that no cache may keep."""
    return JSONResponse(body, status_code=status, headers=NO_STORE)


def no_store_empty() -> Response:
    """An empty 200 answer that no cache may keep."""
    return Response(status_code=200, headers=NO_STORE)


def validation_problems(exc: ValueError) -> str:
    """What is wrong, on one line, without pydantic's echo of the input (which may be long,
    or a secret)."""
    if not isinstance(exc, ValidationError):
        return str(exc)
    return "; ".join(
        f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
        for error in exc.errors(include_url=False, include_input=False)
    )

"""`python -m src oauth login`: a user signs in from a terminal with the device
authorization grant (RFC 8628), as a client of a running gateway over HTTP.

It asks `POST /device/authorize` for a code, tells the user where to approve it (on any
browser), polls `POST /token` at the interval the gateway names (longer after
`slow_down`), and returns the token response once the user approved. It needs no storage:
only the gateway's URL and a client registered for the device grant.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx

from ....storage import OAuthGrantType
from .commands import CommandError

SLOW_DOWN_STEP = 5
"""Seconds added to the polling interval after each `slow_down` (RFC 8628 §3.5)."""
_TIMEOUT = 30.0


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise CommandError(f"the gateway answered {response.status_code} without an OAuth answer")
    return body


def device_login(
    gateway: str,
    *,
    client_id: str,
    client_secret: str | None = None,
    scope: str | None = None,
    resource: str | None = None,
    tell: Callable[[str], None],
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Sign a user in through the gateway at `gateway` (its issuer URL) for the client;
    the token response as JSON. `tell` shows the user where to go and the code to type."""
    auth = None if client_secret is None else httpx.BasicAuth(client_id, client_secret)
    identity = {"client_id": client_id} if client_secret is None else {}
    wanted = {name: value for name, value in (("scope", scope), ("resource", resource)) if value}
    with httpx.Client(base_url=gateway, auth=auth, timeout=_TIMEOUT) as http:
        try:
            started = http.post("/device/authorize", data={**identity, **wanted})
        except httpx.HTTPError as exc:
            raise CommandError(f"cannot reach the gateway: {type(exc).__name__}") from None
        body = _json(started)
        if started.status_code != 200:
            raise CommandError(f"the gateway refused: {body.get('error')}: "
                               f"{body.get('error_description')}")  # fmt: skip
        tell(
            f"To sign in, open {body['verification_uri_complete']}\n"
            f"(or {body['verification_uri']} and enter the code {body['user_code']})"
        )
        interval = float(body["interval"])
        poll = {**identity, "grant_type": OAuthGrantType.DEVICE_CODE.value,
                "device_code": body["device_code"]}  # fmt: skip
        while True:
            sleep(interval)
            try:
                answer = http.post("/token", data=poll)
            except httpx.HTTPError as exc:
                raise CommandError(f"cannot reach the gateway: {type(exc).__name__}") from None
            tokens = _json(answer)
            if answer.status_code == 200:
                return json.dumps(tokens, indent=2)
            error = tokens.get("error")
            if error == "authorization_pending":
                continue
            if error == "slow_down":
                interval += SLOW_DOWN_STEP
                continue
            raise CommandError(f"sign-in failed: {error}: {tokens.get('error_description')}")

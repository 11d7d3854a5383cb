"""Signing in at the gateway's sign-in page as a browser would, with httpx: open the page,
read the form's hidden request token, post the form, and read the redirect."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import httpx

_REQUEST_FIELD = re.compile(r'<input type="hidden" name="request" value="([^"]+)">')


def request_token(page: httpx.Response) -> str:
    """The hidden form token (the CSRF token) of a sign-in page."""
    found = _REQUEST_FIELD.search(page.text)
    assert found is not None, page.text
    return html.unescape(found[1])


@dataclass(frozen=True, slots=True)
class Redirect:
    """Where the sign-in sent the browser: the client's redirect URI and its query."""

    location: str
    parameters: dict[str, str]


def redirect_of(response: httpx.Response) -> Redirect:
    """The redirect an answer makes (303 after the form, 303 for errors at `GET`)."""
    assert response.status_code == 303, (response.status_code, response.text)
    location = response.headers["location"]
    query = parse_qs(urlsplit(location).query, strict_parsing=True)
    return Redirect(location, {name: values[0] for name, values in query.items()})


async def post_form(
    browser: httpx.AsyncClient,
    page: httpx.Response,
    username: str,
    password: str,
    action: str = "approve",
) -> httpx.Response:
    """Post the sign-in form of `page` (with the cookies `browser` holds)."""
    return await browser.post(
        str(page.url.copy_with(query=None)),
        data={
            "request": request_token(page),
            "username": username,
            "password": password,
            "action": action,
        },
    )


async def sign_in(
    browser: httpx.AsyncClient, authorization_url: str, username: str, password: str
) -> Redirect:
    """Open `authorization_url`, sign in and allow; the redirect to the client."""
    page = await browser.get(authorization_url)
    assert page.status_code == 200, page.text
    return redirect_of(await post_form(browser, page, username, password))

"""The HTML of the sign-in and consent page, and of the authorization error page. No I/O.

Server-rendered, no JavaScript: a form that posts back to `/authorize`. Every value shown
(client name, resource, scope, user name, messages) is HTML-escaped. The answers may not be
framed (clickjacking), cached or sent to another site as a referrer, and load nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from fastapi.responses import HTMLResponse

PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
_STYLE = (
    "body{font-family:sans-serif;max-width:28em;margin:3em auto;padding:0 1em}"
    "label{display:block;margin:.8em 0 .2em}input{width:100%;padding:.4em}"
    "button{margin:1em .5em 0 0;padding:.5em 1.2em}.error{color:#a00}"
)


def _page(
    title: str, body: str, status: int, headers: dict[str, str] | None = None
) -> HTMLResponse:
    html = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><h1>{escape(title)}</h1>{body}</body></html>\n"
    )
    return HTMLResponse(html, status_code=status, headers={**PAGE_HEADERS, **(headers or {})})


@dataclass(frozen=True, slots=True)
class SignInForm:
    """What the sign-in page shows and carries."""

    request_token: str
    """The pending request's form token (the CSRF token): a hidden field."""
    client_name: str
    resource: str | None
    scope: str
    username: str = ""
    message: str | None = None


def sign_in_page(
    form: SignInForm, status: int = 200, headers: dict[str, str] | None = None
) -> HTMLResponse:
    """The sign-in and consent page: who asks, for which resource and scope, and the form."""
    resource = (
        f"<code>{escape(form.resource)}</code>"
        if form.resource is not None
        else "every protected host of this gateway"
    )
    scope = f"<p>Scope: <code>{escape(form.scope)}</code></p>" if form.scope else ""
    message = f'<p class="error" role="alert">{escape(form.message)}</p>' if form.message else ""
    body = (
        f"<p><strong>{escape(form.client_name)}</strong> asks to access {resource} "
        "on your behalf.</p>"
        f"{scope}{message}"
        '<form method="post" action="/authorize">'
        f'<input type="hidden" name="request" value="{escape(form.request_token)}">'
        '<label for="username">User name</label>'
        '<input id="username" name="username" autocomplete="username" required '
        f'value="{escape(form.username)}">'
        '<label for="password">Password</label>'
        '<input id="password" name="password" type="password" '
        'autocomplete="current-password" required>'
        '<button type="submit" name="action" value="approve">Sign in and allow</button>'
        '<button type="submit" name="action" value="deny" formnovalidate>Deny</button>'
        "</form>"
    )
    return _page("Sign in", body, status, headers)


def error_page(message: str, status: int = 400) -> HTMLResponse:
    """An authorization error shown to the user, never a redirect: for a request whose
    client or redirect URI cannot be trusted, or whose sign-in cannot go on."""
    return _page("Sign-in failed", f'<p class="error" role="alert">{escape(message)}</p>', status)


def device_page(
    user_code: str = "",
    message: str | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
    *,
    username: str = "",
) -> HTMLResponse:
    """The device verification page (RFC 8628 §3.3): the code the device shows, and the
    user's name and password."""
    shown = f'<p class="error" role="alert">{escape(message)}</p>' if message else ""
    body = (
        "<p>Enter the code your device shows, and sign in to let it act on your behalf.</p>"
        f"{shown}"
        '<form method="post" action="/device/verify">'
        '<label for="user_code">Device code</label>'
        '<input id="user_code" name="user_code" autocomplete="off" required '
        f'value="{escape(user_code)}">'
        '<label for="username">User name</label>'
        '<input id="username" name="username" autocomplete="username" required '
        f'value="{escape(username)}">'
        '<label for="password">Password</label>'
        '<input id="password" name="password" type="password" '
        'autocomplete="current-password" required>'
        '<button type="submit" name="action" value="approve">Sign in and allow</button>'
        '<button type="submit" name="action" value="deny" formnovalidate>Deny</button>'
        "</form>"
    )
    return _page("Sign in a device", body, status, headers)


def device_done_page(approved: bool) -> HTMLResponse:
    """What the user sees once the device's request is decided."""
    text = "The device is signed in; you may close this page." if approved else "Denied."
    return _page("Device sign-in", f"<p>{escape(text)}</p>", 200)

"""Reading an OAuth request's form body (RFC 6749 §3.2, §4.1.3 ...). No I/O.

Error messages never quote the body: it holds client secrets and tokens.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


class FormError(ValueError):
    """The request body is not a well-formed OAuth form."""


def parse_form(content_type: str | None, body: bytes) -> dict[str, str]:
    """The parameters of a form body.

    Raises `FormError` for another content type, malformed encoding or a repeated
    parameter (RFC 6749 §3.2: "MUST NOT be included more than once"). Parameters without a
    value count as absent (also §3.2). The body's size is the endpoint's to limit.
    """
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type != FORM_CONTENT_TYPE:
        raise FormError(f"the request body must be {FORM_CONTENT_TYPE}")
    try:
        pairs = parse_qsl(
            body.decode("ascii"), keep_blank_values=True, strict_parsing=True, errors="strict"
        )
    except (UnicodeDecodeError, ValueError):
        raise FormError("the request body is not a well-formed form") from None
    names = [name for name, _ in pairs]
    if len(set(names)) != len(names):
        raise FormError("a parameter is repeated")
    return {name: value for name, value in pairs if value}

"""Reading a request body within a limit, for the API's endpoints that parse one.

A hostile client can announce or send a body of any size; an endpoint that buffers it first
and checks later holds all of it in memory (a 200 MB `/mcp` body grew the process by
127 MB). Here the declared `Content-Length` is checked before anything is read, and reading
stops as soon as the bytes received pass the limit.
"""

from __future__ import annotations

from starlette.requests import Request

CLOSE_CONNECTION = {"Connection": "close"}
"""Headers for an answer given before the body was read: the rest of it is still on the
wire, so the connection cannot carry another request."""


class BodyTooLargeError(Exception):
    """The request body is, or is announced to be, larger than the endpoint accepts."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the request body exceeds {limit} bytes")
        self.limit = limit


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, or `BodyTooLargeError` once it passes `limit` bytes.

    A `Content-Length` above `limit` fails before a byte is read; a body sent without one
    (chunked) fails at the first chunk that passes the limit, the rest left unread.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLargeError(limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BodyTooLargeError(limit)
    return bytes(body)

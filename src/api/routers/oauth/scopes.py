"""Which scope a client is granted. No I/O."""

from __future__ import annotations

from ....storage import InvalidScopeError


def granted_scope(requested: str | None, allowed: str) -> str:
    """The scope to grant: all of `allowed` when none is requested, else `requested` if each
    of its tokens is allowed. Raises `InvalidScopeError` otherwise; the storage checks the
    syntax when it issues the token."""
    if requested is None:
        return allowed
    if not set(requested.split()) <= set(allowed.split()):
        raise InvalidScopeError("the requested scope exceeds what the client may be granted")
    return requested

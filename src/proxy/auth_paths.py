"""Which request paths skip authentication. Security-critical: every doubt means "no".

An exclusion entry covers whole path segments:

- `/token` covers `/token` and everything below it (`/token/`, `/token/x`), never
  `/tokens` or `/token.json`;
- an entry ending in `/`, such as `/device/`, covers `/device/` and everything below it,
  but not the bare `/device`, which is a different resource;
- `/` covers every path.

Matching is case-sensitive (`/TOKEN` is not `/token`) and compares the path exactly as the
client sent it, never decoded. Servers behind the proxy disagree on how to read percent
escapes, backslashes, `;` parameters, dot-segments and doubled slashes, so a path holding
any of those is never excluded: whatever the upstream makes of it, it made it of an
authenticated request. Legitimate clients of the excluded endpoints send plain paths.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

# RFC 3986 path characters except '%'. Anything else (backslash, control characters,
# whitespace, non-ASCII, '?', '#') has no single meaning across servers.
_PLAIN_PATH = re.compile(r"/[A-Za-z0-9\-._~!$&'()*+,;=:@/]*")


def _is_plain(path: str) -> bool:
    if not _PLAIN_PATH.fullmatch(path) or "//" in path:
        return False
    for segment in path.split("/"):
        # Any segment of dots alone counts as a dot-segment, also before `;` parameters
        # (servlet containers read `..;x` as `..`): no excluded endpoint has one.
        name = segment.split(";", 1)[0]
        if name and not name.strip("."):
            return False
    return True


# The entries are a target's few configured paths, checked on each of its requests.
_is_plain_entry = functools.lru_cache(maxsize=1024)(_is_plain)


def _covers(entry: str, path: str) -> bool:
    if not _is_plain_entry(entry):
        return False
    if entry.endswith("/"):
        return path.startswith(entry)
    return path == entry or path.startswith(f"{entry}/")


def is_auth_excluded(path: str, excluded: Sequence[str]) -> bool:
    """Whether a request for `path` may skip authentication under the `excluded` entries.

    `path` is the request target's path as the client sent it (undecoded: in ASGI,
    `scope["raw_path"]` decoded as ASCII), without the query string. `False` for a path
    that is empty, relative, or not plain (see the module docstring). An entry that is not
    itself a plain absolute path covers nothing.
    """
    if isinstance(excluded, str):
        # A lone string is a sequence of one-character entries, and "/" covers everything.
        raise TypeError("`excluded` must be a sequence of paths, not a single string")
    if not _is_plain(path):
        return False
    return any(_covers(entry, path) for entry in excluded)

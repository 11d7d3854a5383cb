"""`is_auth_excluded`: whole-segment matching that no encoding or dot trick can widen."""

from __future__ import annotations

import random
import re
from urllib.parse import unquote

import pytest

from src.proxy.auth_paths import is_auth_excluded
from src.storage import AUTH_EXCLUDED_PATHS

EXCLUDED = [
    "/token",
    "/token/",
    "/token/x",
    "/token/x/y.json",
    "/token/;x",
    "/device/",
    "/device/code",
    "/authorize",
    "/callback",
    "/jwks",
    "/register",
    "/health",
    "/revoke",
    "/introspect",
    "/.well-known/",
    "/.well-known/oauth-authorization-server",
    "/.well-known/openid-configuration",
]

PROTECTED = [
    "",
    "/",
    "token",
    "%2Ftoken",
    "/tokens",
    "/tokens/x",
    "/token.json",
    "/token;x",
    "/TOKEN",
    "/Token/x",
    "/healthz",
    "/registered",
    "/device",
    "/devices/x",
    "/.well-known",
    "/.well-knownx/y",
    "/proxy/targets",
    # Dot-segments, in any position and any disguise.
    "/token/../proxy/targets",
    "/token/./../proxy/targets",
    "/token/..",
    "/token/.",
    "/./token",
    "/x/../token",
    "/token/..;/proxy/targets",
    "/token/.;x/y",
    "/token/.../proxy",
    # Doubled slashes.
    "//token",
    "/token//x",
    "//token/../proxy",
    # Percent-encodings: never decoded, never excluded.
    "/%74oken",
    "/token%2Fx",
    "/token%2fx",
    "/token/%2e%2e/x",
    "/token/%2E%2E/proxy/targets",
    "/token/.%2e/proxy",
    "/token/%252e%252e/proxy",
    "/token/..%5cproxy",
    "/token/%00",
    "/token/%20",
    "/token/%3b",
    # Backslashes, controls, whitespace, non-ASCII, query and fragment delimiters.
    "/token\\..\\proxy",
    "/token/..\\proxy",
    "\\token",
    "/token\x00",
    "/token/\x00/../proxy",
    "/token\n",
    "/token/\r\n",
    "/token\t",
    "/token /x",
    "/token/\x7f",
    "/tokén",
    "/token/\uff0e\uff0e/proxy",
    "/token\uff0fx",
    "/token?x=1",
    "/token#x",
]


@pytest.mark.parametrize("path", EXCLUDED)
def test_excluded(path: str) -> None:
    assert is_auth_excluded(path, AUTH_EXCLUDED_PATHS)


@pytest.mark.parametrize("path", PROTECTED, ids=ascii)
def test_protected(path: str) -> None:
    assert not is_auth_excluded(path, AUTH_EXCLUDED_PATHS)


@pytest.mark.parametrize(
    ("path", "excluded", "expected"),
    [
        ("/anything/at/all", ["/"], True),
        ("/", ["/"], True),
        ("/a/../b", ["/"], False),
        ("/token", [], False),
        ("/token", ["token"], False),
        ("/token", [""], False),
        ("/token/x", ["/token/../x"], False),
        ("/token/x", ["//token"], False),
        ("/token/x", ["/%74oken"], False),
        ("/a/b/c", ["/a/b"], True),
        ("/a/bc", ["/a/b"], False),
        ("/a/b", ["/a/b/"], False),
    ],
)
def test_entries(path: str, excluded: list[str], expected: bool) -> None:
    assert is_auth_excluded(path, excluded) is expected


def test_a_single_string_is_not_a_list_of_entries() -> None:
    with pytest.raises(TypeError, match="single string"):
        is_auth_excluded("/x", "/token")


TRAVERSALS = [
    "/../",
    "/./../",
    "/..;/",
    "/%2e%2e/",
    "/%2E%2E/",
    "/.%2e/",
    "/%2e./",
    "/%252e%252e/",
    "/..%2f",
    "/..%2F",
    "/..%5c",
    "/..\\",
    "\\..\\",
    "//../",
    "/.../../",
    "/%00/../",
    "/..%00/",
    "%2f..%2f",
]


@pytest.mark.parametrize("entry", AUTH_EXCLUDED_PATHS)
@pytest.mark.parametrize("traversal", TRAVERSALS, ids=ascii)
def test_no_traversal_out_of_an_excluded_subtree(entry: str, traversal: str) -> None:
    path = entry.rstrip("/") + traversal + "proxy/targets"
    assert not is_auth_excluded(path, AUTH_EXCLUDED_PATHS)


def upstream_reading(path: str) -> str:
    """The path as the most lenient server behind the proxy would read it: percent-decoded
    twice, backslashes as slashes, `;` parameters dropped, slashes collapsed, dot-segments
    (and every all-dot segment) resolved."""
    decoded = unquote(unquote(path)).replace("\\", "/")
    without_params = "/".join(segment.split(";", 1)[0] for segment in decoded.split("/"))
    segments = re.sub("/{2,}", "/", without_params).split("/")[1:]
    kept: list[str] = []
    for index, segment in enumerate(segments):
        if segment and not segment.strip("."):
            if segment == ".." and kept:
                kept.pop()
            if index == len(segments) - 1:
                kept.append("")
        else:
            kept.append(segment)
    return "/" + "/".join(kept)


def naively_covered(path: str) -> bool:
    return any(
        path.startswith(entry)
        if entry.endswith("/")
        else (path == entry or path.startswith(f"{entry}/"))
        for entry in AUTH_EXCLUDED_PATHS
    )


PIECES = [
    "/", "/", "/", "token", "tokens", "device", ".well-known", "health", "x", "proxy",
    ".", "..", "...", ";", "%2e", "%2E", "%2f", "%2F", "%5c", "%25", "%74", "%00",
    "\\", "\x00", "\n", " ", "?", "#", "é", "TOKEN", "..;",
]  # fmt: skip


def test_excluded_paths_stay_excluded_however_the_upstream_reads_them() -> None:
    generator = random.Random(20240607)
    excluded = 0
    for _ in range(30_000):
        start = generator.choice(["/", *AUTH_EXCLUDED_PATHS])
        path = start + "".join(generator.choices(PIECES, k=generator.randint(0, 6)))
        if is_auth_excluded(path, AUTH_EXCLUDED_PATHS):
            excluded += 1
            assert naively_covered(upstream_reading(path)), path
    # The sample must reach the interesting side too, or it proves nothing.
    assert excluded > 3000

"""The auth decision: which requests need a token, which token they offer, the challenge."""

from __future__ import annotations

import pytest

from src.proxy.authorization import (
    BearerCredentials,
    bearer_credentials,
    challenge,
    requires_token,
)
from src.storage import AUTH_EXCLUDED_PATHS, ProxyTarget


def target(auth_enabled: bool, excluded: list[str]) -> ProxyTarget:
    return ProxyTarget(
        hostname="app.example.com",
        target_url="http://upstream:80",
        auth_enabled=auth_enabled,
        auth_excluded_paths=excluded,
    )


@pytest.mark.parametrize(
    ("auth_enabled", "excluded", "path", "expected"),
    [
        (False, [], "/anything", False),
        (False, [], "/token/../admin", False),
        (True, [], "/token", True),
        (True, list(AUTH_EXCLUDED_PATHS), "/token", False),
        (True, list(AUTH_EXCLUDED_PATHS), "/token/x", False),
        (True, list(AUTH_EXCLUDED_PATHS), "/tokens", True),
        (True, list(AUTH_EXCLUDED_PATHS), "/token/../oauth/status", True),
        (True, list(AUTH_EXCLUDED_PATHS), "/%2Ftoken", True),
        (True, list(AUTH_EXCLUDED_PATHS), "/oauth/status", True),
        (True, ["/"], "/oauth/status", False),
    ],
)
def test_requires_token(auth_enabled: bool, excluded: list[str], path: str, expected: bool) -> None:
    assert requires_token(target(auth_enabled, excluded), path) is expected


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([], BearerCredentials(token=None, presented=False)),
        ([b"Bearer abc.DEF-123"], BearerCredentials(token="abc.DEF-123", presented=True)),
        ([b"bearer abc"], BearerCredentials(token="abc", presented=True)),
        ([b"BEARER   abc  "], BearerCredentials(token="abc", presented=True)),
        ([b"Bearer"], BearerCredentials(token=None, presented=True)),
        ([b"Bearer "], BearerCredentials(token=None, presented=True)),
        ([b"Basic dXNlcjpwYXNz"], BearerCredentials(token=None, presented=True)),
        ([b""], BearerCredentials(token=None, presented=True)),
        ([b"Bearer a", b"Bearer b"], BearerCredentials(token=None, presented=True)),
        ([b"Bearer \xff\xfe"], BearerCredentials(token="\xff\xfe", presented=True)),
    ],
)
def test_bearer_credentials(headers: list[bytes], expected: BearerCredentials) -> None:
    assert bearer_credentials(headers) == expected


def test_challenge() -> None:
    url = "http://app.example.com/.well-known/oauth-protected-resource"
    absent = BearerCredentials(token=None, presented=False)
    assert challenge(absent, url) == f'Bearer resource_metadata="{url}"'
    assert challenge(absent, None) == "Bearer"
    for presented in (BearerCredentials("x", True), BearerCredentials(None, True)):
        assert challenge(presented, url) == (
            f'Bearer error="invalid_token", resource_metadata="{url}"'
        )
        assert challenge(presented, None) == 'Bearer error="invalid_token"'

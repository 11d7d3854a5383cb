"""The proxy application end to end on a real storage: hosts, auth, routes, forwarding.

The proxy is driven through `httpx.ASGITransport`; its upstream is an echo application
served by uvicorn on a loopback port, so each test sees exactly what the proxy sent over
a real socket. Routes are told apart by the base path of the URL they name.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.types import Message, Receive, Scope, Send

from src.proxy.app import ProxyApp
from src.proxy.settings import ProxySettings
from src.storage import (
    AUTH_EXCLUDED_PATHS,
    OAuthGrantType,
    ProxyTarget,
    Route,
    RouteMode,
    RouteTargetType,
    UnifiedStorage,
)
from tests.integration.conftest import SETTINGS, LoopbackServer, api_app
from tests.integration.conftest import proxy_app as make_proxy_app

APP = "app.example.com"
APP_METADATA = f"http://{APP}/.well-known/oauth-protected-resource"
MISSING = f'Bearer resource_metadata="{APP_METADATA}"'
INVALID = f'Bearer error="invalid_token", resource_metadata="{APP_METADATA}"'


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers with what it received, and with hop-by-hop headers the proxy must drop."""
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body", False):
            break
    payload = {
        "method": scope["method"],
        "raw_path": scope["raw_path"].decode(),
        "query": scope["query_string"].decode(),
        "headers": [[name.decode(), value.decode()] for name, value in scope["headers"]],
        "body": body.decode(),
    }
    await send(
        {
            "type": "http.response.start",
            "status": 201,
            "headers": [
                (b"content-type", b"application/json"),
                (b"connection", b"x-hop-response"),
                (b"x-hop-response", b"1"),
                (b"keep-alive", b"timeout=5"),
                (b"proxy-authenticate", b"Basic"),
                (b"set-cookie", b"a=1"),
                (b"set-cookie", b"b=2"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": json.dumps(payload).encode()})


def headers_of(response: httpx.Response) -> dict[str, str]:
    """The headers the upstream saw (the last value of each name)."""
    return {name: value for name, value in response.json()["headers"]}


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    """The echo upstream's URL."""
    with LoopbackServer(echo).running() as server:
        yield server.url


@pytest.fixture
async def proxy_app(storage: UnifiedStorage) -> AsyncIterator[ProxyApp]:
    app = make_proxy_app(storage, ProxySettings(upstream_timeout=5))
    yield app
    await app.aclose()


@pytest.fixture
async def proxy(
    storage: UnifiedStorage, proxy_app: ProxyApp, upstream: str
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the proxy; requests go to `app.example.com` unless told otherwise."""
    await storage.astore_proxy_target(ProxyTarget(hostname=APP, target_url=f"{upstream}/base"))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(proxy_app), base_url=f"http://{APP}"
    ) as client:
        yield client


async def asgi_request(
    app: ProxyApp, headers: list[tuple[bytes, bytes]], raw_path: bytes = b"/", method: str = "GET"
) -> tuple[int, dict[bytes, bytes], bytes]:
    """One request with exactly these headers and raw path, straight through ASGI."""
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": raw_path.decode("latin-1"),
        "raw_path": raw_path,
        "query_string": b"",
        "headers": headers,
        "client": ("192.0.2.1", 50000),
        "server": ("127.0.0.1", 80),
    }
    messages: list[Message] = []
    requested = False

    async def receive() -> Message:
        # As a server does: the (empty) body once, then nothing until the client leaves.
        nonlocal requested
        if requested:
            await asyncio.Event().wait()
        requested = True
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        messages.append(message)

    await app(scope, receive, send)
    start = messages[0]
    body = b"".join(message.get("body", b"") for message in messages[1:])
    return start["status"], dict(start["headers"]), body


async def login(storage: UnifiedStorage) -> str:
    client = await storage.aregister_oauth_client("cli", [OAuthGrantType.REFRESH_TOKEN])
    issued = await storage.aissue_token_pair(client.client.client_id, "alice", "", 60, 600)
    return issued.access_token


# Hosts and targets


async def test_forwards_to_the_target(proxy: httpx.AsyncClient, upstream: str) -> None:
    response = await proxy.post("/x/y?q=1&r=%20", content=b"hello")
    assert response.status_code == 201
    seen = response.json()
    assert (seen["method"], seen["raw_path"], seen["query"], seen["body"]) == (
        "POST",
        "/base/x/y",
        "q=1&r=%20",
        "hello",
    )
    assert headers_of(response)["host"] == upstream.removeprefix("http://")


async def test_host_is_case_insensitive_and_port_stripped(proxy: httpx.AsyncClient) -> None:
    response = await proxy.get("/", headers={"Host": "APP.Example.com:8443"})
    assert response.status_code == 201
    assert headers_of(response)["x-forwarded-host"] == "APP.Example.com:8443"


async def test_unknown_host(proxy: httpx.AsyncClient) -> None:
    response = await proxy.get("/", headers={"Host": "other.example.com"})
    assert (response.status_code, response.text) == (404, "no proxy target for this host\n")


async def test_disabled_target(proxy: httpx.AsyncClient, storage: UnifiedStorage) -> None:
    await storage.aupdate_proxy_target(APP, {"enabled": False})
    response = await proxy.get("/")
    assert (response.status_code, response.text) == (
        503,
        "the proxy target of this host is disabled\n",
    )


@pytest.mark.parametrize(
    ("hosts", "text"),
    [
        ([b"bad host"], b"the Host header is not a hostname with an optional port\n"),
        ([b"[::1]:80"], b"the Host header is not a hostname with an optional port\n"),
        ([b"a.com:99999"], b"the Host header is not a hostname with an optional port\n"),
        ([b"\xff"], b"the Host header is not ASCII\n"),
        ([], b"expected exactly one Host header\n"),
        ([APP.encode(), APP.encode()], b"expected exactly one Host header\n"),
    ],
    ids=ascii,
)
async def test_bad_host(proxy_app: ProxyApp, hosts: list[bytes], text: bytes) -> None:
    status, _, body = await asgi_request(proxy_app, [(b"host", host) for host in hosts])
    assert (status, body) == (400, text)


async def test_only_origin_form_targets(
    storage: UnifiedStorage, proxy_app: ProxyApp, upstream: str
) -> None:
    await storage.astore_proxy_target(ProxyTarget(hostname=APP, target_url=upstream))
    status, _, body = await asgi_request(
        proxy_app, [(b"host", APP.encode())], raw_path=b"*", method="OPTIONS"
    )
    assert (status, body) == (400, b"only origin-form request targets are forwarded\n")


# Authentication


@pytest.fixture
async def protected(proxy: httpx.AsyncClient, storage: UnifiedStorage) -> httpx.AsyncClient:
    await storage.aupdate_proxy_target(
        APP, {"auth_enabled": True, "auth_excluded_paths": list(AUTH_EXCLUDED_PATHS)}
    )
    return proxy


async def test_missing_token(protected: httpx.AsyncClient) -> None:
    response = await protected.get("/private")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == MISSING
    assert response.text == "a valid bearer access token is required\n"


@pytest.mark.parametrize(
    "authorization",
    ["Bearer ", "Bearer not-a-token", "Bearer " + "x" * 100_000, "Basic eDp5", "bearer"],
    ids=lambda value: value[:20],
)
async def test_invalid_token(protected: httpx.AsyncClient, authorization: str) -> None:
    response = await protected.get("/private", headers={"Authorization": authorization})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == INVALID


@pytest.mark.parametrize(
    "authorization", [b"Bearer a\nb", b"Bearer \x00", b"Bearer \xff\xfe", b"Bearer a b"], ids=ascii
)
async def test_hostile_tokens_straight_through_asgi(
    storage: UnifiedStorage, proxy_app: ProxyApp, upstream: str, authorization: bytes
) -> None:
    await storage.astore_proxy_target(
        ProxyTarget(hostname=APP, target_url=upstream, auth_enabled=True)
    )
    status, headers, _ = await asgi_request(
        proxy_app, [(b"host", APP.encode()), (b"authorization", authorization)]
    )
    assert (status, headers[b"www-authenticate"]) == (401, INVALID.encode())


async def test_valid_token(protected: httpx.AsyncClient, storage: UnifiedStorage) -> None:
    token = await login(storage)
    response = await protected.get("/private", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 201
    # The token stays in the gateway; the upstream learns whose it is.
    seen = headers_of(response)
    assert "authorization" not in seen
    assert (seen["x-auth-user"], seen["x-auth-scopes"]) == ("alice", "")


async def test_revoked_token(protected: httpx.AsyncClient, storage: UnifiedStorage) -> None:
    token = await login(storage)
    record = await storage.aget_access_token(token)
    assert record is not None
    await storage.arevoke_token(token, record.client_id)
    response = await protected.get("/private", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


@pytest.mark.parametrize("path", ["/token", "/token/x", "/health", "/.well-known/x"])
async def test_excluded_paths_need_no_token(protected: httpx.AsyncClient, path: str) -> None:
    response = await protected.get(path)
    assert response.status_code == 201


@pytest.mark.parametrize(
    "raw_path",
    [
        b"/tokens/x",
        b"//token",
        b"/healthz",
        b"/registered",
        b"/token;x",
        b"/TOKEN",
    ],
)
async def test_bypass_attempts_need_a_token(
    storage: UnifiedStorage, proxy_app: ProxyApp, upstream: str, raw_path: bytes
) -> None:
    await storage.astore_proxy_target(
        ProxyTarget(
            hostname=APP,
            target_url=upstream,
            auth_enabled=True,
            auth_excluded_paths=list(AUTH_EXCLUDED_PATHS),
        )
    )
    status, headers, _ = await asgi_request(proxy_app, [(b"host", APP.encode())], raw_path=raw_path)
    assert (status, headers[b"www-authenticate"]) == (401, MISSING.encode())


# Protected-resource metadata (RFC 9728)


@pytest.mark.parametrize(
    ("path", "resource"),
    [
        ("/.well-known/oauth-protected-resource", f"http://{APP}:8443"),
        ("/.well-known/oauth-protected-resource/", f"http://{APP}:8443"),
        ("/.well-known/oauth-protected-resource/mcp", f"http://{APP}:8443/mcp"),
        ("/.well-known/oauth-protected-resource/a/b/", f"http://{APP}:8443/a/b/"),
    ],
)
async def test_resource_metadata(protected: httpx.AsyncClient, path: str, resource: str) -> None:
    # No token: the metadata is what a client reads to learn how to get one.
    response = await protected.get(path, headers={"Host": "App.Example.com:8443"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "resource": resource,
        "authorization_servers": [SETTINGS.issuer],
        "bearer_methods_supported": ["header"],
    }


async def test_resource_metadata_with_a_token_and_a_query(
    protected: httpx.AsyncClient, storage: UnifiedStorage
) -> None:
    token = await login(storage)
    response = await protected.get(
        "/.well-known/oauth-protected-resource?x=1", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.json()["resource"] == f"http://{APP}"


@pytest.mark.parametrize(
    "raw_path",
    [
        b"/.well-known/oauth-protected-resource/%22x",
        b"/.well-known/oauth-protected-resource/a%2Fb",
        b"/.well-known/oauth-protected-resource//x",
        b'/.well-known/oauth-protected-resource/"',
    ],
    ids=ascii,
)
async def test_resource_metadata_of_unknown_paths(
    storage: UnifiedStorage, proxy_app: ProxyApp, upstream: str, raw_path: bytes
) -> None:
    await storage.astore_proxy_target(
        ProxyTarget(hostname=APP, target_url=upstream, auth_enabled=True)
    )
    status, _, _ = await asgi_request(proxy_app, [(b"host", APP.encode())], raw_path=raw_path)
    assert status in (400, 404)


async def test_resource_metadata_is_read_only(protected: httpx.AsyncClient) -> None:
    response = await protected.post("/.well-known/oauth-protected-resource", content=b"x")
    assert (response.status_code, response.headers["allow"]) == (405, "GET")


async def test_no_resource_metadata_without_auth(proxy: httpx.AsyncClient) -> None:
    # The target's own upstream answers: the gateway protects nothing there.
    response = await proxy.get("/.well-known/oauth-protected-resource")
    assert response.status_code == 201
    assert response.json()["raw_path"] == "/base/.well-known/oauth-protected-resource"


async def test_resource_metadata_lookalikes_need_a_token(protected: httpx.AsyncClient) -> None:
    response = await protected.get("/.well-known/oauth-protected-resources")
    assert response.status_code == 201  # `/.well-known/` is excluded on this target: forwarded
    bare = await protected.get("/x/.well-known/oauth-protected-resource")
    assert bare.status_code == 401


# Routes


def url_route(route_id: str, pattern: str, url: str, priority: int = 50, **fields: Any) -> Route:
    return Route(
        route_id=route_id,
        path_pattern=pattern,
        target_type=RouteTargetType.URL,
        target_value=url,
        priority=priority,
        **fields,
    )


async def test_routes_by_priority(
    proxy: httpx.AsyncClient, storage: UnifiedStorage, upstream: str
) -> None:
    await storage.astore_route(url_route("api", "/api", f"{upstream}/r-api", 60))
    await storage.astore_route(url_route("admin", "/api/admin", f"{upstream}/r-admin", 70))
    await storage.astore_route(
        url_route("writes", "/api", f"{upstream}/r-writes", 65, methods=["POST"])
    )
    cases = [
        ("GET", "/api/x", "/r-api/api/x"),
        ("POST", "/api/x", "/r-writes/api/x"),
        ("GET", "/api/admin/y", "/r-admin/api/admin/y"),
        ("GET", "/apis", "/base/apis"),
    ]
    for method, path, raw_path in cases:
        response = await proxy.request(method, path)
        assert response.json()["raw_path"] == raw_path


async def test_default_oauth_routes_stay_on_the_gateways_host(proxy: httpx.AsyncClient) -> None:
    # `/token` of another host is that host's own: the OAuth routes apply to `localhost`.
    response = await proxy.post("/token")
    assert (response.status_code, response.json()["raw_path"]) == (201, "/base/token")


async def test_route_modes(
    proxy: httpx.AsyncClient, storage: UnifiedStorage, upstream: str
) -> None:
    await storage.astore_route(url_route("api", "/api", f"{upstream}/r-api"))
    cases: list[tuple[dict[str, Any], str]] = [
        ({"disabled_routes": ["api"]}, "/base"),
        ({"disabled_routes": [], "route_mode": RouteMode.SELECTIVE}, "/base"),
        ({"enabled_routes": ["api"]}, "/r-api"),
        ({"route_mode": RouteMode.NONE}, "/base"),
    ]
    for changes, prefix in cases:
        await storage.aupdate_proxy_target(APP, changes)
        response = await proxy.get("/api/x")
        assert response.json()["raw_path"] == f"{prefix}/api/x", changes


async def test_port_and_hostname_routes(
    proxy: httpx.AsyncClient, storage: UnifiedStorage, upstream: str
) -> None:
    port = upstream.rsplit(":", 1)[1]
    await storage.astore_route(
        Route(route_id="p", path_pattern="/p", target_type=RouteTargetType.PORT, target_value=port)
    )
    await storage.astore_route(
        Route(
            route_id="h",
            path_pattern="/h",
            target_type=RouteTargetType.HOSTNAME,
            target_value="other.example.com",
        )
    )
    await storage.astore_proxy_target(
        ProxyTarget(hostname="other.example.com", target_url=f"{upstream}/other")
    )
    assert (await proxy.get("/p/x")).json()["raw_path"] == "/p/x"
    assert (await proxy.get("/h/x")).json()["raw_path"] == "/other/h/x"
    await storage.aupdate_proxy_target("other.example.com", {"enabled": False})
    response = await proxy.get("/h/x")
    assert (response.status_code, response.text) == (
        503,
        "the proxy target a route forwards to is disabled\n",
    )
    await storage.adelete_proxy_target("other.example.com")
    response = await proxy.get("/h/x")
    assert (response.status_code, response.text) == (
        502,
        "a route names a host without a proxy target\n",
    )


@pytest.mark.parametrize(
    ("target_type", "value", "text"),
    [
        (RouteTargetType.SERVICE, "web", "route 'r' forwards to an unknown service"),
        (RouteTargetType.PORT, "http", "route 'r' names no valid port"),
        (RouteTargetType.URL, "ftp://x", "the upstream URL is not an absolute http(s) URL"),
        (RouteTargetType.HOSTNAME, "not a host!", "a route names an invalid proxy target hostname"),
    ],
)
async def test_unroutable_routes(
    proxy: httpx.AsyncClient,
    storage: UnifiedStorage,
    target_type: RouteTargetType,
    value: str,
    text: str,
) -> None:
    await storage.astore_route(
        Route(route_id="r", path_pattern="/r", target_type=target_type, target_value=value)
    )
    response = await proxy.get("/r")
    assert (response.status_code, response.text) == (502, f"{text}\n")


async def test_misconfigured_target(proxy: httpx.AsyncClient, storage: UnifiedStorage) -> None:
    await storage.aupdate_proxy_target(APP, {"custom_headers": {"X-Bad": "a\r\nb"}})
    response = await proxy.get("/")
    assert response.status_code == 502
    await storage.aupdate_proxy_target(APP, {"custom_headers": {}, "target_url": "127.0.0.1:80"})
    response = await proxy.get("/")
    assert response.status_code == 502


# Headers and bodies


async def test_request_headers(proxy: httpx.AsyncClient, storage: UnifiedStorage) -> None:
    await storage.aupdate_proxy_target(APP, {"custom_headers": {"X-Env": "prod"}})
    response = await proxy.get(
        "/",
        headers={
            "Connection": "keep-alive, X-Hop-Request",
            "X-Hop-Request": "1",
            "Keep-Alive": "timeout=5",
            "TE": "trailers",
            "Upgrade": "h2c",
            "Proxy-Authorization": "Basic eDp5",
            "X-Forwarded-For": "198.51.100.1",
            "X-Forwarded-Proto": "gopher",
            "X-Env": "client",
            "X-Kept": "yes",
        },
    )
    names = [name for name, _ in response.json()["headers"]]
    for dropped in ["connection", "x-hop-request", "keep-alive", "te", "upgrade"]:
        assert dropped not in names
    assert "proxy-authorization" not in names
    seen = headers_of(response)
    assert seen["x-forwarded-for"] == "127.0.0.1"
    assert seen["x-forwarded-proto"] == "http"
    assert seen["x-forwarded-host"] == APP
    assert seen["x-env"] == "prod"
    assert seen["x-kept"] == "yes"


async def test_the_forwarding_client_adds_no_headers_of_its_own(
    storage: UnifiedStorage, proxy_app: ProxyApp, upstream: str
) -> None:
    await storage.astore_proxy_target(ProxyTarget(hostname=APP, target_url=upstream))
    status, _, body = await asgi_request(proxy_app, [(b"host", APP.encode())])
    assert status == 201
    assert json.loads(body)["headers"] == [
        ["host", upstream.removeprefix("http://")],
        ["forwarded", f'for=192.0.2.1;host="{APP}";proto=http'],
        ["x-forwarded-for", "192.0.2.1"],
        ["x-forwarded-proto", "http"],
        ["x-forwarded-host", APP],
        ["x-real-ip", "192.0.2.1"],
    ]


async def test_response_headers_and_status(proxy: httpx.AsyncClient) -> None:
    response = await proxy.get("/")
    assert response.status_code == 201
    assert response.headers.get_list("set-cookie") == ["a=1", "b=2"]
    for dropped in ["x-hop-response", "keep-alive", "proxy-authenticate"]:
        assert dropped not in response.headers


async def test_streamed_request_body(proxy: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for part in [b"one ", b"two ", b"three"]:
            yield part

    response = await proxy.put("/upload", content=chunks())
    assert (response.json()["method"], response.json()["body"]) == ("PUT", "one two three")
    assert headers_of(response)["transfer-encoding"] == "chunked"


async def test_a_body_keeps_its_declared_length_and_an_empty_post_gets_one(
    proxy: httpx.AsyncClient, proxy_app: ProxyApp
) -> None:
    sized = await proxy.post("/upload", content=b"12345")
    assert (sized.json()["body"], headers_of(sized)["content-length"]) == ("12345", "5")
    assert "transfer-encoding" not in headers_of(sized)
    status, _, body = await asgi_request(
        proxy_app, [(b"host", APP.encode())], b"/empty", method="POST"
    )
    assert (status, json.loads(body)["body"]) == (201, "")
    assert ["content-length", "0"] in json.loads(body)["headers"]


# Upstream and storage failures


async def test_upstream_down(
    storage: UnifiedStorage, closed_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    await storage.astore_proxy_target(
        ProxyTarget(hostname=APP, target_url=f"http://127.0.0.1:{closed_port}")
    )
    app = make_proxy_app(storage)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=f"http://{APP}") as c:
        with caplog.at_level(logging.WARNING, logger="src.proxy"):
            response = await c.get("/x?access_token=SECRET-VALUE")
    await app.aclose()
    assert (response.status_code, response.text) == (502, "the upstream is unreachable\n")
    assert caplog.messages == [
        f"upstream http://127.0.0.1:{closed_port} of {APP} failed: ConnectError"
    ]


async def test_an_upstream_whose_certificate_is_not_trusted_is_unreachable(
    storage: UnifiedStorage, certificate: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    chain, key = certificate
    tls = LoopbackServer(echo, ssl_certfile=str(chain), ssl_keyfile=str(key))
    with tls.running():
        url = f"https://localhost:{tls.port}"
        await storage.astore_proxy_target(ProxyTarget(hostname=APP, target_url=url))
        app = make_proxy_app(storage)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app), base_url=f"http://{APP}"
        ) as client:
            with caplog.at_level(logging.WARNING, logger="src.proxy"):
                response = await client.get("/")
        await app.aclose()
    assert (response.status_code, response.text) == (502, "the upstream is unreachable\n")
    assert caplog.messages == [f"upstream {url} of {APP} failed: ConnectError"]


async def client_port(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers with the client's port: a new one is a new connection."""
    if scope["type"] != "http":
        return
    body = str(scope["client"][1]).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


async def test_an_idle_upstream_connection_is_kept_for_the_keepalive_only(
    storage: UnifiedStorage,
) -> None:
    with LoopbackServer(
        client_port, proxy_headers=False, timeout_keep_alive=60
    ).running() as server:
        await storage.astore_proxy_target(ProxyTarget(hostname=APP, target_url=server.url))
        app = make_proxy_app(storage, ProxySettings(upstream_keepalive=0.3))
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app), base_url=f"http://{APP}"
        ) as client:
            first, again = [(await client.get("/")).text for _ in range(2)]
            await asyncio.sleep(0.6)
            later = (await client.get("/")).text
        await app.aclose()
    assert first == again
    assert later != first


async def test_upstream_timeout(storage: UnifiedStorage, silent_server: int) -> None:
    await storage.astore_proxy_target(
        ProxyTarget(hostname=APP, target_url=f"http://127.0.0.1:{silent_server}")
    )
    app = make_proxy_app(storage, ProxySettings(upstream_timeout=0.2))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=f"http://{APP}") as c:
        response = await c.get("/")
    await app.aclose()
    assert (response.status_code, response.text) == (504, "the upstream did not answer in time\n")


async def test_storage_failure_is_503(
    storage: UnifiedStorage, proxy_app: ProxyApp, caplog: pytest.LogCaptureFixture
) -> None:
    await storage.aclose()
    with caplog.at_level(logging.WARNING, logger="src.proxy"):
        status, _, body = await asgi_request(proxy_app, [(b"host", b"a.com")])
    assert (status, body) == (503, b"the gateway's storage is unavailable\n")
    assert caplog.messages[0].startswith("proxy storage error: <UnifiedStorage")


# The ASGI application


async def run_asgi(app: ProxyApp, scope: Scope, inputs: list[Message]) -> list[Message]:
    """Run one ASGI connection that receives `inputs`; what the app sent."""
    pending = iter(inputs)
    sent: list[Message] = []

    async def receive() -> Message:
        return next(pending)

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


async def test_lifespan_runs_the_apis(storage: UnifiedStorage) -> None:
    events: list[str] = []
    api = api_app(storage)

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        events.append("api started")
        yield
        events.append("api stopped")

    api.router.lifespan_context = lifespan
    inbox: asyncio.Queue[Message] = asyncio.Queue()
    outbox: asyncio.Queue[Message] = asyncio.Queue()
    running = asyncio.create_task(
        ProxyApp(storage, api, issuer=SETTINGS.issuer)({"type": "lifespan"}, inbox.get, outbox.put)
    )
    await inbox.put({"type": "lifespan.startup"})
    assert await outbox.get() == {"type": "lifespan.startup.complete"}
    assert events == ["api started"]
    await inbox.put({"type": "lifespan.shutdown"})
    assert await outbox.get() == {"type": "lifespan.shutdown.complete"}
    await running
    assert events == ["api started", "api stopped"]


async def test_websockets_are_refused(proxy_app: ProxyApp) -> None:
    scope: Scope = {"type": "websocket", "path": "/", "headers": []}
    sent = await run_asgi(proxy_app, scope, [{"type": "websocket.connect"}])
    assert sent == [{"type": "websocket.close", "code": 1003}]


async def test_concurrent_requests(proxy: httpx.AsyncClient) -> None:
    responses = await asyncio.gather(*(proxy.get(f"/n/{n}") for n in range(20)))
    assert [r.json()["raw_path"] for r in responses] == [f"/base/n/{n}" for n in range(20)]


async def test_an_upstreams_cookies_go_to_its_client_only(proxy: httpx.AsyncClient) -> None:
    # The echo upstream sets two cookies on every answer: they are the client's, and no
    # later request of another client carries them.
    first = await proxy.get("/")
    assert first.headers.get_list("set-cookie") == ["a=1", "b=2"]
    proxy.cookies.clear()
    second = await proxy.get("/")
    assert "cookie" not in headers_of(second)

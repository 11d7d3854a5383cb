"""What the proxy adds to a request: direct requests to a local upstream against the same
requests through the proxy (target lookup, bearer token check, forwarding), in one run.

Everything runs on loopback: an embedded redis-server, a trivial upstream and the proxy,
each served by uvicorn in a thread of this process, and one `httpx.AsyncClient` (the same
setup for both sides) sending the requests one at a time. Each round times a batch of one
side, then of the other (in alternating order); medians over the rounds are reported,
because this machine is shared and absolute times drift. Redis round trips are counted
with the server's `INFO commandstats` around the proxied batches (the proxy's path sends
plain commands only, no pipelines or scripts, so each command is one round trip).

    python scripts/bench_proxy.py [--requests 300] [--rounds 7]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import redis
import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from src.embedded_redis import EmbeddedRedis
from src.integration import build_api_app
from src.proxy.app import ProxyApp
from src.storage import OAuthGrantType, ProxyTarget, UnifiedStorage

HOST = "bench.example"


async def upstream(scope: Scope, receive: Receive, send: Send) -> None:
    """The trivial upstream: a fixed small answer."""
    if scope["type"] != "http":
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain"), (b"content-length", b"2")],
        }
    )
    await send({"type": "http.response.body", "body": b"ok"})


@contextlib.contextmanager
def served(app: ASGIApp) -> Iterator[str]:
    """Serve `app` with uvicorn on a free loopback port in a thread; yield its URL."""
    # IPPROTO_TCP spelled out: asyncio turns Nagle's algorithm off only on sockets whose
    # protocol says TCP, and a response sent in two writes then waits ~40 ms for an ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, proxy_headers=False)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join()
        sock.close()


def redis_commands(client: redis.Redis) -> dict[str, int]:
    """Calls per command since the server started, without INFO itself."""
    stats = client.info("commandstats")
    return {
        name.removeprefix("cmdstat_"): int(values["calls"])
        for name, values in stats.items()
        if name != "cmdstat_info"
    }


async def batch(client: httpx.AsyncClient, url: str, headers: dict[str, str], n: int) -> float:
    """µs per request over `n` sequential requests."""
    started = time.perf_counter()
    for _ in range(n):
        response = await client.get(url, headers=headers)
        if response.status_code != 200:
            raise RuntimeError(f"{url} answered {response.status_code}")
    return (time.perf_counter() - started) / n * 1e6


async def measure(
    direct_url: str, proxy_url: str, token: str, raw: redis.Redis, requests: int, rounds: int
) -> None:
    direct_headers: dict[str, str] = {}
    proxied_headers = {"Host": HOST, "Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(trust_env=False) as client:
        await batch(client, f"{direct_url}/x", direct_headers, 50)
        await batch(client, f"{proxy_url}/x", proxied_headers, 50)
        direct: list[float] = []
        proxied: list[float] = []
        commands: dict[str, int] = {}
        for index in range(rounds):
            if index % 2:
                direct.append(await batch(client, f"{direct_url}/x", direct_headers, requests))
            before = redis_commands(raw)
            proxied.append(await batch(client, f"{proxy_url}/x", proxied_headers, requests))
            after = redis_commands(raw)
            for name, calls in after.items():
                commands[name] = commands.get(name, 0) + calls - before.get(name, 0)
            if not index % 2:
                direct.append(await batch(client, f"{direct_url}/x", direct_headers, requests))
    added = statistics.median(p - d for p, d in zip(proxied, direct, strict=True))
    per_request = {name: calls / (requests * rounds) for name, calls in commands.items() if calls}
    print(f"{'direct':<28} {statistics.median(direct):>10.1f} µs/request")
    print(f"{'through the proxy':<28} {statistics.median(proxied):>10.1f} µs/request")
    print(f"{'added by the proxy':<28} {added:>10.1f} µs/request (median of paired rounds)")
    print(f"{'Redis round trips':<28} {sum(per_request.values()):>10.2f} per proxied request")
    for name, average in sorted(per_request.items()):
        print(f"  {name:<26} {average:>10.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="requests per batch")
    parser.add_argument("--rounds", type=int, default=7, help="paired batches")
    args = parser.parse_args()
    if not 1 <= args.requests <= 10_000 or not 1 <= args.rounds <= 100:
        parser.error("--requests must be 1-10000 and --rounds 1-100")
    with (
        tempfile.TemporaryDirectory() as data,
        EmbeddedRedis(Path(data), persist=False) as redis_server,
    ):
        storage = UnifiedStorage(redis_server.url, namespace="bench")
        raw = redis.Redis.from_url(redis_server.url)
        try:
            with served(upstream) as upstream_url:
                storage.store_proxy_target(
                    ProxyTarget(hostname=HOST, target_url=upstream_url, auth_enabled=True)
                )
                client_id = storage.register_oauth_client(
                    "bench", [OAuthGrantType.REFRESH_TOKEN]
                ).client.client_id
                token = storage.issue_token_pair(client_id, "bench", "", 3600, 3600).access_token
                # The API it serves in-process on `localhost` is not measured: no routers.
                proxy = ProxyApp(storage, build_api_app(storage, []))
                with served(proxy) as proxy_url:
                    asyncio.run(
                        measure(upstream_url, proxy_url, token, raw, args.requests, args.rounds)
                    )
        finally:
            raw.close()
            storage.close()


if __name__ == "__main__":
    main()

"""What the gateway's proxy adds to a request, against a bare pass-through proxy on the
same stack, in one run.

Everything runs on loopback: an embedded redis-server, a trivial upstream, a bare
pass-through proxy (uvicorn and httpx, forwarding with no lookups at all) and the gateway's
proxy (as `serve` configures it), each served by uvicorn in a process of its own. The
same `httpx.AsyncClient` drives every side, from this process.

- Latency: requests one at a time, the three sides (direct, through the pass-through,
  through the gateway) taking turns request by request, so that drift and hiccups of the
  machine hit all three alike. What each proxy adds is its median request time minus the
  direct median; the ratio of the two is the figure to watch (target: at most 1.25),
  because this machine is shared and absolute times drift. The same ratio per round shows
  how much the machine's noise moves it.
- Throughput: requests/s with 32 concurrent connections, through each proxy.
- Redis round trips per proxied request, from the server's `INFO commandstats` around the
  latency rounds (only the gateway talks to Redis; its path sends plain commands, one
  round trip each; a pipeline or a transaction counts its commands, so the figure is an
  upper bound).

    python scripts/bench_proxy.py [--requests 300] [--rounds 7] [--concurrent-requests 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import socket
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import redis
import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from src.api.async_init import DEFAULT_OAUTH_ISSUER
from src.embedded_redis import EmbeddedRedis
from src.integration import build_api_app
from src.proxy.app import ProxyApp
from src.proxy.connections import bounded_h11_protocol
from src.proxy.settings import ProxySettings
from src.storage import OAuthGrantType, ProxyTarget, UnifiedStorage

HOST = "bench.example"
CONCURRENCY = 32


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


class PassThrough:
    """The baseline: forwards every request to one upstream, streamed both ways, with no
    lookup, no check and no header rules beyond dropping `Host`."""

    def __init__(self, upstream_url: str) -> None:
        self._upstream = upstream_url
        self._client = httpx.AsyncClient(
            trust_env=False, limits=httpx.Limits(max_connections=CONCURRENCY)
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return

        async def body() -> AsyncIterator[bytes]:
            more = True
            while more:
                message = await receive()
                more = message.get("more_body", False)
                yield message.get("body", b"")

        query = scope["query_string"].decode()
        request = httpx.Request(
            scope["method"],
            f"{self._upstream}{scope['raw_path'].decode()}" + (f"?{query}" if query else ""),
            headers=[(name, value) for name, value in scope["headers"] if name != b"host"],
            content=body(),
        )
        response = await self._client.send(request, stream=True)
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status_code,
                    "headers": response.headers.raw,
                }
            )
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            await response.aclose()


def _serve_in_child(make_app: Callable[[], ASGIApp], sock: socket.socket, config: Any) -> None:
    server = uvicorn.Server(
        uvicorn.Config(
            make_app(), log_level="warning", access_log=False, proxy_headers=False, **config
        )
    )
    server.run(sockets=[sock])


@contextlib.contextmanager
def served(make_app: Callable[[], ASGIApp], **config: Any) -> Iterator[str]:
    """Serve the application `make_app()` builds with uvicorn (h11 unless told otherwise)
    on a free loopback port, in a forked process of its own, so that no side shares the
    client's interpreter lock; yield its URL."""
    # IPPROTO_TCP spelled out: asyncio turns Nagle's algorithm off only on sockets whose
    # protocol says TCP, and a response sent in two writes then waits ~40 ms for an ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    process = multiprocessing.get_context("fork").Process(
        target=_serve_in_child, args=(make_app, sock, {"http": "h11", **config}), daemon=True
    )
    process.start()
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if not process.is_alive() or time.monotonic() > deadline:
                    raise RuntimeError("uvicorn did not start") from None
                time.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.join(10)
        sock.close()


def redis_commands(client: redis.Redis) -> dict[str, int]:
    """Calls per command since the server started, without INFO itself."""
    stats = client.info("commandstats")
    return {
        name.removeprefix("cmdstat_"): int(values["calls"])
        for name, values in stats.items()
        if name != "cmdstat_info"
    }


async def interleaved(
    client: httpx.AsyncClient, urls: dict[str, str], headers: dict[str, dict[str, str]], n: int
) -> dict[str, list[float]]:
    """µs of each of `n` requests per side, one at a time, the sides taking turns request by
    request (in rotating order): whatever the machine does meanwhile, every side shares it."""
    sides = list(urls)
    times: dict[str, list[float]] = {side: [] for side in sides}
    for index in range(n):
        for side in sides[index % 3 :] + sides[: index % 3]:
            started = time.perf_counter()
            response = await client.get(f"{urls[side]}/x", headers=headers[side])
            times[side].append((time.perf_counter() - started) * 1e6)
            if response.status_code != 200:
                raise RuntimeError(f"{urls[side]} answered {response.status_code}")
    return times


async def throughput(client: httpx.AsyncClient, url: str, headers: dict[str, str], n: int) -> float:
    """Requests/s for `n` requests over `CONCURRENCY` concurrent connections."""
    remaining = n

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            response = await client.get(url, headers=headers)
            if response.status_code != 200:
                raise RuntimeError(f"{url} answered {response.status_code}")

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return n / (time.perf_counter() - started)


async def measure(
    urls: dict[str, str], token: str, raw: redis.Redis, args: argparse.Namespace
) -> None:
    headers = {
        "direct": {},
        "pass-through": {},
        "gateway": {"Host": HOST, "Authorization": f"Bearer {token}"},
    }
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(trust_env=False, limits=limits, timeout=30) as client:
        await interleaved(client, urls, headers, 50)
        before = redis_commands(raw)
        rounds = [
            await interleaved(client, urls, headers, args.requests) for _ in range(args.rounds)
        ]
        after = redis_commands(raw)
        rates = {
            side: await throughput(
                client, f"{urls[side]}/x", headers[side], args.concurrent_requests
            )
            for side in ("pass-through", "gateway")
        }
    median = {side: statistics.median(t for times in rounds for t in times[side]) for side in urls}
    added = {side: median[side] - median["direct"] for side in ("pass-through", "gateway")}
    per_round = sorted(_latency_ratio(times) for times in rounds)
    gateway_requests = args.requests * args.rounds
    per_request = {
        name: (calls - before.get(name, 0)) / gateway_requests
        for name, calls in after.items()
        if calls > before.get(name, 0)
    }
    rows = [("direct", f"{median['direct']:.1f} µs/request")]
    for side in ("pass-through", "gateway"):
        rows.append((f"through the {side}", f"{median[side]:.1f} µs/request"))
        rows.append((f"  added by the {side}", f"{added[side]:.1f} µs/request"))
    latency_ratio = added["gateway"] / added["pass-through"]
    rows.append(("added latency, gateway/pass-through", f"{latency_ratio:.2f}x (target <= 1.25)"))
    rows.append(
        (
            f"  over {args.rounds} rounds of {args.requests}",
            f"{per_round[0]:.2f}x to {per_round[-1]:.2f}x, "
            f"median {statistics.median(per_round):.2f}x",
        )
    )
    for side in ("pass-through", "gateway"):
        rows.append((f"{side} at {CONCURRENCY} concurrent", f"{rates[side]:.0f} requests/s"))
    rows.append(
        ("throughput, gateway/pass-through", f"{rates['gateway'] / rates['pass-through']:.2f}x")
    )
    round_trips = sum(per_request.values())
    rows.append(("Redis round trips", f"{round_trips:.2f} per proxied request (target <= 1)"))
    for label, value in rows:
        print(f"{label:<38} {value}")
    for name, average in sorted(per_request.items()):
        print(f"  {name:<36} {average:.2f}")


def _latency_ratio(times: dict[str, list[float]]) -> float:
    direct = statistics.median(times["direct"])
    return (statistics.median(times["gateway"]) - direct) / (
        statistics.median(times["pass-through"]) - direct
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="requests per batch")
    parser.add_argument("--rounds", type=int, default=7, help="rounds of batches")
    parser.add_argument(
        "--concurrent-requests", type=int, default=2000, help="requests per throughput run"
    )
    args = parser.parse_args()
    if not (
        1 <= args.requests <= 10_000
        and 1 <= args.rounds <= 100
        and 1 <= args.concurrent_requests <= 100_000
    ):
        parser.error("--requests must be 1-10000, --rounds 1-100, --concurrent-requests 1-100000")
    settings = ProxySettings()
    with (
        tempfile.TemporaryDirectory() as data,
        EmbeddedRedis(Path(data), persist=False) as redis_server,
    ):
        storage = UnifiedStorage(redis_server.url, namespace="bench")
        raw = redis.Redis.from_url(redis_server.url)
        try:
            with served(lambda: upstream) as upstream_url:
                storage.store_proxy_target(
                    ProxyTarget(hostname=HOST, target_url=upstream_url, auth_enabled=True)
                )
                client_id = storage.register_oauth_client(
                    "bench", [OAuthGrantType.REFRESH_TOKEN]
                ).client.client_id
                token = storage.issue_token_pair(client_id, "bench", "", 3600, 3600).access_token

                def gateway() -> ProxyApp:
                    # In the gateway's own process, with a storage of its own, as `serve` runs.
                    own = UnifiedStorage(redis_server.url, namespace="bench")
                    return ProxyApp(
                        own, build_api_app(own, []), settings, issuer=DEFAULT_OAUTH_ISSUER
                    )

                with (
                    served(lambda: PassThrough(upstream_url)) as pass_through_url,
                    served(gateway, http=bounded_h11_protocol(settings), ws="none") as gateway_url,
                ):
                    urls = {
                        "direct": upstream_url,
                        "pass-through": pass_through_url,
                        "gateway": gateway_url,
                    }
                    asyncio.run(measure(urls, token, raw, args))
        finally:
            raw.close()
            storage.close()


if __name__ == "__main__":
    main()

"""UnifiedStorage against the raw redis-py clients, in one run against one server.

Sync `get`/`set`/`get_proxy_target` against `redis.Redis` (GET + decode), and their async
twins against `redis.asyncio.Redis`. Each baseline runs twice: with redis-py's defaults,
and with the socket timeouts the storage always sets (a storage call never hangs; on the
async side each read then arms a timer). Each round times a batch of every side in rotating
order; ratios are taken within a round and their median over the rounds is printed, because
this machine is shared and absolute times drift.

    python scripts/bench_storage.py [--ops 500] [--rounds 21]

Uses REDIS_URL when set (only keys under a fresh namespace are written, and deleted), else
an embedded redis-server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path

import redis
import redis.asyncio

from src.embedded_redis import EmbeddedRedis
from src.storage import ProxyTarget, UnifiedStorage

HOST = "bench.example.com"
TIMEOUT = 5.0
SIDES = ("storage", "raw", "raw+timeouts")

SyncCall = Callable[[], object]
AsyncCall = Callable[[], Awaitable[object]]


@contextlib.contextmanager
def server_url() -> Iterator[str]:
    configured = os.environ.get("REDIS_URL")
    if configured:
        yield configured
        return
    with tempfile.TemporaryDirectory() as data, EmbeddedRedis(Path(data), persist=False) as server:
        yield server.url


def time_sync(call: SyncCall, ops: int) -> float:
    started = time.perf_counter()
    for _ in range(ops):
        call()
    return (time.perf_counter() - started) / ops * 1e6


async def time_async(call: AsyncCall, ops: int) -> float:
    started = time.perf_counter()
    for _ in range(ops):
        await call()
    return (time.perf_counter() - started) / ops * 1e6


def rotations(rounds: int) -> Iterator[list[int]]:
    """Side orders for each round, rotating so no side always runs first."""
    for round_ in range(rounds):
        yield [(round_ + offset) % len(SIDES) for offset in range(len(SIDES))]


def report(name: str, samples: Sequence[list[float]]) -> None:
    ours = samples[0]
    medians = [statistics.median(side) for side in samples]
    ratios = [
        statistics.median(mine / theirs for mine, theirs in zip(ours, side, strict=True))
        for side in samples[1:]
    ]
    print(
        f"{name:<24}"
        + "".join(f"{value:>14.1f}" for value in medians)
        + "".join(f"{value:>14.3f}" for value in ratios)
    )


def header() -> None:
    print("µs per operation (medians over rounds); ratios taken within each round")
    print(
        f"{'operation':<24}"
        + "".join(f"{side:>14}" for side in SIDES)
        + "".join(f"{'vs ' + side:>17}" for side in SIDES[1:])
    )


def decoded(stored: object) -> object:
    return stored.decode() if isinstance(stored, bytes) else stored


def proxy_target(stored: object) -> ProxyTarget | None:
    return ProxyTarget.model_validate_json(stored) if isinstance(stored, bytes) else None


def bench_sync(storage: UnifiedStorage, url: str, namespace: str, ops: int, rounds: int) -> None:
    value_key, proxy_key = f"{namespace}:kv:key", f"{namespace}:proxy:{HOST}"
    raw = redis.Redis.from_url(url)
    timed = redis.Redis.from_url(url, socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT)

    def get(client: redis.Redis) -> SyncCall:
        return lambda: decoded(client.get(value_key))

    def set_(client: redis.Redis) -> SyncCall:
        return lambda: client.set(value_key, b"value")

    def get_proxy(client: redis.Redis) -> SyncCall:
        return lambda: proxy_target(client.get(proxy_key))

    cases: list[tuple[str, list[SyncCall]]] = [
        ("get", [lambda: storage.get("key"), get(raw), get(timed)]),
        ("set", [lambda: storage.set("key", "value"), set_(raw), set_(timed)]),
        ("get_proxy_target", [lambda: storage.get_proxy_target(HOST), get_proxy(raw),
                              get_proxy(timed)]),
    ]  # fmt: skip
    with raw, timed:
        for name, calls in cases:
            samples: list[list[float]] = [[] for _ in SIDES]
            for order in rotations(rounds):
                for side in order:
                    samples[side].append(time_sync(calls[side], ops))
            report(f"sync {name}", samples)


async def bench_async(
    storage: UnifiedStorage, url: str, namespace: str, ops: int, rounds: int
) -> None:
    value_key, proxy_key = f"{namespace}:kv:key", f"{namespace}:proxy:{HOST}"
    raw = redis.asyncio.Redis.from_url(url)
    timed = redis.asyncio.Redis.from_url(
        url, socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT
    )

    def get(client: redis.asyncio.Redis) -> AsyncCall:
        async def call() -> object:
            return decoded(await client.get(value_key))

        return call

    def set_(client: redis.asyncio.Redis) -> AsyncCall:
        async def call() -> object:
            return await client.set(value_key, b"value")

        return call

    def get_proxy(client: redis.asyncio.Redis) -> AsyncCall:
        async def call() -> object:
            return proxy_target(await client.get(proxy_key))

        return call

    cases: list[tuple[str, list[AsyncCall]]] = [
        ("get", [lambda: storage.aget("key"), get(raw), get(timed)]),
        ("set", [lambda: storage.aset("key", "value"), set_(raw), set_(timed)]),
        ("get_proxy_target", [lambda: storage.aget_proxy_target(HOST), get_proxy(raw),
                              get_proxy(timed)]),
    ]  # fmt: skip
    try:
        for name, calls in cases:
            samples: list[list[float]] = [[] for _ in SIDES]
            for order in rotations(rounds):
                for side in order:
                    samples[side].append(await time_async(calls[side], ops))
            report(f"async a{name}", samples)
    finally:
        await raw.aclose()
        await timed.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ops", type=int, default=500, help="operations per batch")
    parser.add_argument("--rounds", type=int, default=21, help="rounds per case")
    args = parser.parse_args()
    namespace = f"bench-{uuid.uuid4().hex[:8]}"
    with server_url() as url:
        storage = UnifiedStorage(url, namespace=namespace)
        try:
            storage.initialize()
            storage.set("key", "value")
            storage.store_proxy_target(ProxyTarget(hostname=HOST, target_url="http://127.0.0.1:1"))
            header()
            bench_sync(storage, url, namespace, args.ops, args.rounds)
            asyncio.run(bench_async(storage, url, namespace, args.ops, args.rounds))
        finally:
            with redis.Redis.from_url(url) as cleanup:
                keys = list(cleanup.scan_iter(match=f"{namespace}:*"))
                if keys:
                    cleanup.delete(*keys)
            storage.close()


if __name__ == "__main__":
    main()

"""UnifiedStorage against the raw redis-py clients, in one run against one server.

Sync `get`/`set`/`get_proxy_target` against `redis.Redis` (GET + decode), and their async
twins against `redis.asyncio.Redis`. Each round times a batch of one side, then of the
other (in alternating order), and the ratio is taken within the round; the medians over the
rounds are reported, because this machine is shared and absolute times drift.

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
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import redis
import redis.asyncio

from src.embedded_redis import EmbeddedRedis
from src.storage import ProxyTarget, UnifiedStorage

HOST = "bench.example.com"


@contextlib.contextmanager
def server_url() -> Iterator[str]:
    configured = os.environ.get("REDIS_URL")
    if configured:
        yield configured
        return
    with tempfile.TemporaryDirectory() as data, EmbeddedRedis(Path(data), persist=False) as server:
        yield server.url


def time_sync(operation: Callable[[], object], ops: int) -> float:
    started = time.perf_counter()
    for _ in range(ops):
        operation()
    return (time.perf_counter() - started) / ops * 1e6


async def time_async(operation: Callable[[], Awaitable[object]], ops: int) -> float:
    started = time.perf_counter()
    for _ in range(ops):
        await operation()
    return (time.perf_counter() - started) / ops * 1e6


Case = tuple[str, Callable[[], object], Callable[[], object]]
AsyncCase = tuple[str, Callable[[], Awaitable[object]], Callable[[], Awaitable[object]]]


def report(name: str, ours: list[float], theirs: list[float]) -> None:
    ratio = statistics.median(mine / raw for mine, raw in zip(ours, theirs, strict=True))
    mine, raw = statistics.median(ours), statistics.median(theirs)
    print(f"{name:<24} {mine:>10.1f} {raw:>10.1f} {ratio:>8.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ops", type=int, default=500, help="operations per batch")
    parser.add_argument("--rounds", type=int, default=21, help="paired batches per case")
    args = parser.parse_args()
    namespace = f"bench-{uuid.uuid4().hex[:8]}"
    with server_url() as url:
        storage = UnifiedStorage(url, namespace=namespace)
        raw = redis.Redis.from_url(url)
        try:
            storage.initialize()
            storage.set("key", "value")
            storage.store_proxy_target(ProxyTarget(hostname=HOST, target_url="http://127.0.0.1:1"))
            value_key, proxy_key = f"{namespace}:kv:key", f"{namespace}:proxy:{HOST}"

            def raw_get() -> object:
                stored = raw.get(value_key)
                return stored.decode() if isinstance(stored, bytes) else stored

            def raw_get_proxy() -> object:
                stored = raw.get(proxy_key)
                return ProxyTarget.model_validate_json(stored) if stored else None

            cases: list[Case] = [
                ("get", lambda: storage.get("key"), raw_get),
                ("set", lambda: storage.set("key", "value"), lambda: raw.set(value_key, b"value")),
                ("get_proxy_target", lambda: storage.get_proxy_target(HOST), raw_get_proxy),
            ]
            print("medians over the rounds; the ratio is taken within each paired round")
            print(f"{'operation':<24} {'storage µs':>10} {'raw µs':>10} {'ratio':>8}")
            for name, ours, theirs in cases:
                mine, baseline = [], []
                for round_ in range(args.rounds):
                    if round_ % 2:
                        baseline.append(time_sync(theirs, args.ops))
                        mine.append(time_sync(ours, args.ops))
                    else:
                        mine.append(time_sync(ours, args.ops))
                        baseline.append(time_sync(theirs, args.ops))
                report(f"sync {name}", mine, baseline)
            asyncio.run(bench_async(storage, url, value_key, proxy_key, args.ops, args.rounds))
        finally:
            keys = list(raw.scan_iter(match=f"{namespace}:*"))
            if keys:
                raw.delete(*keys)
            raw.close()
            storage.close()


async def bench_async(
    storage: UnifiedStorage, url: str, value_key: str, proxy_key: str, ops: int, rounds: int
) -> None:
    raw = redis.asyncio.Redis.from_url(url)

    async def raw_get() -> object:
        stored = await raw.get(value_key)
        return stored.decode() if isinstance(stored, bytes) else stored

    async def raw_set() -> object:
        return await raw.set(value_key, b"value")

    async def raw_get_proxy() -> object:
        stored = await raw.get(proxy_key)
        return ProxyTarget.model_validate_json(stored) if stored else None

    cases: list[AsyncCase] = [
        ("get", lambda: storage.aget("key"), raw_get),
        ("set", lambda: storage.aset("key", "value"), raw_set),
        ("get_proxy_target", lambda: storage.aget_proxy_target(HOST), raw_get_proxy),
    ]
    try:
        for name, ours, theirs in cases:
            mine, baseline = [], []
            for round_ in range(rounds):
                if round_ % 2:
                    baseline.append(await time_async(theirs, ops))
                    mine.append(await time_async(ours, ops))
                else:
                    mine.append(await time_async(ours, ops))
                    baseline.append(await time_async(theirs, ops))
            report(f"async a{name}", mine, baseline)
    finally:
        await raw.aclose()


if __name__ == "__main__":
    main()

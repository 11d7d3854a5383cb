"""UnifiedStorage against the raw redis-py clients, in one run against one server, or
(`--cluster`) against a Redis Cluster of three primaries that the run starts.

Sync `get`/`set`/`get_proxy_target` against `redis.Redis` (GET + decode), and their async
twins against `redis.asyncio.Redis`. Each baseline runs twice: with redis-py's defaults,
and with the socket timeouts the storage always sets (a storage call never hangs; on the
async side each read then arms a timer). Each round times a batch of every side in rotating
order; ratios are taken within a round and their median over the rounds is printed, because
this machine is shared and absolute times drift.

With `--cluster`: sync `get`, `set`, `get_access_token`, `issue_token_pair` and
`rotate_refresh_token` against `redis.cluster.RedisCluster` sending the same commands to
the same keys (schema v2) with no storage around them: the token check's GET and decode;
the issue's MULTI/EXEC in the grant's slot and its two index updates; the rotation's GET
and its writes, without the script's checks.

    python scripts/bench_storage.py [--ops 500] [--rounds 21]
    python scripts/bench_storage.py --cluster [--ops 200] [--rounds 11]

Uses REDIS_URL when set (only keys under a fresh namespace are written, and deleted), else
an embedded redis-server; `--cluster` always starts its own cluster on loopback ports
(`tests/redis_topologies.py`), and stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import os
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import redis
import redis.asyncio
import redis.cluster

from src.embedded_redis import EmbeddedRedis
from src.storage import AccessTokenRecord, OAuthGrantType, ProxyTarget, UnifiedStorage

ROOT = Path(__file__).resolve().parent.parent
# The cluster harness is the test suite's (the checkout, not an installed package).
sys.path.insert(0, str(ROOT))
from tests.redis_topologies import Cluster  # noqa: E402

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


CLUSTER_SIDES = ("storage", "RedisCluster")
ACCESS_TTL_MS, REFRESH_TTL_MS = 600_000, 3_600_000


class RawGrants:
    """Schema v2 token writes and reads done with a bare `RedisCluster`: what the storage
    does for a token, minus the storage (no validation, no scripts' checks)."""

    def __init__(self, raw: redis.cluster.RedisCluster, namespace: str, client_id: str) -> None:
        self.raw, self.namespace, self.client_id = raw, namespace, client_id

    def tag(self, family: str, entity: str) -> str:
        return f"{{{self.namespace}:{family}:{entity}}}"

    def token_key(self, family_id: str, kind: str, token: str) -> str:
        return f"{self.tag('grant', family_id)}:{kind}:{hashlib.sha256(token.encode()).hexdigest()}"

    def record(self, family_id: str, kind: str) -> bytes:
        now = time.time()
        return (
            f'{{"client_id":"{self.client_id}","user":"alice","scope":"read",'
            f'"family_id":"{family_id}","issued_at":{now},"expires_at":{now + 600},'
            f'"kind":"{kind}"}}'
        ).encode()

    def _index(self, family_id: str, tokens: list[tuple[str, str]], drop: str | None) -> None:
        expiry = round(time.time() * 1000) + REFRESH_TTL_MS
        for index in (f"{self.tag('client', self.client_id)}:tokens",
                      f"{self.tag('user-tokens', 'alice')}:tokens"):  # fmt: skip
            pipe = self.raw.pipeline(transaction=True)
            if drop is not None:
                pipe.zrem(index, drop)
            pipe.zadd(index, {f"{family_id}:{kind}:{key}": expiry for kind, key in tokens})
            pipe.pexpire(index, REFRESH_TTL_MS)
            pipe.execute()

    def _store(self, family_id: str) -> tuple[str, str]:
        access, refresh = (f"{family_id}.{secrets.token_urlsafe(32)}" for _ in range(2))
        members = "{" + self.namespace + ":grant:" + family_id + "}:members"
        pipe = self.raw.pipeline(transaction=True)
        pipe.set(self.token_key(family_id, "access", access), self.record(family_id, "access"),
                 px=ACCESS_TTL_MS)  # fmt: skip
        pipe.set(self.token_key(family_id, "refresh", refresh),
                 self.record(family_id, "refresh"), px=REFRESH_TTL_MS)  # fmt: skip
        pipe.sadd(members, "access:x", "refresh:y")
        pipe.pexpire(members, REFRESH_TTL_MS)
        pipe.execute()
        return access, refresh

    def issue(self) -> tuple[str, str]:
        family_id = secrets.token_hex(16)
        access, refresh = self._store(family_id)
        self._index(family_id, [("access", access), ("refresh", refresh)], None)
        return access, refresh

    def get_access_token(self, token: str) -> AccessTokenRecord | None:
        family_id = token.split(".", 1)[0]
        stored = self.raw.get(self.token_key(family_id, "access", token))
        return AccessTokenRecord.model_validate_json(stored) if stored else None

    def rotate(self, refresh: str) -> str:
        family_id = refresh.split(".", 1)[0]
        key = self.token_key(family_id, "refresh", refresh)
        self.raw.get(key)
        self.raw.set(key, self.record(family_id, "refresh"), keepttl=True)
        access, new_refresh = self._store(family_id)
        self._index(family_id, [("access", access), ("refresh", new_refresh)], "refresh:x")
        return new_refresh


def bench_cluster(ops: int, rounds: int) -> None:
    """The storage on the run's own 3-primary cluster against a bare `RedisCluster`."""
    namespace = f"bench-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as directory:
        cluster = Cluster(Path(directory))
        raw: Any = redis.cluster.RedisCluster.from_url(cluster.url)
        storage = UnifiedStorage(cluster.url, namespace=namespace)
        try:
            storage.initialize()
            grants = [OAuthGrantType.REFRESH_TOKEN]
            client_id = storage.register_oauth_client("bench", grants).client.client_id
            bare = RawGrants(raw, namespace, client_id)
            issued = storage.issue_token_pair(client_id, "alice", "read", 600, 3600)
            raw_access, raw_refresh = bare.issue()
            refresh = {"storage": issued.refresh_token or "", "raw": raw_refresh}

            def rotate_storage() -> None:
                pair = storage.rotate_refresh_token(refresh["storage"], client_id, 600, 3600)
                refresh["storage"] = pair.refresh_token or ""

            def rotate_raw() -> None:
                refresh["raw"] = bare.rotate(refresh["raw"])

            value_key = f"{namespace}:kv:key"
            storage.set("key", "value")
            cases: list[tuple[str, list[SyncCall]]] = [
                ("get", [lambda: storage.get("key"), lambda: decoded(raw.get(value_key))]),
                ("set", [lambda: storage.set("key", "value"),
                         lambda: raw.set(value_key, b"value")]),
                ("get_access_token", [lambda: storage.get_access_token(issued.access_token),
                                      lambda: bare.get_access_token(raw_access)]),
                ("issue_token_pair", [
                    lambda: storage.issue_token_pair(client_id, "alice", "read", 600, 3600),
                    bare.issue,
                ]),
                ("rotate_refresh_token", [rotate_storage, rotate_raw]),
            ]  # fmt: skip
            print("Redis Cluster, 3 primaries on loopback")
            print("µs per operation (medians over rounds); ratio taken within each round")
            print(
                f"{'operation':<28}"
                + "".join(f"{side:>14}" for side in CLUSTER_SIDES)
                + f"{'storage/raw':>14}"
            )
            for name, calls in cases:
                samples: list[list[float]] = [[], []]
                for round_ in range(rounds):
                    for side in (round_ % 2, 1 - round_ % 2):
                        samples[side].append(time_sync(calls[side], ops))
                ratio = statistics.median(
                    mine / theirs for mine, theirs in zip(*samples, strict=True)
                )
                print(
                    f"{'sync ' + name:<28}"
                    + "".join(f"{statistics.median(side):>14.1f}" for side in samples)
                    + f"{ratio:>14.2f}"
                )
        finally:
            storage.close()
            raw.close()
            cluster.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ops", type=int, default=None, help="operations per batch")
    parser.add_argument("--rounds", type=int, default=None, help="rounds per case")
    parser.add_argument(
        "--cluster", action="store_true", help="against a 3-primary cluster this run starts"
    )
    args = parser.parse_args()
    if args.cluster:
        bench_cluster(args.ops or 200, args.rounds or 11)
        return
    args.ops, args.rounds = args.ops or 500, args.rounds or 21
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
                for pattern in (f"{namespace}:*", f"{{{namespace}:*"):
                    keys = list(cleanup.scan_iter(match=pattern))
                    if keys:
                        cleanup.delete(*keys)
            storage.close()


if __name__ == "__main__":
    main()

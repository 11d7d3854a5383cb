"""The composition root: the one place that creates the storage and hands it out.

`python -m src check-startup` runs startup without serving and checks that it created
exactly one storage.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from .api.async_init import AsyncComponents, init_async_components
from .embedded_redis import EmbeddedRedis, EmbeddedRedisError
from .storage import (
    StorageError,
    StorageInstanceInfo,
    UnifiedStorage,
    assert_single_instance,
)

EMBEDDED_DATA_DIR = Path(".gateway") / "redis"


@contextmanager
def redis_url() -> Iterator[str]:
    """`REDIS_URL` when set, else the URL of an embedded Redis that lives for the block."""
    configured = os.environ.get("REDIS_URL")
    if configured:
        yield configured
        return
    with EmbeddedRedis(EMBEDDED_DATA_DIR) as server:
        yield server.url


async def startup(url: str) -> AsyncComponents:
    """Create and initialise the one storage, wire the components on it, and check that
    nothing else created a storage meanwhile."""
    storage = UnifiedStorage(url)
    try:
        await storage.ainitialize()
        components = await init_async_components(url, storage)
        assert_single_instance()
    except BaseException:
        await storage.aclose()
        raise
    return components


async def shutdown(components: AsyncComponents) -> None:
    """Release what `startup` acquired."""
    await components.storage.aclose()


async def _check_startup(url: str) -> StorageInstanceInfo:
    components = await startup(url)
    try:
        return assert_single_instance()
    finally:
        await shutdown(components)


def check_startup() -> int:
    """Run startup without serving; 0 when it created exactly one storage."""
    try:
        with redis_url() as url:
            instance = asyncio.run(_check_startup(url))
    except (StorageError, EmbeddedRedisError) as exc:
        print(f"startup check failed: {exc}", file=sys.stderr)
        return 1
    print(f"startup created exactly one storage: {instance}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """The `python -m src` command line."""
    parser = argparse.ArgumentParser(prog="python -m src", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("check-startup", help="run startup without serving and check it")
    parser.parse_args(argv)
    return check_startup()

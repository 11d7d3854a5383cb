"""One instance, many threads, loops and processes."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable

import pytest

from src.storage import SyncCallInAsyncContextError, UnifiedStorage

INCREMENTS = 200


def run_in_threads(count: int, work: Callable[[], None]) -> None:
    start = threading.Barrier(count)
    errors: list[BaseException] = []

    def worker() -> None:
        start.wait()
        try:
            work()
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_counter_from_eight_threads(storage: UnifiedStorage) -> None:
    def work() -> None:
        for _ in range(INCREMENTS):
            storage.incr("counter")

    run_in_threads(8, work)
    assert storage.get("counter") == str(8 * INCREMENTS)


def test_counter_from_four_threads_each_with_its_own_loop(storage: UnifiedStorage) -> None:
    async def increments() -> None:
        await asyncio.gather(*(storage.aincr("counter") for _ in range(INCREMENTS)))

    run_in_threads(4, lambda: asyncio.run(increments()))
    assert storage.get("counter") == str(4 * INCREMENTS)


def test_async_api_across_separate_asyncio_runs(storage: UnifiedStorage) -> None:
    async def step(value: str) -> str | None:
        previous = await storage.aget("key")
        await storage.aset("key", value)
        return previous

    assert asyncio.run(step("one")) is None
    assert asyncio.run(step("two")) == "one"
    assert asyncio.run(step("three")) == "two"


async def test_sync_api_through_to_thread_inside_a_live_loop(storage: UnifiedStorage) -> None:
    await asyncio.to_thread(storage.set, "key", "from a worker thread")
    assert await asyncio.to_thread(storage.get, "key") == "from a worker thread"
    assert await storage.aget("key") == "from a worker thread"


async def test_sync_call_inside_a_loop_names_the_async_twin(storage: UnifiedStorage) -> None:
    with pytest.raises(SyncCallInAsyncContextError, match=r"await storage\.aget_proxy_target"):
        storage.get_proxy_target("localhost")
    with pytest.raises(SyncCallInAsyncContextError, match=r"storage\.aclose"):
        storage.close()


def test_forked_child_uses_both_apis(storage: UnifiedStorage) -> None:
    storage.set("parent", "p")
    asyncio.run(storage.aset("parent-async", "pa"))
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report through the pipe, never return into pytest
        code = 1
        try:
            storage.set("child", storage.get("parent") or "")
            asyncio.run(storage.aset("child-async", (await_get(storage, "parent-async")) or ""))
            os.write(write, b"ok")
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    assert os.read(read, 16) == b"ok"
    os.close(read)
    assert os.waitstatus_to_exitcode(status) == 0
    assert storage.get("child") == "p"
    assert storage.get("child-async") == "pa"


def await_get(storage: UnifiedStorage, key: str) -> str | None:
    return asyncio.run(storage.aget(key))

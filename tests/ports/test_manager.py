"""`PortManager`: allocation rules, and no port handed out twice across threads and processes."""

from __future__ import annotations

import multiprocessing
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.context import SpawnProcess
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest

from src.ports.manager import PortManager
from src.storage import InvalidKeyError, NoFreePortError, UnifiedStorage

START = 31000
PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (31001, 31000, "start must not exceed end"),
        (0, 10, "start must be a port number"),
        (1, 65536, "end must be a port number"),
        (True, 10, "start must be a port number"),
        (1, 10.0, "end must be a port number"),
        (1, "10", "end must be a port number"),
    ],
)
def test_invalid_range(storage: UnifiedStorage, start: int, end: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PortManager(storage, start, end)


def test_allocate_release_and_reuse(storage: UnifiedStorage) -> None:
    manager = PortManager(storage, START, START + 3)
    assert [manager.allocate("web"), manager.allocate("web"), manager.allocate("api")] == [
        START,
        START + 1,
        START + 2,
    ]
    assert manager.ports_of("web") == [START, START + 1]
    assert manager.release(START) is True
    assert manager.release(START) is False
    assert manager.allocate("api") == START
    assert manager.allocate("db") == START + 3
    with pytest.raises(NoFreePortError):
        manager.allocate("db")
    assert manager.release_service("api") == [START, START + 2]
    assert manager.ports_of("api") == []
    assert manager.allocate("db") == START


def test_managers_of_other_ranges_share_the_allocations(storage: UnifiedStorage) -> None:
    wide = PortManager(storage, START, START + 9)
    narrow = PortManager(storage, START + 1, START + 2)
    assert narrow.allocate("web") == START + 1
    assert wide.allocate("web") == START
    assert wide.allocate("web") == START + 2
    assert narrow.ports_of("web") == [START, START + 1, START + 2]


def test_hostile_service_name(storage: UnifiedStorage) -> None:
    manager = PortManager(storage, START, START + 9)
    with pytest.raises(InvalidKeyError):
        manager.allocate("web:*")
    assert manager.allocate("web") == START


def test_no_port_twice_across_threads(storage: UnifiedStorage) -> None:
    threads, per_thread = 8, 25
    manager = PortManager(storage, START, START + threads * per_thread - 1)
    ready = threading.Barrier(threads)

    def allocate_many(worker: int) -> list[int]:
        ready.wait()
        return [manager.allocate(f"worker-{worker}") for _ in range(per_thread)]

    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(allocate_many, range(threads)))

    allocated = [port for ports in results for port in ports]
    assert len(allocated) == len(set(allocated)) == threads * per_thread
    assert set(allocated) == set(range(manager.start, manager.end + 1))
    for worker, ports in enumerate(results):
        assert manager.ports_of(f"worker-{worker}") == sorted(ports)
    with pytest.raises(NoFreePortError):
        manager.allocate("late")


def allocate_in_child(
    redis_url: str,
    namespace: str,
    service: str,
    count: int,
    ready: Barrier,
    results: Queue[list[int]],
) -> None:
    """A spawned process's own composition root: one storage, one manager."""
    storage = UnifiedStorage(redis_url, namespace=namespace)
    try:
        manager = PortManager(storage, START, START + 2 * count - 1)
        ready.wait(timeout=30)
        results.put([manager.allocate(service) for _ in range(count)])
    finally:
        storage.close()


@pytest.fixture
def importable_tests(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let spawned children import this module (pytest imports it with importlib)."""
    monkeypatch.syspath_prepend(str(PROJECT_ROOT))


def collect(results: Queue[list[int]], children: list[SpawnProcess]) -> list[list[int]]:
    """One result per child; fails at once if a child dies instead of waiting for it."""
    collected: list[list[int]] = []
    deadline = time.monotonic() + 60
    while len(collected) < len(children):
        try:
            collected.append(results.get(timeout=0.1))
        except queue.Empty:
            crashed = [child.exitcode for child in children if child.exitcode not in (None, 0)]
            if crashed or time.monotonic() > deadline:
                pytest.fail(f"children did not report (exit codes {crashed})")
    return collected


def test_no_port_twice_across_processes(
    redis_url: str, namespace: str, storage: UnifiedStorage, importable_tests: None
) -> None:
    per_process = 50
    context = multiprocessing.get_context("spawn")
    ready = context.Barrier(2)
    results: Queue[list[int]] = context.Queue()
    children = [
        context.Process(
            target=allocate_in_child,
            args=(redis_url, namespace, f"process-{index}", per_process, ready, results),
        )
        for index in range(2)
    ]
    for child in children:
        child.start()
    try:
        allocated = collect(results, children)
    finally:
        for child in children:
            child.join(timeout=60)
        results.close()
        results.join_thread()
    assert [child.exitcode for child in children] == [0, 0]

    union = [port for ports in allocated for port in ports]
    assert len(union) == len(set(union)) == 2 * per_process
    assert set(union) == set(range(START, START + 2 * per_process))
    owned = [storage.list_ports(f"process-{index}") for index in range(2)]
    assert sorted(owned) == sorted(sorted(ports) for ports in allocated)

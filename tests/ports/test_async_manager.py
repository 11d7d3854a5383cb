"""`AsyncPortManager`: the same rules from async code, and no port twice across tasks."""

from __future__ import annotations

import asyncio

import pytest

from src.ports.async_manager import AsyncPortManager
from src.storage import NoFreePortError, UnifiedStorage

START = 32000


@pytest.mark.parametrize(("start", "end"), [(32001, 32000), (0, 10), (1, 65536), (False, 10)])
def test_invalid_range(storage: UnifiedStorage, start: int, end: int) -> None:
    with pytest.raises(ValueError, match="port"):
        AsyncPortManager(storage, start, end)


async def test_allocate_release_and_reuse(storage: UnifiedStorage) -> None:
    manager = AsyncPortManager(storage, START, START + 2)
    assert await manager.allocate("web") == START
    assert await manager.allocate("api") == START + 1
    assert await manager.allocate("web") == START + 2
    with pytest.raises(NoFreePortError):
        await manager.allocate("db")
    assert await manager.ports_of("web") == [START, START + 2]
    assert await manager.release(START + 1) is True
    assert await manager.release(START + 1) is False
    assert await manager.allocate("db") == START + 1
    assert await manager.release_service("web") == [START, START + 2]
    assert await manager.ports_of("web") == []


async def test_no_port_twice_across_tasks(storage: UnifiedStorage) -> None:
    tasks = 60
    manager = AsyncPortManager(storage, START, START + tasks - 1)
    allocated = await asyncio.gather(*(manager.allocate(f"task-{i % 4}") for i in range(tasks)))
    assert sorted(allocated) == list(range(START, START + tasks))
    with pytest.raises(NoFreePortError):
        await manager.allocate("late")

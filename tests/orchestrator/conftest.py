"""The orchestrator on the test's storage, its components built as the composition root does."""

from __future__ import annotations

import pytest

from src.api.async_init import init_async_components
from src.orchestrator import MainOrchestrator
from src.storage import UnifiedStorage

PORT_RANGE = (30000, 30009)


@pytest.fixture
async def orchestrator(redis_url: str, storage: UnifiedStorage) -> MainOrchestrator:
    """An orchestrator whose Docker services get ports from `PORT_RANGE`."""
    return MainOrchestrator(await init_async_components(redis_url, storage, port_range=PORT_RANGE))

"""The API's async components, built from the storage the composition root passes in.

This module never creates a storage: the real migration left a fallback
`AsyncRedisStorage(redis_url)` here, which gave the process a second storage whose
defaults differed (and `/token` then demanded a bearer token).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..storage import UnifiedStorage, redact_url


@dataclass(frozen=True, slots=True)
class AsyncComponents:
    """What the API serves with; every component shares the one storage."""

    storage: UnifiedStorage
    redis_url: str
    """Where the storage lives, password redacted (for status pages and logs)."""


async def init_async_components(redis_url: str, storage: UnifiedStorage) -> AsyncComponents:
    """Build the async components on `storage`, which must already be initialised."""
    return AsyncComponents(storage=storage, redis_url=redact_url(redis_url))

"""Deprecated: the old sync storage module. Use `from src.storage import UnifiedStorage`."""

from __future__ import annotations

import warnings
from typing import Any

from .unified_storage import UnifiedStorage

__all__ = ["RedisStorage"]


class RedisStorage(UnifiedStorage):
    """Deprecated alias of `UnifiedStorage`: same blocking methods, same single instance."""

    def __init__(self, redis_url: str | None = None, **options: Any) -> None:
        warnings.warn(
            "RedisStorage is deprecated: use `from src.storage import UnifiedStorage` and take "
            "the instance the composition root passes in",
            DeprecationWarning,
            stacklevel=2,
        )
        super().__init__(redis_url, **options)

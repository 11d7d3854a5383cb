"""Test support: a pytest fixture around the registry's explicit test API.

Enable it with `pytest_plugins = ["src.storage.testing"]` in a conftest.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ._registry import isolated_storage_registry


@pytest.fixture
def storage_registry() -> Iterator[None]:
    """Give the test an empty storage registry and restore the previous one afterwards."""
    with isolated_storage_registry():
        yield

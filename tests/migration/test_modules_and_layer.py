"""Module-path resolution, and the rename table read off the storage class."""

from __future__ import annotations

from pathlib import Path

import pytest
from storage_migration import ModulePath, StorageLayer, method_renames, migrate_source
from storage_migration.modules import module_path_for


@pytest.mark.parametrize(
    ("module", "dots", "name", "expected"),
    [
        (ModulePath("src.main"), 1, "storage.redis_storage", "src.storage.redis_storage"),
        (ModulePath("src.api.async_init"), 2, "storage", "src.storage"),
        (ModulePath("src.api.routers.health"), 3, "storage", "src.storage"),
        (ModulePath("src.api.routers.mcp.mcp"), 4, "storage", "src.storage"),
        (ModulePath("src.api.routers.mcp.mcp"), 5, "storage", None),
        (ModulePath("src.api", is_package=True), 1, "async_init", "src.api.async_init"),
        (ModulePath("src.api", is_package=True), 2, None, "src"),
        (ModulePath("src.api"), 0, "src.storage", "src.storage"),
    ],
)
def test_relative_imports_resolve_like_python(
    module: ModulePath, dots: int, name: str | None, expected: str | None
) -> None:
    assert module.resolve(dots, name) == expected


def test_the_facade_is_named_at_the_same_depth() -> None:
    mcp = ModulePath("src.api.routers.mcp.mcp")
    assert mcp.relative_name(4, "src.storage") == "storage"
    assert mcp.relative_name(4, "src") == ""
    assert mcp.relative_name(1, "src.storage") is None


def test_module_paths_follow_the_init_files(tmp_path: Path) -> None:
    package = tmp_path / "src" / "api" / "routers"
    package.mkdir(parents=True)
    for folder in (tmp_path / "src", tmp_path / "src" / "api", package):
        (folder / "__init__.py").write_text("")
    assert module_path_for(package / "health.py") == ModulePath("src.api.routers.health")
    assert module_path_for(package / "__init__.py") == ModulePath("src.api.routers", True)
    assert module_path_for(tmp_path / "script.py") == ModulePath("script")


class StandIn:
    """A storage class with twins, a lone async method and private helpers."""

    def get(self) -> None: ...
    async def aget(self) -> None: ...
    def frobnicate(self) -> None: ...
    async def afrobnicate(self) -> None: ...
    async def add(self) -> None: ...
    def _helper(self) -> None: ...
    async def a_helper(self) -> None: ...

    @property
    def size(self) -> int:
        return 0

    @property
    def asize(self) -> int:
        return 0


def test_the_rename_table_is_every_public_a_twin() -> None:
    assert method_renames(StandIn) == {"frobnicate": "afrobnicate", "get": "aget"}


def test_the_real_facade_has_every_twin_of_the_spec(layer: StorageLayer) -> None:
    for old in (
        "get_proxy_target",
        "store_proxy_target",
        "list_proxy_targets",
        "update_proxy_target",
        "delete_proxy_target",
        "store_route",
        "get_route",
        "list_routes",
        "delete_route",
        "get",
        "set",
        "delete",
        "incr",
        "initialize",
        "close",
        "health_check",
    ):
        assert layer.method_renames[old] == f"a{old}"
    assert "UnifiedStorage" in layer.public_names
    assert not layer.public_names & layer.deprecated_names


def test_a_twin_added_later_is_renamed_too(layer: StorageLayer) -> None:
    grown = StorageLayer(
        method_renames={**layer.method_renames, **method_renames(StandIn)},
        public_names=layer.public_names,
    )
    source = (
        "from ..storage import UnifiedStorage\n\n\n"
        "async def poke(storage: UnifiedStorage) -> None:\n"
        "    await storage.frobnicate()\n"
    )
    module = ModulePath("src.api.poke")
    assert "storage.afrobnicate()" in migrate_source(source, module, grown).migrated
    assert not migrate_source(source, module, layer).changed

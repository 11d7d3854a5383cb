"""The layer, read statically off the target's storage package: never imported."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from storage_guard.config import load_config
from storage_guard.migration import (
    LayerError,
    SourceFile,
    StorageLayer,
    load_layer,
    method_renames,
    migrate_source,
)
from storage_guard.modules import ModulePath


def write_tree(root: Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


def layer_of(root: Path, files: dict[str, str], *, package: str = "src.storage") -> StorageLayer:
    write_tree(root, {"src/main.py": "", **files})
    (root / "pyproject.toml").write_text(
        f'[tool.storage-guard]\npackage = "{package}"\ncomposition-roots = ["src/main.py"]\n'
    )
    return load_layer(load_config(pyproject=root / "pyproject.toml"))


RECORDS = {
    "src/storage/__init__.py": """\
        from ._models import ProxyTarget
        from .unified_storage import UnifiedStorage

        __all__ = ["ProxyTarget", "UnifiedStorage", "RedisStorage"]
        """,
    "src/storage/_models.py": "class ProxyTarget: ...\n",
    "src/storage/unified_storage.py": """\
        from typing import Generic, TypeVar

        from . import _values
        from ._impl import Joined as _Joined

        T = TypeVar("T")


        class UnifiedStorage(_values.ValueRecords, _Joined, Generic[T]):
            def close(self) -> None: ...
            async def aclose(self) -> None: ...
        """,
    "src/storage/_values.py": """\
        import redis


        class ValueRecords(redis.Redis):
            def get(self, key): ...
            async def aget(self, key): ...
            async def add(self, key): ...

            @property
            def size(self) -> int: ...

            @property
            def asize(self) -> int: ...
        """,
    "src/storage/_impl.py": """\
        from ._base import Base as Joined
        """,
    "src/storage/_base.py": """\
        class Base:
            def frobnicate(self): ...
            async def afrobnicate(self): ...
            def _helper(self): ...
            async def a_helper(self): ...
        """,
}


def test_twins_come_from_the_class_and_its_bases_inside_the_package(tmp_path: Path) -> None:
    layer = layer_of(tmp_path, RECORDS)
    assert layer.method_renames == {"close": "aclose", "frobnicate": "afrobnicate", "get": "aget"}
    assert layer.public_names == {"ProxyTarget", "UnifiedStorage"}, "deprecated names dropped"
    assert layer.notice is None


def test_nothing_of_the_target_is_imported(tmp_path: Path) -> None:
    broken = {**RECORDS, "src/storage/_models.py": "raise SystemExit('imported!')\n"}
    # Not this repository's `src.storage` either, which has dozens of twins.
    assert layer_of(tmp_path, broken).method_renames == {
        "close": "aclose",
        "frobnicate": "afrobnicate",
        "get": "aget",
    }


def test_without_all_the_public_names_are_what_the_facade_binds(tmp_path: Path) -> None:
    layer = layer_of(
        tmp_path,
        {
            "src/storage/__init__.py": """\
                import json
                from ._db import UnifiedStorage, _private
                from ._errors import StorageError as Error

                VERSION = 1


                def connect() -> None: ...
                """,
            "src/storage/_db.py": "class UnifiedStorage: ...\n_private = 1\n",
            "src/storage/_errors.py": "class StorageError(Exception): ...\n",
        },
    )
    assert layer.public_names == {"json", "UnifiedStorage", "Error", "VERSION", "connect"}


def test_a_forwarding_class_has_no_twins_and_says_so(tmp_path: Path) -> None:
    layer = layer_of(
        tmp_path,
        {
            "src/storage/__init__.py": "from ._unified import UnifiedStorage\n",
            "src/storage/_unified.py": """\
                class UnifiedStorage:
                    def __getattr__(self, name):
                        return getattr(self._backend, name)
                """,
        },
    )
    assert layer.method_renames == {}
    assert layer.notice == "UnifiedStorage defines no async twins: only imports are rewritten"


def test_a_facade_that_does_not_bind_the_class_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(LayerError, match="does not define or import a class 'UnifiedStorage'"):
        layer_of(tmp_path, {"src/storage/__init__.py": "from redis import Redis\n"})


def test_a_namespace_facade_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(LayerError, match=r"no __init__\.py"):
        layer_of(tmp_path, {"src/storage/_db.py": "class UnifiedStorage: ...\n"})


def test_the_rename_table_is_every_public_a_twin() -> None:
    methods = frozenset({"get", "aget", "add", "frobnicate", "afrobnicate", "_x", "a_x"})
    assert method_renames(methods) == {"frobnicate": "afrobnicate", "get": "aget"}


def test_this_repositorys_facade_has_every_twin_of_the_spec(layer: StorageLayer) -> None:
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


def test_a_call_is_renamed_only_to_a_twin_the_target_defines(tmp_path: Path) -> None:
    """The gateway's bug: awaited calls renamed to methods its own class does not have."""
    layer = layer_of(
        tmp_path,
        {
            "src/storage/__init__.py": "from ._unified import UnifiedStorage\n",
            "src/storage/_unified.py": """\
                class UnifiedStorage:
                    def get_proxy_target(self, host): ...
                    async def aget_proxy_target(self, host): ...
                    def delete_proxy_target(self, host): ...
                """,
        },
    )
    source = (
        "from ..storage import UnifiedStorage\n\n\n"
        "async def poke(storage: UnifiedStorage) -> None:\n"
        "    await storage.get_proxy_target('h')\n"
        "    await storage.delete_proxy_target('h')\n"
    )
    migrated = migrate_source(source, SourceFile(ModulePath("src.api.poke"), "x.py"), layer)
    assert "await storage.aget_proxy_target('h')" in migrated.migrated
    assert "await storage.delete_proxy_target('h')" in migrated.migrated
    assert migrated.manual == ()

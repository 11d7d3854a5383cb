"""Module names from file paths, relative import resolution, and name conventions."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from storage_guard.modules import (
    ModulePath,
    is_dotted_name,
    is_private_name,
    module_path,
    resolve_relative,
)

ROOT = Path(os.sep, "project")


def under(*parts: str) -> str:
    return str(ROOT.joinpath(*parts))


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (under("src", "main.py"), ModulePath("src.main")),
        (under("src", "__init__.py"), ModulePath("src", is_package=True)),
        (under("src", "storage", "__init__.py"), ModulePath("src.storage", is_package=True)),
        (
            under("src", "api", "routers", "mcp", "mcp.py"),
            ModulePath("src.api.routers.mcp.mcp"),
        ),
        (under("setup.py"), ModulePath("setup")),
        (under("src", "types.pyi"), ModulePath("src.types")),
        (under("__init__.py"), None),
        (under("scripts", "bench-lint.py"), None),
        (under("src", "class.py"), None),
        (under("src", "data.txt"), None),
        (under("src", "script"), None),
        (os.path.join(os.sep, "projects", "src", "main.py"), None),
        (os.path.join(os.sep, "elsewhere", "main.py"), None),
    ],
)
def test_module_path(path: str, expected: ModulePath | None) -> None:
    assert module_path(path, [ROOT]) == expected


def test_module_path_uses_the_deepest_source_root() -> None:
    roots = [ROOT / "src", ROOT]
    assert module_path(under("src", "app", "x.py"), roots) == ModulePath("app.x")
    assert module_path(under("tools", "x.py"), roots) == ModulePath("tools.x")


@pytest.mark.parametrize(
    ("package", "level", "module", "expected"),
    [
        (
            "src.api.routers.mcp",
            4,
            "storage._async_redis_storage",
            "src.storage._async_redis_storage",
        ),
        ("src.proxy", 2, "storage", "src.storage"),
        ("src.proxy", 1, None, "src.proxy"),
        ("src.proxy", 2, None, "src"),
        ("src", 1, "storage", "src.storage"),
        ("src", 2, "storage", None),
        ("", 1, "storage", None),
    ],
)
def test_resolve_relative(
    package: str, level: int, module: str | None, expected: str | None
) -> None:
    assert resolve_relative(package, level, module) == expected


@pytest.mark.parametrize(
    ("name", "package"),
    [("._x", "src.storage"), ("..storage._x", "src.api"), ("..", "a.b.c"), ("...x", "a.b.c")],
)
def test_resolve_relative_agrees_with_importlib(name: str, package: str) -> None:
    relative = name.lstrip(".")
    level = len(name) - len(relative)
    assert resolve_relative(package, level, relative or None) == importlib.util.resolve_name(
        name, package
    )


@pytest.mark.parametrize(
    ("name", "private"),
    [("_keys", True), ("_", True), ("__private", True), ("keys", False), ("__init__", False)],
)
def test_is_private_name(name: str, private: bool) -> None:
    assert is_private_name(name) is private


@pytest.mark.parametrize(
    ("value", "dotted"),
    [
        ("src.storage", True),
        ("storage", True),
        ("_private.x1", True),
        ("src..storage", False),
        ("src.storage.", False),
        ("src-storage", False),
        ("src.class", False),
        ("1src", False),
        ("", False),
    ],
)
def test_is_dotted_name(value: str, dotted: bool) -> None:
    assert is_dotted_name(value) is dotted

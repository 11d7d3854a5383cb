"""The STG rules on source snippets, through `StorageChecker.run` as flake8 calls it.

Results read `line:col CODE` with the column as flake8 prints it (1-based). The project
lives in `tmp_path`: the source root, with `src/storage` as the storage package and
`src/main.py` as the composition root.
"""

from __future__ import annotations

import ast
import textwrap
from collections.abc import Sequence
from pathlib import Path

import pytest
from flake8.options.manager import OptionManager

from flake8_storage_plugin import StorageChecker, config_from_options
from storage_guard import Config

COMPONENT = "src/app/component.py"


def settings_for(root: Path, *argv: str) -> Config:
    """The configuration from flake8's own option manager, with `root` as the project (its
    storage package and composition root exist, as the configuration demands)."""
    (root / "src" / "storage").mkdir(parents=True, exist_ok=True)
    (root / "src" / "main.py").touch()
    manager = OptionManager(version="test", plugin_versions="", parents=[], formatter_names=[])
    StorageChecker.add_options(manager)
    project = [
        f"--storage-source-roots={root}",
        f"--storage-composition-roots={root / 'src' / 'main.py'}",
    ]
    return config_from_options(manager.parse_args([*project, *argv]))


def run(
    root: Path,
    source: str,
    path: str = COMPONENT,
    *,
    settings: Config | None = None,
    with_lines: bool = False,
) -> list[tuple[int, int, str]]:
    text = textwrap.dedent(source)
    lines = text.splitlines(keepends=True) if with_lines else None
    checker = StorageChecker(
        ast.parse(text), str(root / path), lines, config=settings or settings_for(root)
    )
    return [(line, col + 1, message) for line, col, message, _ in checker.run()]


def codes(
    root: Path, source: str, path: str = COMPONENT, *, options: Sequence[str] = ()
) -> list[str]:
    """`line:col CODE` of each violation; `options` are extra command-line options."""
    settings = settings_for(root, *options)
    return [
        f"{line}:{col} {message.split(' ', 1)[0]}"
        for line, col, message in run(root, source, path, settings=settings)
    ]


def messages(root: Path, source: str, path: str = COMPONENT) -> list[str]:
    return [f"{line}:{col} {message}" for line, col, message in run(root, source, path)]


# STG001: private storage modules


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import src.storage._keys", ["1:8 STG001"]),
        ("import src.storage._keys as keys", ["1:8 STG001"]),
        ("import os, src.storage._keys", ["1:12 STG001"]),
        ("from src.storage._keys import make_key, KEY", ["1:31 STG001"]),
        ("from src.storage import _keys", ["1:25 STG001"]),
        ("from src.storage import UnifiedStorage, _keys", ["1:41 STG001"]),
        ("from src.storage.backends._pool import Pool", ["1:40 STG001"]),
        ("from src.storage._backends.pool import Pool", ["1:40 STG001"]),
        ("from src.storage.unified_storage import _helper", ["1:41 STG001"]),
        ("from src.storage import (\n    Route,\n    _keys,\n)", ["3:5 STG001"]),
        ("from .storage import _keys", ["1:22 STG001"]),
    ],
)
def test_stg001_private_module_imported(tmp_path: Path, source: str, expected: list[str]) -> None:
    assert codes(tmp_path, source, "src/app.py") == expected


def test_stg001_deep_relative_import_resolves_against_the_module_path(tmp_path: Path) -> None:
    source = "from ....storage._async_redis_storage import AsyncRedisStorage\n"
    assert messages(tmp_path, source, "src/api/routers/mcp/mcp.py") == [
        "1:46 STG001 'src.storage._async_redis_storage' is private to src.storage; "
        "import from src.storage instead"
    ]


@pytest.mark.parametrize(
    "source",
    [
        "from src.storage import UnifiedStorage, Route, StorageError",
        "from src.storage import __version__",
        "import src.storage",
        "from src import storage",
        "from src.storage_extras import _private",
        "from src.storage_extras._private import tool",
        "from other.storage import _private",
        "import _thread, __future__",
        "from ...storage import _private",  # resolves to src.api.storage
        "from .routes import _helpers",
    ],
)
def test_stg001_not_for_public_or_unrelated_imports(tmp_path: Path, source: str) -> None:
    assert codes(tmp_path, source, "src/api/routers/mcp/mcp.py") == []


@pytest.mark.parametrize(
    "path",
    ["src/storage/__init__.py", "src/storage/unified_storage.py", "src/storage/sub/_deep.py"],
)
def test_everything_is_allowed_inside_the_storage_package(tmp_path: Path, path: str) -> None:
    source = """\
        import importlib
        from src.storage._keys import make_key
        from src.storage.redis_storage import RedisStorage
        from src.storage.unified_storage import UnifiedStorage
        importlib.import_module("src.storage._codec")
        UnifiedStorage(url)
        RedisStorage(url)
    """
    assert codes(tmp_path, source, path) == []


def test_a_package_named_like_the_storage_package_is_not_inside_it(tmp_path: Path) -> None:
    assert codes(tmp_path, "import src.storage._keys", "src/storage_extras/tool.py") == [
        "1:8 STG001"
    ]


# STG002: deprecated storage modules and names


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from src.storage import AsyncRedisStorage", ["1:25 STG002"]),
        ("from src.storage import RedisStorage as Old", ["1:25 STG002"]),
        ("from src.storage import UnifiedStorage, RedisStorage", ["1:41 STG002"]),
        ("from src.storage import redis_storage", ["1:25 STG002"]),
        ("import src.storage.redis_storage", ["1:8 STG002"]),
        ("import src.storage.async_redis_storage as old", ["1:8 STG002"]),
        # One report for the module, not one more for each name.
        ("from src.storage.async_redis_storage import AsyncRedisStorage, x", ["1:45 STG002"]),
        ("from ..storage import AsyncRedisStorage", ["1:23 STG002"]),
        ("from ..storage.redis_storage import RedisStorage", ["1:37 STG002"]),
        ("from .. import storage", []),
        ("from limits.storage import RedisStorage", []),
        ("from aiogram.fsm.storage.redis import RedisStorage", []),
        ("from src.storage_extras import AsyncRedisStorage", []),
    ],
)
def test_stg002_deprecated_module_or_name(tmp_path: Path, source: str, expected: list[str]) -> None:
    assert codes(tmp_path, source, "src/proxy/app.py") == expected


def test_stg002_message_names_the_replacement(tmp_path: Path) -> None:
    assert messages(tmp_path, "from ..storage import AsyncRedisStorage", "src/proxy/app.py") == [
        "1:23 STG002 'src.storage.AsyncRedisStorage' is deprecated; "
        "use 'from src.storage import UnifiedStorage'"
    ]


def test_stg002_follows_the_configured_deprecations(tmp_path: Path) -> None:
    source = """\
        from src.storage import RedisStorage
        from src.storage import legacy
        from src.storage.v1.store import Store
    """
    options = ["--storage-deprecated-names=Store", "--storage-deprecated-modules=legacy, v1.store"]
    assert codes(tmp_path, source, options=options) == ["2:25 STG002", "3:34 STG002"]


# STG003: storage constructed outside a composition root


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("AsyncRedisStorage(url)", ["1:1 STG003"]),
        ("UnifiedStorage(url)", ["1:1 STG003"]),
        ("from src.storage import UnifiedStorage\nUnifiedStorage(url)", ["2:1 STG003"]),
        ("from src.storage import UnifiedStorage as S\nx = S(url)", ["2:5 STG003"]),
        ("from src import storage\nstorage.UnifiedStorage(url)", ["2:1 STG003"]),
        ("import src.storage\nsrc.storage.UnifiedStorage(url)", ["2:1 STG003"]),
        ("src.storage.UnifiedStorage(url)", ["1:1 STG003"]),
        (
            "import src.storage.unified_storage as u\nu.UnifiedStorage(url)",
            ["1:8 STG005", "2:1 STG003"],
        ),
        ("src.storage.unified_storage.UnifiedStorage(url)", ["1:1 STG003"]),
        ("import src.storage as s\ns.RedisStorage(url)", ["2:1 STG003"]),
        ("from ..storage import UnifiedStorage as S\nS(url)", ["2:1 STG003"]),
        ("def f():\n    return [UnifiedStorage(u) for u in urls]", ["2:13 STG003"]),
        ("class C:\n    s = RedisStorage(url)", ["2:9 STG003"]),
        ("f(g(UnifiedStorage(url)))", ["1:5 STG003"]),
        # The alias is known wherever it is bound in the file.
        (
            "def f():\n    return S(url)\nfrom src.storage import UnifiedStorage as S",
            ["2:12 STG003"],
        ),
    ],
)
def test_stg003_construction_outside_a_composition_root(
    tmp_path: Path, source: str, expected: list[str]
) -> None:
    assert codes(tmp_path, source, "src/api/app.py") == expected


@pytest.mark.parametrize(
    "source",
    [
        "isinstance(store, UnifiedStorage)",
        "def f(store: UnifiedStorage) -> UnifiedStorage: return store",
        "from src.storage import UnifiedStorage\nkind = UnifiedStorage",
        "from limits.storage import RedisStorage\nRedisStorage(url)",
        "from limits import storage\nstorage.RedisStorage(url)",
        "self.storage.UnifiedStorage(url)",
        "storage.UnifiedStorage(url)",  # an unbound `storage` is not the storage package
        "factory()(url)",
        "UnifiedStorage.from_somewhere",
    ],
)
def test_stg003_not_for_other_calls_or_plain_references(tmp_path: Path, source: str) -> None:
    assert codes(tmp_path, source) == []


def test_stg003_message(tmp_path: Path) -> None:
    source = "from src.storage import UnifiedStorage as S\nS(url)"
    assert messages(tmp_path, source) == [
        "2:1 STG003 'UnifiedStorage' constructed outside a composition root; "
        "take the instance the composition root passes in"
    ]


def test_stg003_follows_the_configured_classes(tmp_path: Path) -> None:
    source = "from src.storage import Store, UnifiedStorage\nStore(url)\nUnifiedStorage(url)"
    options = ["--storage-classes=Store", "--storage-deprecated-names="]
    assert codes(tmp_path, source, options=options) == ["2:1 STG003"]


# STG004: dynamic imports of private or deprecated storage modules


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('import importlib\nimportlib.import_module("src.storage._keys")', ["2:1 STG004"]),
        ('import importlib as il\nil.import_module("src.storage.redis_storage")', ["2:1 STG004"]),
        ('from importlib import import_module\nimport_module("src.storage._keys")', ["2:1 STG004"]),
        ('from importlib import import_module as load\nm = load("src.storage._x")', ["2:5 STG004"]),
        (
            'import importlib\nimportlib.import_module("._async_redis_storage", "src.storage")',
            ["2:1 STG004"],
        ),
        (
            'import importlib\nimportlib.import_module(package="src.api", name="..storage._x")',
            ["2:1 STG004"],
        ),
        ('__import__("src.storage._keys")', ["1:1 STG004"]),
        ('__import__("src.storage.async_redis_storage")', ["1:1 STG004"]),
        ('__import__("src.storage", fromlist=["_keys"])', ["1:1 STG004"]),
        (
            '__import__("src.storage", None, None, ("UnifiedStorage", "RedisStorage"))',
            ["1:1 STG004"],
        ),
        ('__import__("storage._keys", globals(), None, [], 1)', ["1:1 STG004"]),
        ('__import__("storage._keys", level=1)', ["1:1 STG004"]),
        ('import builtins\nbuiltins.__import__("src.storage._keys")', ["2:1 STG004"]),
        ('importlib.import_module("src.storage._keys")', ["1:1 STG004"]),
        # Not literal, not resolvable, or not private/deprecated: nothing to say.
        ('import importlib\nimportlib.import_module("src.storage")', []),
        ('import importlib\nimportlib.import_module("src.storage.unified_storage")', []),
        ("import importlib\nimportlib.import_module(name)", []),
        ('import importlib\nimportlib.import_module("._keys", package=__package__)', []),
        ('import importlib\nimportlib.import_module("._keys")', []),
        ('import importlib\nimportlib.import_module("...x", package="src.storage")', []),
        ('__import__("src.storage", fromlist=["UnifiedStorage"])', []),
        ('__import__("src.storage", fromlist=names)', []),
        ('__import__("storage._keys", level=2)', []),
        ('__import__("src.storage._keys", level=depth)', []),
        ('__import__("src.storage._keys", *args)', []),
        ('__import__("src.storage._keys", **options)', []),
        ('import_module("src.storage._keys")', []),  # not known to be importlib's
        ('loader.import_module("src.storage._keys")', []),
    ],
)
def test_stg004_dynamic_import(tmp_path: Path, source: str, expected: list[str]) -> None:
    assert codes(tmp_path, source, "src/app.py") == expected


def test_stg004_messages(tmp_path: Path) -> None:
    source = """\
        import importlib
        importlib.import_module("._async_redis_storage", package="src.storage")
        importlib.import_module("src.storage.redis_storage")
    """
    assert messages(tmp_path, source) == [
        "2:1 STG004 dynamic import of 'src.storage._async_redis_storage', which is private "
        "to src.storage; import from src.storage instead",
        "3:1 STG004 dynamic import of deprecated 'src.storage.redis_storage'; "
        "use 'from src.storage import UnifiedStorage'",
    ]


def test_stg004_relative_dunder_import_needs_a_module_path(tmp_path: Path) -> None:
    source = '__import__("storage._keys", level=1)'
    assert codes(tmp_path, source, "src/app.py") == ["1:1 STG004"]
    assert codes(tmp_path, source, "../elsewhere/app.py") == []


# STG005: storage class imported from a module other than the facade


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from src.storage.unified_storage import UnifiedStorage", ["1:41 STG005"]),
        ("from src.storage.unified_storage import UnifiedStorage as U", ["1:41 STG005"]),
        ("from ..storage.unified_storage import UnifiedStorage", ["1:39 STG005"]),
        ("from src.storage.unified_storage import *", []),
        ("from src.storage.testing import storage_registry", []),
        # A public module other than the facade, imported whole.
        ("import src.storage.unified_storage", ["1:8 STG005"]),
        ("import src.storage.unified_storage as u", ["1:8 STG005"]),
        ("from src.storage import UnifiedStorage", []),
    ],
)
def test_stg005_public_name_not_from_the_facade(
    tmp_path: Path, source: str, expected: list[str]
) -> None:
    assert codes(tmp_path, source, "src/api/app.py") == expected


def test_stg005_message(tmp_path: Path) -> None:
    source = "from src.storage.unified_storage import UnifiedStorage"
    assert messages(tmp_path, source) == [
        "1:41 STG005 'UnifiedStorage' imported from 'src.storage.unified_storage', not from "
        "the facade; use 'from src.storage import UnifiedStorage'"
    ]


# STG006: a second construction in a composition root


def test_stg006_second_construction_in_a_composition_root(tmp_path: Path) -> None:
    source = """\
        from .storage import UnifiedStorage


        def late(url):
            return UnifiedStorage(url)


        first = UnifiedStorage(url)
        second = AsyncRedisStorage(url)
    """
    assert messages(tmp_path, source, "src/main.py") == [
        "8:9 STG006 'UnifiedStorage' constructed a second time in this composition root "
        "(first construction on line 5)",
        "9:10 STG006 'AsyncRedisStorage' constructed a second time in this composition root "
        "(first construction on line 5)",
    ]


def test_stg006_one_construction_is_fine(tmp_path: Path) -> None:
    assert (
        codes(tmp_path, "from .storage import UnifiedStorage\nUnifiedStorage(url)", "src/main.py")
        == []
    )


def test_stg006_each_configured_root_may_construct_once(tmp_path: Path) -> None:
    main, worker = tmp_path / "src" / "main.py", tmp_path / "src" / "worker.py"
    worker.parent.mkdir(parents=True)
    worker.touch()
    source = "UnifiedStorage(url)\nUnifiedStorage(url)"
    both = [f"--storage-composition-roots={main},{worker}"]
    assert codes(tmp_path, source, "src/main.py", options=both) == ["2:1 STG006"]
    assert codes(tmp_path, source, "src/worker.py", options=both) == ["2:1 STG006"]
    only_worker = [f"--storage-composition-roots={worker}"]
    assert codes(tmp_path, source, "src/main.py", options=only_worker) == [
        "1:1 STG003",
        "2:1 STG003",
    ]


# Robustness and the pre-screen


def test_the_storage_package_option_moves_every_rule(tmp_path: Path) -> None:
    source = """\
        from app.store import _keys
        from app.store.redis_storage import RedisStorage
        from app.store.unified_storage import UnifiedStorage
        from src.storage import _keys
        UnifiedStorage(url)
    """
    (tmp_path / "app" / "store").mkdir(parents=True)
    assert codes(tmp_path, source, options=["--storage-package=app.store"]) == [
        "1:23 STG001",
        "2:37 STG002",
        "3:39 STG005",
        "5:1 STG003",
    ]


def test_relative_imports_outside_every_source_root_are_skipped(tmp_path: Path) -> None:
    source = """\
        from ..storage import _keys
        from .storage import AsyncRedisStorage as Old
        from src.storage import _keys
        Old(url)
        UnifiedStorage(url)
    """
    assert codes(tmp_path, source, "../elsewhere/tool.py") == ["3:25 STG001", "5:1 STG003"]


def test_a_file_that_is_no_module_name_skips_relative_imports(tmp_path: Path) -> None:
    source = "from ..storage import _keys\nfrom src.storage import _keys"
    assert codes(tmp_path, source, "scripts/bench-lint.py") == ["2:25 STG001"]


def test_an_init_file_is_its_package(tmp_path: Path) -> None:
    source = "from .storage import _keys"
    assert codes(tmp_path, source, "src/__init__.py") == ["1:22 STG001"]
    assert codes(tmp_path, source, "src/api/__init__.py") == []


def test_empty_file(tmp_path: Path) -> None:
    assert run(tmp_path, "") == []
    assert run(tmp_path, "", with_lines=True) == []


def test_huge_file(tmp_path: Path) -> None:
    source = "value = compute(1, 2)\n" * 50_000 + "import src.storage._keys\n"
    assert codes(tmp_path, source) == ["50001:8 STG001"]


def test_deeply_nested_tree(tmp_path: Path) -> None:
    # Deeper than the recursion limit: a recursive visitor would crash here.
    source = "x = " + " + ".join(["f(1)"] * 1_900) + "\nUnifiedStorage(url)\n"
    assert codes(tmp_path, source) == ["2:1 STG003"]


def test_the_prescreen_skips_files_that_mention_no_storage_word(tmp_path: Path) -> None:
    tree = ast.parse("import src.storage._keys")
    unrelated = ["import os\n", "print(os.getcwd())\n"]
    checker = StorageChecker(
        tree, str(tmp_path / COMPONENT), unrelated, config=settings_for(tmp_path)
    )
    assert list(checker.run()) == []


@pytest.mark.parametrize(
    "source",
    [
        "from src.storage import _keys",
        "x = 1  # é\nfrom src.storage import _keys",
        # Python reads identifiers NFKC-normalised: this is `src.storage`.
        "from src.\uff53\uff54\uff4f\uff52\uff41\uff47\uff45 import _keys",
    ],
)
def test_the_prescreen_lets_through_every_file_that_may_break_a_rule(
    tmp_path: Path, source: str
) -> None:
    assert [
        (line, message.split(" ", 1)[0])
        for line, _, message in run(tmp_path, source, with_lines=True)
    ] == [(source.count("\n") + 1, "STG001")]

"""End to end: the real `flake8` executable, with the plugin found through its entry point,
on small projects written into `tmp_path`. Output lines are compared exactly."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Mapping
from pathlib import Path

import pytest

CONFIG = """\
[flake8]
select = STG
storage-source-roots = .
storage-composition-roots = src/main.py
"""

PROJECT = {
    ".flake8": CONFIG,
    "src/__init__.py": "",
    "src/storage/__init__.py": """\
        from ._keys import make_key
        from .unified_storage import UnifiedStorage
    """,
    "src/storage/_keys.py": "def make_key(name): return name\n",
    "src/storage/unified_storage.py": "class UnifiedStorage:\n    pass\n",
    "src/main.py": """\
        from .storage import UnifiedStorage

        storage = UnifiedStorage("redis://localhost")
        again = UnifiedStorage("redis://localhost")
    """,
    "src/api/__init__.py": "",
    "src/api/handlers.py": """\
        from ..storage import _keys
        from ..storage.unified_storage import UnifiedStorage


        def handle(url):
            return UnifiedStorage(url)
    """,
}

STG001 = "STG001 'src.storage._keys' is private to src.storage; import from src.storage instead"
STG003 = (
    "STG003 'UnifiedStorage' constructed outside a composition root; "
    "take the instance the composition root passes in"
)
STG005 = (
    "STG005 'UnifiedStorage' imported from 'src.storage.unified_storage', not from the "
    "facade; use 'from src.storage import UnifiedStorage'"
)
STG006 = (
    "STG006 'UnifiedStorage' constructed a second time in this composition root "
    "(first construction on line 3)"
)


def expected(handlers: str, main: str) -> list[str]:
    """The project's violations, as flake8 prints them for these two paths."""
    return sorted(
        [
            f"{handlers}:1:23: {STG001}",
            f"{handlers}:2:39: {STG005}",
            f"{handlers}:6:12: {STG003}",
            f"{main}:4:9: {STG006}",
        ]
    )


def write(root: Path, files: Mapping[str, str | bytes]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content))
    return root


def flake8(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flake8", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )


def lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    return sorted(result.stdout.splitlines())


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write(tmp_path / "project", PROJECT)


def test_the_plugin_and_its_options_are_registered(project: Path) -> None:
    result = flake8(project, "--help")
    for option in (
        "--storage-package",
        "--storage-classes",
        "--storage-deprecated-modules",
        "--storage-deprecated-names",
        "--storage-composition-roots",
        "--storage-source-roots",
    ):
        assert option in result.stdout
    assert "storage-guard" in flake8(project, "--version").stdout


def test_run_from_the_project_root(project: Path) -> None:
    result = flake8(project)
    assert lines(result) == expected("./src/api/handlers.py", "./src/main.py")
    assert result.returncode == 1


@pytest.mark.parametrize(
    ("handlers", "main"),
    [
        ("./src/api/handlers.py", "./src/main.py"),
        ("src/api/handlers.py", "src/main.py"),
        ("{root}/src/api/handlers.py", "{root}/src/main.py"),
    ],
)
def test_invocation_forms(project: Path, handlers: str, main: str) -> None:
    handlers, main = handlers.format(root=project), main.format(root=project)
    assert lines(flake8(project, handlers, main)) == expected(handlers, main)


def test_from_another_directory_with_config(project: Path) -> None:
    elsewhere = project.parent / "elsewhere"
    elsewhere.mkdir()
    handlers, main = "../project/src/api/handlers.py", "../project/src/main.py"
    result = flake8(elsewhere, "--config", "../project/.flake8", handlers, main)
    assert lines(result) == expected(handlers, main)


def test_default_paths_follow_the_working_directory(project: Path) -> None:
    # Like flake8's own path defaults, they resolve against where flake8 runs, not against
    # the config file: from elsewhere, the storage package and the composition root are not
    # found, which is a configuration error rather than a silent pass.
    (project / ".flake8").write_text("[flake8]\nselect = STG\n")
    elsewhere = project.parent / "elsewhere"
    elsewhere.mkdir()
    handlers, main = "../project/src/api/handlers.py", "../project/src/main.py"
    result = flake8(elsewhere, "--config", "../project/.flake8", handlers, main)
    assert result.returncode == 2
    assert result.stderr == (
        "flake8-storage-plugin: [tool.storage-guard] package (the default): "
        "no package 'src.storage' under the source roots (./)\n"
    )


def test_pyproject_configuration_is_found_from_the_working_directory(project: Path) -> None:
    (project / ".flake8").write_text("[flake8]\nselect = STG\n")
    (project / "pyproject.toml").write_text(
        '[tool.storage-guard]\ncomposition-roots = ["src/main.py"]\n'
    )
    assert lines(flake8(project / "src")) == expected("./api/handlers.py", "./main.py")


def test_options_from_the_config_file(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "setup.cfg": """\
                [flake8]
                select = STG
                storage-package = app.store
                storage-classes = Store, LegacyStore
                storage-deprecated-modules = legacy
                storage-deprecated-names = LegacyStore
                storage-composition-roots = ./lib/app/boot.py
                storage-source-roots = ./lib
            """,
            "lib/app/views.py": """\
                from .store import _impl
                from .store.legacy import LegacyStore
                from src.storage import _keys
                from src.storage.unified_storage import UnifiedStorage
                UnifiedStorage(url)
                LegacyStore(url)
            """,
            "lib/app/boot.py": "from .store import Store\nStore(url)\n",
            "lib/app/store/__init__.py": "",
        },
    )
    assert lines(flake8(tmp_path)) == [
        "./lib/app/views.py:1:20: STG001 'app.store._impl' is private to app.store; "
        "import from app.store instead",
        "./lib/app/views.py:2:27: STG002 'app.store.legacy' is deprecated; "
        "use 'from app.store import Store'",
        "./lib/app/views.py:6:1: STG003 'LegacyStore' constructed outside a composition root; "
        "take the instance the composition root passes in",
    ]


def test_a_command_line_option_overrides_the_config(project: Path) -> None:
    write(project, {"app/views.py": "from app.store import _impl\n", "app/store/__init__.py": ""})
    result = flake8(project, "--storage-package=app.store", "app/views.py", "src/api/handlers.py")
    assert lines(result) == [
        "app/views.py:1:23: STG001 'app.store._impl' is private to app.store; "
        "import from app.store instead",
    ]


@pytest.mark.parametrize(
    ("args", "config", "message"),
    [
        (
            ["--storage-package=src..storage"],
            CONFIG,
            "--storage-package: 'src..storage' is not a dotted module name such as src.storage",
        ),
        (
            [],
            CONFIG.replace("storage-source-roots = .", "storage-source-roots = ./missing"),
            "--storage-source-roots: '{root}/missing' is not a directory",
        ),
        (
            [],
            CONFIG + "storage-classes =\n",
            "--storage-classes: name at least one storage class",
        ),
    ],
)
def test_an_invalid_option_is_a_clear_error(
    project: Path, args: list[str], config: str, message: str
) -> None:
    (project / ".flake8").write_text(config)
    result = flake8(project, *args)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == f"flake8-storage-plugin: {message.format(root=project)}\n"


def test_noqa(project: Path) -> None:
    write(
        project,
        {
            "src/api/quiet.py": """\
                from src.storage import _keys  # noqa: STG001
                from src.storage import _codec  # noqa: STG002
                import src.storage._values  # noqa
                from src.storage import AsyncRedisStorage  # noqa:STG001,STG002
                from src.storage.redis_storage import (  # noqa: STG002
                    RedisStorage,
                )
                from src.storage import (
                    _keys,
                    AsyncRedisStorage,  # noqa: STG001, STG002
                )
            """
        },
    )
    assert lines(flake8(project, "src/api/quiet.py")) == [
        "src/api/quiet.py:2:25: STG001 'src.storage._codec' is private to src.storage; "
        "import from src.storage instead",
    ]


def test_per_file_ignores(project: Path) -> None:
    (project / ".flake8").write_text(CONFIG + "per-file-ignores = src/legacy/*:STG002\n")
    write(
        project,
        {
            "src/legacy/old.py": """\
                from src.storage import AsyncRedisStorage
                from src.storage import _keys
            """,
            "src/api/new.py": "from src.storage import AsyncRedisStorage\n",
        },
    )
    assert lines(flake8(project, "src/legacy", "src/api/new.py")) == [
        "src/api/new.py:1:25: STG002 'src.storage.AsyncRedisStorage' is deprecated; "
        "use 'from src.storage import UnifiedStorage'",
        f"src/legacy/old.py:2:25: {STG001}",
    ]


def test_an_unparsable_file_does_not_stop_the_plugin(project: Path) -> None:
    write(project, {"src/api/broken.py": "def broken(:\n    pass\n"})
    result = flake8(project, "--select=STG,E999", "src/api")
    assert lines(result) == [
        "src/api/broken.py:1:13: E999 SyntaxError: invalid syntax",
        f"src/api/handlers.py:1:23: {STG001}",
        f"src/api/handlers.py:2:39: {STG005}",
        f"src/api/handlers.py:6:12: {STG003}",
    ]
    assert result.returncode == 1


def test_odd_encodings_and_empty_files(project: Path) -> None:
    write(
        project,
        {
            "src/api/latin.py": (
                b"# -*- coding: latin-1 -*-\n"
                b"GREETING = '\xe9t\xe9'\n"
                b"from src.storage import _keys\n"
            ),
            "src/api/bom.py": b"\xef\xbb\xbffrom src.storage import _keys\n",
            "src/api/empty.py": b"",
        },
    )
    assert lines(flake8(project, "src/api/latin.py", "src/api/bom.py", "src/api/empty.py")) == [
        f"src/api/bom.py:1:25: {STG001}",
        f"src/api/latin.py:3:25: {STG001}",
    ]

"""The STG options through flake8's own option manager, config loader and aggregator."""

from __future__ import annotations

import argparse
import ast
from collections.abc import Sequence
from pathlib import Path

import pytest
from flake8.exceptions import ExecutionError
from flake8.options.aggregator import aggregate_options
from flake8.options.config import load_config
from flake8.options.manager import OptionManager

from flake8_storage_plugin import Settings, StorageChecker, StorageOptionError


def manager() -> OptionManager:
    option_manager = OptionManager(
        version="test", plugin_versions="", parents=[], formatter_names=[]
    )
    StorageChecker.add_options(option_manager)
    return option_manager


def parse(argv: Sequence[str] = (), config: Path | None = None) -> argparse.Namespace:
    """Options as flake8 aggregates them: defaults, then `config`, then `argv`."""
    cfg, cfg_dir = load_config(str(config) if config else None, [], isolated=config is None)
    return aggregate_options(manager(), cfg, cfg_dir, argv)


def test_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings.from_options(parse())
    assert settings == Settings(
        package="src.storage",
        classes=frozenset({"UnifiedStorage", "AsyncRedisStorage", "RedisStorage"}),
        deprecated_modules=("src.storage.async_redis_storage", "src.storage.redis_storage"),
        deprecated_names=frozenset({"AsyncRedisStorage", "RedisStorage"}),
        replacement="UnifiedStorage",
        composition_roots=frozenset({str(tmp_path / "src" / "main.py")}),
        source_roots=(str(tmp_path),),
        words=("storage", "UnifiedStorage", "AsyncRedisStorage", "RedisStorage"),
    )


def test_config_paths_are_relative_to_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    (project / "lib").mkdir(parents=True)
    config = project / "setup.cfg"
    config.write_text(
        "[flake8]\n"
        "storage-package = app.store\n"
        "storage-classes = Store, OldStore\n"
        "storage-deprecated-modules = old\n"
        "storage-deprecated-names = OldStore\n"
        "storage-composition-roots = app/main.py, ./app/worker.py\n"
        "storage-source-roots = ., ./lib\n"
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    settings = Settings.from_options(parse(config=config))
    assert settings.package == "app.store"
    assert settings.classes == {"Store", "OldStore"}
    assert settings.deprecated_modules == ("app.store.old",)
    assert settings.deprecated_names == {"OldStore"}
    assert settings.replacement == "Store"
    assert settings.composition_roots == {
        str(project / "app" / "main.py"),
        str(project / "app" / "worker.py"),
    }
    assert settings.source_roots == (str(project / "lib"), str(project))


def test_the_command_line_overrides_the_config(tmp_path: Path) -> None:
    config = tmp_path / "tox.ini"
    config.write_text(f"[flake8]\nstorage-package = app.store\nstorage-source-roots = {tmp_path}\n")
    settings = Settings.from_options(parse(["--storage-package", "core.db"], config))
    assert (settings.package, settings.words[0]) == ("core.db", "db")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--storage-package=src..storage"],
            "--storage-package: 'src..storage' is not a dotted module name such as src.storage",
        ),
        (
            ["--storage-package=src/storage"],
            "--storage-package: 'src/storage' is not a dotted module name such as src.storage",
        ),
        (["--storage-classes="], "--storage-classes: name at least one storage class"),
        (
            ["--storage-classes=Unified-Storage"],
            "--storage-classes: 'Unified-Storage' is not a Python identifier",
        ),
        (
            ["--storage-deprecated-names=AsyncRedisStorage,class"],
            "--storage-deprecated-names: 'class' is not a Python identifier",
        ),
        (
            ["--storage-classes=RedisStorage"],
            "--storage-classes: every class is in --storage-deprecated-names; "
            "at least one must remain to suggest as the replacement",
        ),
        (
            ["--storage-deprecated-modules=redis-storage"],
            "--storage-deprecated-modules: 'redis-storage' is not a dotted module name "
            "relative to src.storage, such as redis_storage",
        ),
        (
            ["--storage-source-roots=./no/such/dir"],
            "--storage-source-roots: '{cwd}/no/such/dir' does not exist or is not a directory",
        ),
        (
            ["--storage-source-roots=src"],
            "--storage-source-roots: 'src' is a bare name, which flake8 does not resolve "
            "against the config file; write './src'",
        ),
        (["--storage-source-roots="], "--storage-source-roots: name at least one directory"),
        (
            ["--storage-composition-roots=main.py"],
            "--storage-composition-roots: 'main.py' is a bare name, which flake8 does not "
            "resolve against the config file; write './main.py'",
        ),
    ],
)
def test_invalid_options_name_the_option(argv: list[str], message: str) -> None:
    with pytest.raises(StorageOptionError) as raised:
        Settings.from_options(parse(argv))
    assert str(raised.value) == message.format(cwd=Path.cwd())
    assert isinstance(raised.value, ValueError)
    assert isinstance(raised.value, ExecutionError)


def test_parse_options_configures_the_checker_for_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(StorageChecker, "settings", None)
    StorageChecker.parse_options(parse([f"--storage-source-roots={tmp_path}"]))
    checker = StorageChecker(ast.parse("from ..storage import _keys"), str(tmp_path / "src/x/y.py"))
    assert [(line, col, message.split()[0]) for line, col, message, _ in checker.run()] == [
        (1, 22, "STG001")
    ]


def test_the_checker_needs_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(StorageChecker, "settings", None)
    with pytest.raises(RuntimeError, match="parse_options"):
        StorageChecker(ast.parse(""), "x.py")

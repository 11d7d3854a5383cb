"""The STG options through flake8's own option manager, config loader and aggregator:
`[tool.storage-guard]` in pyproject.toml, overridden by flake8's `storage-*` options."""

from __future__ import annotations

import argparse
import ast
from collections.abc import Sequence
from pathlib import Path

import pytest
from flake8.options.aggregator import aggregate_options
from flake8.options.config import load_config
from flake8.options.manager import OptionManager

from flake8_storage_plugin import StorageChecker, config_from_options
from storage_guard import ConfigError


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


def layout(root: Path, package: str = "src/storage", *files: str) -> Path:
    (root / package).mkdir(parents=True, exist_ok=True)
    for name in ("src/main.py", *files):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).touch()
    return root


def test_defaults_without_any_configuration(tmp_path: Path) -> None:
    layout(tmp_path)
    config = config_from_options(parse())
    assert config.pyproject is None
    assert config.package == "src.storage"
    assert config.classes == ("UnifiedStorage", "AsyncRedisStorage", "RedisStorage")
    assert config.deprecated_modules == (
        "src.storage.async_redis_storage",
        "src.storage.redis_storage",
    )
    assert config.deprecated_names == {"AsyncRedisStorage", "RedisStorage"}
    assert config.replacement == "UnifiedStorage"
    assert config.composition_roots == {tmp_path / "src" / "main.py"}
    assert config.source_roots == (tmp_path,)


def test_pyproject_is_read_and_flake8_options_override_it(tmp_path: Path) -> None:
    layout(tmp_path, "lib/app/store", "app/wiring.py")
    (tmp_path / "core" / "db").mkdir(parents=True)
    (tmp_path / "pyproject.toml").write_text(
        "[tool.storage-guard]\n"
        'package = "app.store"\n'
        'classes = ["Store", "OldStore"]\n'
        'deprecated-names = ["OldStore"]\n'
        'deprecated-modules = ["old"]\n'
        'composition-roots = ["app/wiring.py"]\n'
        'source-roots = [".", "lib"]\n'
    )
    config = config_from_options(parse())
    assert config.pyproject == tmp_path / "pyproject.toml"
    assert (config.package, config.classes, config.replacement) == (
        "app.store",
        ("Store", "OldStore"),
        "Store",
    )
    assert config.deprecated_modules == ("app.store.old",)
    assert config.composition_roots == {tmp_path / "app" / "wiring.py"}
    assert config.source_roots == (tmp_path / "lib", tmp_path)
    overridden = config_from_options(parse(["--storage-package=core.db"]))
    assert (overridden.package, overridden.classes) == ("core.db", ("Store", "OldStore"))


def test_flake8_config_paths_are_relative_to_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = layout(tmp_path / "project", "lib/app/store", "app/main.py", "app/worker.py")
    config_file = project / "setup.cfg"
    config_file.write_text(
        "[flake8]\n"
        "storage-package = app.store\n"
        "storage-composition-roots = app/main.py, ./app/worker.py\n"
        "storage-source-roots = ., ./lib\n"
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = config_from_options(parse(config=config_file))
    assert config.composition_roots == {project / "app" / "main.py", project / "app" / "worker.py"}
    assert config.source_roots == (project / "lib", project)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--storage-package=src..storage"],
            "--storage-package: 'src..storage' is not a dotted module name such as src.storage",
        ),
        (
            ["--storage-package=src.storge"],
            "--storage-package: no package 'src.storge' under the source roots (./); "
            "the closest existing package is 'src.storage'",
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
            "--storage-classes: every class is a deprecated name; "
            "at least one must remain as the replacement",
        ),
        (
            ["--storage-deprecated-modules=redis-storage"],
            "--storage-deprecated-modules: 'redis-storage' is not a dotted module name "
            "relative to src.storage, such as redis_storage",
        ),
        (
            ["--storage-source-roots=./no/such/dir"],
            "--storage-source-roots: '{cwd}/no/such/dir' is not a directory",
        ),
        (
            ["--storage-source-roots=src"],
            "--storage-source-roots: 'src' is a bare name, which flake8 does not resolve "
            "against the config file; write './src'",
        ),
        (["--storage-source-roots="], "--storage-source-roots: name at least one directory"),
        (
            ["--storage-composition-roots=./src/app.py"],
            "--storage-composition-roots: '{cwd}/src/app.py' does not exist",
        ),
    ],
)
def test_invalid_options_name_the_option(tmp_path: Path, argv: list[str], message: str) -> None:
    layout(tmp_path)
    with pytest.raises(ConfigError) as raised:
        config_from_options(parse(argv))
    assert str(raised.value) == message.format(cwd=tmp_path)


def test_a_bad_configuration_ends_flake8_with_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    layout(tmp_path)
    with pytest.raises(SystemExit) as raised:
        StorageChecker.parse_options(parse(["--storage-package=src.storge"]))
    assert raised.value.code == 2
    assert capsys.readouterr().err.startswith(
        "flake8-storage-plugin: --storage-package: no package 'src.storge'"
    )


def test_parse_options_configures_the_checker_for_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout(tmp_path)
    monkeypatch.setattr(StorageChecker, "config", None)
    StorageChecker.parse_options(parse([f"--storage-source-roots={tmp_path}"]))
    checker = StorageChecker(ast.parse("from ..storage import _keys"), str(tmp_path / "src/x/y.py"))
    assert [(line, col, message.split()[0]) for line, col, message, _ in checker.run()] == [
        (1, 22, "STG001")
    ]


def test_the_checker_needs_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(StorageChecker, "config", None)
    with pytest.raises(RuntimeError, match="parse_options"):
        StorageChecker(ast.parse(""), "x.py")

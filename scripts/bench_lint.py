"""Benchmark the STG rules on the standard library of the running interpreter.

Three measurements, in one process run. The first two in CPU time (`time.process_time`,
so that other processes on the machine cost less noise). Within a repeat every file is
handled by all sides back to back, in an order that rotates from file to file and repeat
to repeat, so load changes hit every side alike. A side's figure is the sum over files of the file's
median over the repeats; the flake8 overhead sums each file's median paired difference
(with minus without, run back to back), which a busy machine's outliers move far less
than a difference of totals.

1. The checker alone, on trees parsed once: STG as flake8 runs it (given the source lines,
   so its pre-screen skips files that cannot break a rule), STG made to walk every file
   (no lines), and flake8-tidy-imports' I251 rule (banned modules, given the equivalent
   ban list) run the way its plugin runs it: `ast.walk` and the rule on every node.
   Target: STG costs at most 0.5x of I251 per file.
2. flake8 checking a fixed, evenly spaced subset of files with E, F, W and STG selected,
   with and without the STG plugin. `--select` cannot give the "without" side: flake8 runs
   every installed plugin and only filters what it reports. So both sides share one parse
   of the options, and the "without" side drops STG from the loaded checkers. Each side
   runs flake8's own `FileChecker` per file: reading, tokenising, parsing and every plugin;
   reporting is left out. Target: STG adds at most 2%.
3. Whole commands, wall time, alternating: `storage-guard check` against ruff's banned-api
   rule (`ruff check --no-cache --select TID251`), configured to ban the same modules and
   names, on the same files (the stdlib plus a few files that break every rule). Target:
   storage-guard / ruff <= 1.0. Its findings must equal those of flake8's STG run on the
   same files (STG000 aside: flake8 reports unparsable files as E902/E999 itself).

Site-packages below the stdlib directory are not the standard library and are left out;
files that do not parse (test data with deliberate syntax errors) are skipped.

    python scripts/bench_lint.py            # every stdlib file, 60 for flake8: 3-4 minutes
    python scripts/bench_lint.py --quick    # a tenth of them, 20 for flake8: about 40 seconds
"""

from __future__ import annotations

import argparse
import ast
import gc
import json
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
import time
import tokenize
from collections.abc import Callable, Sequence
from pathlib import Path

from flake8.checker import FileChecker
from flake8.options.manager import OptionManager
from flake8.options.parse_args import parse_args
from flake8_tidy_imports import ImportChecker

from flake8_storage_plugin import StorageChecker, config_from_options
from storage_guard import Config

NOT_STDLIB = frozenset({"site-packages", "dist-packages"})
REPEATS = 3
COMMAND_ROUNDS = 7
FLAKE8_SELECT = "E,F,W,STG"
BIN = Path(sys.executable).parent
STORAGE = Path(__file__).resolve().parents[1] / "src" / "storage"

# A project with the gateway's layout (an empty `src.storage`), and files that break rules.
PROJECT = {
    "src/__init__.py": "",
    "src/storage/__init__.py": "",
    "src/main.py": "from .storage import UnifiedStorage\nUnifiedStorage(u)\nUnifiedStorage(u)\n",
    "src/api/views.py": """\
        from ..storage import _keys
        from ..storage.redis_storage import RedisStorage
        from src.storage.unified_storage import UnifiedStorage
        import src.storage.async_redis_storage
        import importlib
        importlib.import_module("src.storage._codec")
        RedisStorage(url)
    """,
}

# The STG rules as a tidy-imports ban list, so that I251 looks for what STG looks for.
BANNED_MODULES = """
src.storage._* = private storage module, import from src.storage
src.storage.async_redis_storage = deprecated, use from src.storage import UnifiedStorage
src.storage.redis_storage = deprecated, use from src.storage import UnifiedStorage
src.storage.unified_storage = import UnifiedStorage from src.storage
"""


class Source:
    """One stdlib file: its lines as flake8 reads them and its tree, parsed once."""

    def __init__(self, path: Path, lines: list[str], tree: ast.AST) -> None:
        self.path = path
        self.lines = lines
        self.tree = tree


def load_corpus(stdlib: Path, every: int) -> tuple[list[Source], int]:
    """Every `every`-th parseable stdlib file, and how many of those did not parse."""
    paths = sorted(
        path
        for path in stdlib.rglob("*.py")
        if NOT_STDLIB.isdisjoint(path.relative_to(stdlib).parts)
    )
    sources: list[Source] = []
    skipped = 0
    for path in paths[::every]:
        try:
            with tokenize.open(path) as handle:
                lines = handle.readlines()
            tree = ast.parse("".join(lines))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            skipped += 1
            continue
        sources.append(Source(path, lines, tree))
    return sources, skipped


def write_project(root: Path, stdlib: Path) -> None:
    """The bench project in `root`: the default configuration, the stdlib a source root."""
    for name, content in PROJECT.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(content))
    (root / "pyproject.toml").write_text(
        f'[tool.storage-guard]\nsource-roots = [".", "{stdlib}"]\n'
    )
    # The same bans for ruff: every private and deprecated module, the deprecated names, and
    # the storage class from its own module.
    banned = [f"src.storage.{path.stem}" for path in sorted(STORAGE.glob("_*.py"))]
    banned += [
        "src.storage.async_redis_storage",
        "src.storage.redis_storage",
        "src.storage.unified_storage",
        "src.storage.AsyncRedisStorage",
        "src.storage.RedisStorage",
    ]
    (root / "ruff.toml").write_text(
        "[lint.flake8-tidy-imports.banned-api]\n"
        + "".join(f'"{name}".msg = "use the facade"\n' for name in banned)
    )


def stg_config(project: Path, stdlib: Path) -> Config:
    """The plugin's configuration for the bench project, as flake8 would parse it."""
    manager = OptionManager(version="bench", plugin_versions="", parents=[], formatter_names=[])
    StorageChecker.add_options(manager)
    return config_from_options(manager.parse_args([f"--storage-source-roots={project},{stdlib}"]))


def configure_tidy_imports() -> None:
    """Give tidy-imports its ban list through its own option parser."""
    manager = OptionManager(version="bench", plugin_versions="", parents=[], formatter_names=[])
    ImportChecker.add_options(manager)
    ImportChecker.parse_options(manager.parse_args([f"--banned-modules={BANNED_MODULES}"]))


Side = Callable[[Source], object]


Samples = dict[str, list[list[float]]]
"""CPU seconds by side, then file, then repeat."""


def interleaved(sources: Sequence[Source], sides: dict[str, Side]) -> Samples:
    """Time every side on every file, REPEATS times."""
    names = list(sides)
    seconds = {name: [[0.0] * REPEATS for _ in sources] for name in names}
    clock = time.process_time
    for repeat in range(REPEATS):
        for index, source in enumerate(sources):
            shift = (index + repeat) % len(names)
            for name in names[shift:] + names[:shift]:
                side = sides[name]
                # Every repeat allocates alike, so the collector would pause at the same
                # file and side each time; start every run from the same empty heap instead.
                gc.collect()
                start = clock()
                side(source)
                seconds[name][index][repeat] = clock() - start
    return seconds


def per_file_us(samples: list[list[float]]) -> float:
    """Microseconds per file: the sum of the files' medians, over the number of files."""
    return sum(map(statistics.median, samples)) / len(samples) * 1e6


def paired_overhead(with_: list[list[float]], without: list[list[float]]) -> float:
    """What `with_` adds to `without`, from the median paired difference of each file."""
    added = sum(
        statistics.median(a - b for a, b in zip(file_with, file_without, strict=True))
        for file_with, file_without in zip(with_, without, strict=True)
    )
    return added / sum(map(statistics.median, without))


def checker_sides(config: Config) -> dict[str, Side]:
    def stg(source: Source) -> object:
        return list(
            StorageChecker(source.tree, str(source.path), source.lines, config=config).run()
        )

    def stg_walk(source: Source) -> object:
        return list(StorageChecker(source.tree, str(source.path), config=config).run())

    def i251(source: Source) -> object:
        checker = ImportChecker(source.tree)
        found: list[tuple[int, int, str, object]] = []
        for node in ast.walk(source.tree):
            found.extend(checker.rule_I251(node))
        return found

    return {"stg": stg, "stg_walk": stg_walk, "i251": i251}


def flake8_sides(project: Path, stdlib: Path) -> dict[str, Side]:
    plugins, options = parse_args(
        [
            "--isolated",
            f"--select={FLAKE8_SELECT}",
            f"--storage-source-roots={project},{stdlib}",
        ]
    )
    with_stg = plugins.checkers
    without_stg = with_stg._replace(
        tree=[plugin for plugin in with_stg.tree if plugin.entry_name != "STG"]
    )
    assert len(without_stg.tree) == len(with_stg.tree) - 1, "STG plugin is not installed"

    def with_(source: Source) -> object:
        return FileChecker(
            filename=str(source.path), plugins=with_stg, options=options
        ).run_checks()

    def without(source: Source) -> object:
        return FileChecker(
            filename=str(source.path), plugins=without_stg, options=options
        ).run_checks()

    return {"with": with_, "without": without}


def wall_seconds(command: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def findings_of_commands(project: Path, paths: list[str]) -> tuple[set[str], set[str]]:
    """What `storage-guard check` and flake8's STG run report, as `path:line:col: CODE`."""
    guard = subprocess.run(
        [str(BIN / "storage-guard"), "check", "--format", "json", *paths],
        cwd=project,
        capture_output=True,
        text=True,
    )
    ours = {
        f"{os.path.abspath(project / f['path'])}:{f['line']}:{f['column']}: {f['code']}"
        for f in json.loads(guard.stdout)["findings"]
        if f["code"] != "STG000"
    }
    flake8 = subprocess.run(
        [
            str(BIN / "flake8"),
            "--select=STG",
            "--jobs=2",
            # Not the stdlib, and pyflakes overflows the stack on some of it.
            "--extend-exclude=site-packages,dist-packages",
            "--format=%(path)s:%(row)d:%(col)d: %(code)s",
            *paths,
        ],
        cwd=project,
        capture_output=True,
        text=True,
    )
    theirs = {os.path.abspath(project / line) for line in flake8.stdout.splitlines()}
    return ours, theirs


def compare_commands(project: Path, stdlib: Path) -> None:
    paths = [str(stdlib), "src"]
    guard = [str(BIN / "storage-guard"), "check", *paths]
    ruff = [str(BIN / "ruff"), "check", "--no-cache", "--select", "TID251", "--quiet", *paths]
    times: dict[str, list[float]] = {"storage-guard": [], "ruff": []}
    for round_ in range(COMMAND_ROUNDS):
        order = ["storage-guard", "ruff"] if round_ % 2 == 0 else ["ruff", "storage-guard"]
        for name in order:
            times[name].append(wall_seconds(guard if name == "storage-guard" else ruff, project))
    guard_s, ruff_s = (statistics.median(times[name]) for name in ("storage-guard", "ruff"))
    print(
        f"\nwhole commands over the stdlib + {len(PROJECT)} project files, wall time, "
        f"median of {COMMAND_ROUNDS} alternating rounds:"
    )
    print(f"  storage-guard check        {guard_s:7.3f} s")
    print(f"  ruff check --select TID251 {ruff_s:7.3f} s")
    print(f"  storage-guard / ruff {guard_s / ruff_s:6.3f}  (target <= 1.0)")
    ours, theirs = findings_of_commands(project, paths)
    only_ours, only_theirs = sorted(ours - theirs), sorted(theirs - ours)
    verdict = (
        "identical"
        if ours == theirs
        else f"DIFFER: only storage-guard {only_ours}, only flake8 {only_theirs}"
    )
    print(f"  findings: {len(ours)} (STG001-006), flake8's STG run: {len(theirs)}, {verdict}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the three measurements and print them."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="a tenth of the files, 20 of them for flake8"
    )
    args = parser.parse_args(argv)
    every, flake8_files = (10, 20) if args.quick else (1, 60)

    started = time.perf_counter()
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    sources, skipped = load_corpus(stdlib, every)
    # The trees stay alive throughout: keep the collector from scanning their millions of
    # nodes again in every full collection, a pause that would land on a random side.
    gc.freeze()
    nodes = sum(1 for source in sources for _ in ast.walk(source.tree))
    print(f"Python {sys.version.split()[0]}, stdlib at {stdlib}")
    print(f"corpus: {len(sources)} files parsed once, {nodes:,} nodes ({skipped} did not parse)")

    project = Path(tempfile.mkdtemp(prefix="bench-lint-"))
    write_project(project, stdlib)
    # The plugin and storage-guard read [tool.storage-guard] from the working directory.
    os.chdir(project)
    config = stg_config(project, stdlib)
    configure_tidy_imports()
    # The files STG walks; the pre-screen also NFKC-normalises non-ASCII lines first.
    walked = sum(1 for s in sources if any(word in "".join(s.lines) for word in config.words))
    samples = interleaved(sources, checker_sides(config))
    us = {name: per_file_us(per_file) for name, per_file in samples.items()}
    print(f"\nchecker per file, CPU time, median of {REPEATS} interleaved repeats:")
    print(f"  STG as flake8 runs it       {us['stg']:9.1f} us  (walks {walked} of the files)")
    print(f"  STG walking every file      {us['stg_walk']:9.1f} us")
    print(f"  tidy-imports I251           {us['i251']:9.1f} us")
    print(f"  STG / I251       {us['stg'] / us['i251']:6.3f}  (target <= 0.5)")
    print(f"  STG walk / I251  {us['stg_walk'] / us['i251']:6.3f}")

    subset = sources[:: max(1, len(sources) // flake8_files)][:flake8_files]
    samples = interleaved(subset, flake8_sides(project, stdlib))
    print(
        f"\nflake8 --select={FLAKE8_SELECT} per file on {len(subset)} files, CPU time, "
        f"median of {REPEATS} interleaved repeats:"
    )
    print(f"  with STG     {per_file_us(samples['with']):10.1f} us")
    print(f"  without STG  {per_file_us(samples['without']):10.1f} us")
    overhead = paired_overhead(samples["with"], samples["without"])
    print(f"  STG adds {overhead:+.2%}  (target <= +2%; median paired difference per file)")
    compare_commands(project, stdlib)
    shutil.rmtree(project)
    print(f"\n{time.perf_counter() - started:.0f}s wall time")
    return 0


if __name__ == "__main__":
    sys.exit(main())

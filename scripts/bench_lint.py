"""Benchmark the STG flake8 plugin on the standard library of the running interpreter.

Two measurements, in one process, in CPU time (`time.process_time`, so that other
processes on the machine cost less noise). Within a repeat every file is handled by all
sides back to back, in an order that rotates from file to file and repeat to repeat, so
load changes hit every side alike. A side's figure is the sum over files of the file's
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

Site-packages below the stdlib directory are not the standard library and are left out;
files that do not parse (test data with deliberate syntax errors) are skipped.

    python scripts/bench_lint.py            # every stdlib file, 60 for flake8: 2-3 minutes
    python scripts/bench_lint.py --quick    # a tenth of them, 20 for flake8: about 20 seconds
"""

from __future__ import annotations

import argparse
import ast
import gc
import statistics
import sys
import sysconfig
import time
import tokenize
from collections.abc import Callable, Sequence
from pathlib import Path

from flake8.checker import FileChecker
from flake8.options.manager import OptionManager
from flake8.options.parse_args import parse_args
from flake8_tidy_imports import ImportChecker

from flake8_storage_plugin import Settings, StorageChecker

NOT_STDLIB = frozenset({"site-packages", "dist-packages"})
REPEATS = 3
FLAKE8_SELECT = "E,F,W,STG"

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


def stg_settings(stdlib: Path) -> Settings:
    """The plugin's default options, with module names relative to the stdlib."""
    manager = OptionManager(version="bench", plugin_versions="", parents=[], formatter_names=[])
    StorageChecker.add_options(manager)
    return Settings.from_options(manager.parse_args([f"--storage-source-roots={stdlib}"]))


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


def checker_sides(settings: Settings) -> dict[str, Side]:
    def stg(source: Source) -> object:
        return list(
            StorageChecker(source.tree, str(source.path), source.lines, settings=settings).run()
        )

    def stg_walk(source: Source) -> object:
        return list(StorageChecker(source.tree, str(source.path), settings=settings).run())

    def i251(source: Source) -> object:
        checker = ImportChecker(source.tree)
        found: list[tuple[int, int, str, object]] = []
        for node in ast.walk(source.tree):
            found.extend(checker.rule_I251(node))
        return found

    return {"stg": stg, "stg_walk": stg_walk, "i251": i251}


def flake8_sides(stdlib: Path) -> dict[str, Side]:
    plugins, options = parse_args(
        ["--isolated", f"--select={FLAKE8_SELECT}", f"--storage-source-roots={stdlib}"]
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


def main(argv: Sequence[str] | None = None) -> int:
    """Run both measurements and print them."""
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

    settings = stg_settings(stdlib)
    configure_tidy_imports()
    # The files STG walks; the pre-screen also NFKC-normalises non-ASCII lines first.
    walked = sum(1 for s in sources if any(word in "".join(s.lines) for word in settings.words))
    samples = interleaved(sources, checker_sides(settings))
    us = {name: per_file_us(per_file) for name, per_file in samples.items()}
    print(f"\nchecker per file, CPU time, median of {REPEATS} interleaved repeats:")
    print(f"  STG as flake8 runs it       {us['stg']:9.1f} us  (walks {walked} of the files)")
    print(f"  STG walking every file      {us['stg_walk']:9.1f} us")
    print(f"  tidy-imports I251           {us['i251']:9.1f} us")
    print(f"  STG / I251       {us['stg'] / us['i251']:6.3f}  (target <= 0.5)")
    print(f"  STG walk / I251  {us['stg_walk'] / us['i251']:6.3f}")

    subset = sources[:: max(1, len(sources) // flake8_files)][:flake8_files]
    samples = interleaved(subset, flake8_sides(stdlib))
    print(
        f"\nflake8 --select={FLAKE8_SELECT} per file on {len(subset)} files, CPU time, "
        f"median of {REPEATS} interleaved repeats:"
    )
    print(f"  with STG     {per_file_us(samples['with']):10.1f} us")
    print(f"  without STG  {per_file_us(samples['without']):10.1f} us")
    overhead = paired_overhead(samples["with"], samples["without"])
    print(f"  STG adds {overhead:+.2%}  (target <= +2%; median paired difference per file)")
    print(f"\n{time.perf_counter() - started:.0f}s wall time")
    return 0


if __name__ == "__main__":
    sys.exit(main())

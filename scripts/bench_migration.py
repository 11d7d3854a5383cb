"""Measure `storage-guard migrate --check` throughput on the Python standard library.

    python scripts/bench_migration.py

Prints the files per second of the full check (read, decode, parse, analyse) over every
`.py` file of `sysconfig.get_paths()["stdlib"]`, leaving out installed packages, with this
repository's configuration (the layer is read statically off `src/storage`).
"""

import sys
import sysconfig
import time
from pathlib import Path

from storage_guard.check import discover
from storage_guard.config import load_config
from storage_guard.migration import load_layer, migrate_files

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    """Run the check over the standard library and print the rate."""
    config = load_config(pyproject=ROOT / "pyproject.toml")
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files = [
        path
        for path in discover([stdlib], config)
        if path.suffix == ".py"
        and not {"site-packages", "dist-packages"} & set(path.relative_to(stdlib).parts)
    ]
    started = time.perf_counter()
    layer = load_layer(config)
    results = migrate_files(files, layer, sys.stderr)
    elapsed = time.perf_counter() - started
    skipped = sum(1 for result in results if result.error is not None)
    changed = sum(1 for result in results if result.migration and result.migration.changed)
    print(
        f"{len(files)} files of {stdlib} in {elapsed:.1f} s: {len(files) / elapsed:.0f} files/s "
        f"({skipped} skipped, {changed} would change)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Measure `migrate_storage.py --check` throughput on the Python standard library.

    python scripts/bench_migration.py

Prints the files per second of the full check (read, decode, parse, analyse) over every
`.py` file of `sysconfig.get_paths()["stdlib"]`, leaving out installed packages.
"""

import sys
import sysconfig
import time
from pathlib import Path

from storage_migration.files import discover, migrate_files
from storage_migration.layer import load_layer


def main() -> int:
    """Run the check over the standard library and print the rate."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files = [
        path
        for path in discover([stdlib])
        if not {"site-packages", "dist-packages"} & set(path.relative_to(stdlib).parts)
    ]
    layer = load_layer()
    started = time.perf_counter()
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
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.exit(main())

"""The `migrate_storage.py` command line."""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Sequence
from pathlib import Path

from .files import FileResult, discover, migrate_files, write_atomically
from .layer import load_layer

EXIT_OK = 0
EXIT_PENDING = 1
EXIT_ERROR = 2
EXIT_SKIPPED = 3

EPILOG = f"""\
exit codes:
  {EXIT_OK}  nothing left to rewrite (dry run, --check), or every rewrite written (--write)
  {EXIT_PENDING}  --check only: some files would be rewritten
  {EXIT_ERROR}  bad arguments, or the storage facade could not be imported
  {EXIT_SKIPPED}  some files could not be read, parsed or written; they were left untouched
     (this wins over {EXIT_PENDING})

Manual items (constructions outside the composition root, calls on receivers that
cannot be proven to be the storage, imports with no facade counterpart) are listed on
stderr as file:line:column and never change the exit code; see storage_report.py.
Lines of manual items are those of the migrated file.
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, with the modes and exit codes in its help."""
    parser = argparse.ArgumentParser(
        prog="migrate_storage.py",
        description=(
            "Move code from AsyncRedisStorage/RedisStorage and private storage modules to "
            "the facade `from src.storage import UnifiedStorage`, and rename awaited calls "
            "of old methods on provable storage receivers to their async twins."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("paths", nargs="+", type=Path, help="files or folders to migrate")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="rewrite the files in place")
    mode.add_argument(
        "--check",
        action="store_true",
        help="change nothing and print no diff; exit 1 if a file would be rewritten (for CI)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the migration; see `build_parser` for the arguments and exit codes."""
    args = build_parser().parse_args(argv)
    try:
        layer = load_layer()
    except (ImportError, AttributeError) as exc:
        print(f"cannot load the storage facade: {exc}", file=sys.stderr)
        return EXIT_ERROR
    results = migrate_files(discover(args.paths), layer, sys.stderr)
    changed, skipped = _apply_and_print(
        results, write=args.write, diff=not (args.write or args.check)
    )
    if skipped:
        return EXIT_SKIPPED
    return EXIT_PENDING if args.check and changed else EXIT_OK


def _apply_and_print(results: Sequence[FileResult], *, write: bool, diff: bool) -> tuple[int, int]:
    """Print (and with `write`, apply) every change; how many files changed and were
    skipped."""
    changed = 0
    skipped = 0
    manual = 0
    for result in results:
        if result.error is not None:
            skipped += 1
            print(f"{result.path}: skipped: {result.error}", file=sys.stderr)
            continue
        migration = result.migration
        assert migration is not None
        if migration.changed:
            if write:
                try:
                    write_atomically(result.path, migration.migrated, result.encoding)
                except OSError as exc:
                    skipped += 1
                    print(f"{result.path}: skipped: cannot write: {exc}", file=sys.stderr)
                    continue
                print(f"rewrote {result.path}", file=sys.stderr)
            else:
                print(f"would rewrite {result.path}", file=sys.stderr)
            changed += 1
            if diff:
                sys.stdout.writelines(
                    _unified_diff(result.path, migration.original, migration.migrated)
                )
        for item in migration.manual:
            manual += 1
            print(
                f"{result.path}:{item.line}:{item.column}: manual [{item.kind}]: {item.message}",
                file=sys.stderr,
            )
    verb = "rewritten" if write else "to rewrite"
    print(
        f"{changed} {_files(changed)} {verb}, {manual} manual {_items(manual)}, "
        f"{skipped} {_files(skipped)} skipped",
        file=sys.stderr,
    )
    return changed, skipped


def _unified_diff(path: Path, before: str, after: str) -> list[str]:
    lines = difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        fromfile=f"a/{path}",
        tofile=f"b/{path}",
    )
    return [
        line if line.endswith("\n") else f"{line}\n\\ No newline at end of file\n" for line in lines
    ]


def _files(count: int) -> str:
    return "file" if count == 1 else "files"


def _items(count: int) -> str:
    return "item" if count == 1 else "items"

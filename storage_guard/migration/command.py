"""`storage-guard migrate`: the codemod's use case, for the command line to call."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, TextIO

from ..check import discover
from ..config import Config
from ..exits import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE
from .files import FileResult, migrate_files, write_atomically
from .layer import LayerError, load_layer

Mode = Literal["diff", "write", "check"]


def migrate_command(
    paths: Sequence[Path],
    config: Config,
    *,
    mode: Mode,
    stdout: TextIO,
    stderr: TextIO,
) -> int:
    """Migrate the Python files of `paths` to the configured facade.

    `diff` prints a unified diff on `stdout`, `write` rewrites the files, `check` changes and
    prints nothing but the summary. Progress, each file's fate and the manual items go to
    `stderr` (`path:line:column: manual [kind] SGM-xxxxxxxx: message`).

    Returns:
        0 when nothing is left to rewrite (or, with `write`, every rewrite was written);
        1 when `check` finds pending rewrites or a file could not be read, parsed or
        written; 2 when the storage package does not provide what the configuration names.
        Manual items do not change it: `storage-guard report --fail-on-findings` gates them.
    """
    try:
        layer = load_layer(config)
    except LayerError as exc:
        print(f"storage-guard: configuration error: {exc}", file=stderr)
        return EXIT_USAGE
    if layer.notice is not None:
        print(layer.notice, file=stderr)
    results = migrate_files(discover(paths, config), layer, stderr)
    changed, skipped = _apply_and_print(results, mode, stdout, stderr)
    if skipped or (mode == "check" and changed):
        return EXIT_FINDINGS
    return EXIT_OK


def _apply_and_print(
    results: Sequence[FileResult], mode: Mode, stdout: TextIO, stderr: TextIO
) -> tuple[int, int]:
    """Print (and in `write` mode, apply) every change; how many files changed and were
    skipped."""
    changed = 0
    skipped = 0
    manual = 0
    for result in results:
        if result.error is not None:
            skipped += 1
            print(f"{result.path}: skipped: {result.error}", file=stderr)
            continue
        migration = result.migration
        assert migration is not None
        if migration.changed:
            if mode == "write":
                try:
                    write_atomically(result.path, migration.migrated, result.encoding)
                except OSError as exc:
                    skipped += 1
                    print(f"{result.path}: skipped: cannot write: {exc}", file=stderr)
                    continue
                print(f"rewrote {result.path}", file=stderr)
            else:
                print(f"would rewrite {result.path}", file=stderr)
            changed += 1
            if mode == "diff":
                stdout.writelines(
                    _unified_diff(result.path, migration.original, migration.migrated)
                )
        for item in migration.manual:
            manual += 1
            print(
                f"{result.path}:{item.line}:{item.column}: manual [{item.kind}] {item.id}: "
                f"{item.message}",
                file=stderr,
            )
    verb = "rewritten" if mode == "write" else "to rewrite"
    print(
        f"{changed} {_files(changed)} {verb}, {manual} manual {_items(manual)}, "
        f"{skipped} {_files(skipped)} skipped",
        file=stderr,
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

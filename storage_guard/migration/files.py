"""Finding, reading and writing the files to migrate, keeping their bytes' conventions."""

from __future__ import annotations

import functools
import io
import os
import stat
import tempfile
import tokenize
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from ..modules import module_path
from .analysis import SourceFile
from .engine import Migration, UnparsableError, migrate_source
from .layer import StorageLayer
from .progress import ProgressBar

# Below this many files per extra process, starting the process costs more than it saves.
FILES_PER_WORKER = 20


@dataclass(frozen=True)
class FileResult:
    """One file's migration, or why it was skipped."""

    path: Path
    migration: Migration | None = None
    encoding: str = "utf-8"
    error: str | None = None


def source_file(path: Path, layer: StorageLayer) -> SourceFile:
    """Where `path` sits in the project the layer's configuration describes."""
    config = layer.config
    absolute = Path(os.path.abspath(path))
    return SourceFile(
        module=module_path(absolute, config.source_roots),
        relative=config.relative(absolute),
        composition_root=absolute in config.composition_roots,
        ignored=config.ignored_codes(absolute),
    )


def migrate_file(path: Path, layer: StorageLayer) -> FileResult:
    """Read and migrate `path`; a file that cannot be read, decoded or parsed is skipped."""
    try:
        data = path.read_bytes()
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        # Decoding the bytes ourselves keeps `\r\n` as it is: no newline translation.
        text = data.decode(encoding)
    except (OSError, SyntaxError, UnicodeDecodeError, LookupError) as exc:
        return FileResult(path, error=f"cannot read: {exc}")
    try:
        migration = migrate_source(text, source_file(path, layer), layer)
    except UnparsableError as exc:
        return FileResult(path, encoding=encoding, error=f"cannot parse: {exc}")
    return FileResult(path, migration, encoding)


def migrate_files(
    paths: Sequence[Path], layer: StorageLayer, progress_stream: TextIO
) -> list[FileResult]:
    """Migrate every file in memory, on every core for long runs, showing progress on
    `progress_stream` if it is a terminal."""
    progress = ProgressBar(progress_stream, len(paths))
    results = []
    workers = min(os.cpu_count() or 1, len(paths) // FILES_PER_WORKER)
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            migrate = functools.partial(migrate_file, layer=layer)
            for result in pool.map(migrate, paths, chunksize=8):
                results.append(result)
                progress.advance()
    else:
        for path in paths:
            results.append(migrate_file(path, layer))
            progress.advance()
    progress.close()
    return results


def write_atomically(path: Path, text: str, encoding: str) -> None:
    """Replace `path` with `text` in `encoding`, all at once, keeping its permissions."""
    data = text.encode(encoding)
    mode = stat.S_IMODE(path.stat().st_mode)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as output:
            output.write(data)
            output.flush()
            os.fsync(output.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise

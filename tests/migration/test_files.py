"""Files: discovery, encodings and newlines kept, atomic writes, unreadable files skipped."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import pytest

from storage_guard.check import discover
from storage_guard.migration import StorageLayer, migrate_file
from storage_guard.migration.files import FILES_PER_WORKER, migrate_files, write_atomically

OLD_IMPORT = "from src.storage.redis_storage import RedisStorage\n"


def test_discovery_is_the_cores_and_skips_hidden_folders_caches_and_excludes(
    tmp_path: Path, layer: StorageLayer
) -> None:
    for relative in ("a.py", "pkg/b.py", ".venv/c.py", "pkg/__pycache__/d.py", "notes.txt"):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text("")
    explicit = tmp_path / "pkg" / "b.py"
    assert discover([tmp_path, explicit], layer.config) == sorted(
        [tmp_path / "a.py", tmp_path / "pkg" / "b.py"]
    )


def test_crlf_and_a_latin1_cookie_survive(tmp_path: Path, layer: StorageLayer) -> None:
    path = tmp_path / "legacy.py"
    original = (
        "# -*- coding: latin-1 -*-\r\n"
        f"{OLD_IMPORT.strip()}  # caf\xe9\r\n"
        "\r\n"
        "KIND = RedisStorage\r\n"
    ).encode("latin-1")
    path.write_bytes(original)
    result = migrate_file(path, layer)
    assert result.migration is not None and result.migration.changed
    write_atomically(path, result.migration.migrated, result.encoding)
    assert path.read_bytes() == original.replace(
        b"src.storage.redis_storage import RedisStorage", b"src.storage import UnifiedStorage"
    ).replace(b"KIND = RedisStorage", b"KIND = UnifiedStorage")


def test_a_byte_order_mark_survives(tmp_path: Path, layer: StorageLayer) -> None:
    path = tmp_path / "bom.py"
    path.write_bytes(b"\xef\xbb\xbf" + OLD_IMPORT.encode())
    result = migrate_file(path, layer)
    assert result.encoding == "utf-8-sig" and result.migration is not None
    write_atomically(path, result.migration.migrated, result.encoding)
    assert path.read_bytes() == b"\xef\xbb\xbffrom src.storage import UnifiedStorage\n"


def test_writes_replace_the_file_whole_and_keep_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "module.py"
    path.write_text("old\n")
    path.chmod(0o640)
    inode = path.stat().st_ino
    write_atomically(path, "new\n", "utf-8")
    assert path.read_text() == "new\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert path.stat().st_ino != inode, "written in place instead of replaced"
    assert os.listdir(tmp_path) == ["module.py"]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (OLD_IMPORT.encode() + b"def broken(:\n", "cannot parse"),
        (OLD_IMPORT.encode() + b"name = '\xe9'\n", "cannot read"),
        (b"# -*- coding: klingon -*-\n" + OLD_IMPORT.encode(), "cannot read"),
    ],
)
def test_unusable_files_are_skipped_with_a_reason(
    tmp_path: Path, layer: StorageLayer, content: bytes, reason: str
) -> None:
    path = tmp_path / "bad.py"
    path.write_bytes(content)
    result = migrate_file(path, layer)
    assert result.migration is None
    assert result.error is not None and result.error.startswith(reason)


def test_many_files_run_in_parallel_with_the_same_results(
    legacy_gateway: Path, layer: StorageLayer
) -> None:
    found = discover([legacy_gateway / "src"], layer.config)
    paths = found * (2 * FILES_PER_WORKER // len(found) + 1)

    parallel = migrate_files(paths, layer, io.StringIO())
    serial = [migrate_file(path, layer) for path in paths]
    assert parallel == serial

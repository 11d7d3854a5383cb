"""The suite's own configuration turns leaked resources and unawaited coroutines into failures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

LEAKS = {
    "unclosed_socket": """
import gc, socket

def test_leak():
    socket.socket()
    gc.collect()
""",
    "unawaited_coroutine": """
import gc

async def work():
    pass

def test_leak():
    work()
    gc.collect()
""",
}


@pytest.mark.parametrize("leak", sorted(LEAKS))
def test_a_leak_fails_the_test(tmp_path: Path, leak: str) -> None:
    (tmp_path / f"test_{leak}.py").write_text(LEAKS[leak])
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-c",
            str(ROOT / "pyproject.toml"),
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(tmp_path),
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result.stdout
    assert "1 failed" in result.stdout
    expected = "ResourceWarning" if leak == "unclosed_socket" else "was never awaited"
    assert expected in result.stdout

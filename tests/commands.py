"""Running the suite's commands as a user runs them: separate processes, output captured.

One helper for every test package that drives `storage-guard`, flake8, lint-imports,
pre-commit or git in a folder of its own.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

Completed = subprocess.CompletedProcess[str]

TIMEOUT = 60.0
"""Seconds a command gets before the test fails (a bound, not a measurement)."""


def run(cwd: Path, *command: str, timeout: float = TIMEOUT) -> Completed:
    """`command` run in `cwd`, its output captured as text; never raises on its status."""
    return subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, check=False, timeout=timeout
    )


def storage_guard(cwd: Path, *args: str) -> Completed:
    """`storage-guard ARGS` in `cwd`, with this interpreter."""
    return run(cwd, sys.executable, "-m", "storage_guard", *args)

#!/usr/bin/env python3
"""The project's two commands.

    python3 dev.py gate    the architecture gate: every pre-commit hook on every file
    python3 dev.py test    the test suite (further arguments go to pytest)

The first run creates `.venv` and installs the project with its `dev` extra into it; later
runs reuse it until `pyproject.toml` changes. The distribution is the `storage-guard` suite
only; the gateway (`src`) runs from this checkout: a `.pth` file puts a folder holding a
link to `src` on the venv's path (the checkout itself would also expose the build's
`*.egg-info`, registering the flake8 plugin twice).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"
STAMP = VENV / ".installed-from"
CHECKOUT = VENV / "checkout"
"""Holds the link `src` -> this checkout's `src`, the gateway's package."""
TASKS = {
    "gate": [str(BIN / "pre-commit"), "run", "--all-files", "--show-diff-on-failure"],
    "test": [str(BIN / "python"), "-m", "pytest"],
}


def ensure_environment() -> None:
    """Create or refresh `.venv` when `pyproject.toml` changed since it was installed."""
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    if not (BIN / "python").exists():
        print("creating .venv ...", file=sys.stderr)
        try:
            venv.create(VENV, with_pip=True)
        except subprocess.CalledProcessError:
            sys.exit("could not create .venv: install Python's venv module (Debian: python3-venv)")
    print("installing the project and its dev tools into .venv ...", file=sys.stderr)
    pip = [str(BIN / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "--editable", f"{ROOT}[dev]"], check=True)
    site_packages = subprocess.run(
        [str(BIN / "python"), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    CHECKOUT.mkdir(exist_ok=True)
    link = CHECKOUT / "src"
    if not link.is_symlink():
        link.symlink_to(ROOT / "src", target_is_directory=True)
    Path(site_packages, "storage-gateway-checkout.pth").write_text(f"{CHECKOUT}\n")
    STAMP.write_text(wanted)


def main(argv: list[str]) -> int:
    """Run the task named by `argv[0]` inside the project's environment."""
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py runs on whatever python3 is
        sys.exit("Python 3.11 or newer is required")
    if not argv or argv[0] not in TASKS:
        sys.exit(f"usage: python3 dev.py {{{','.join(TASKS)}}} [arguments]")
    task, *arguments = argv
    ensure_environment()
    env = {**os.environ, "VIRTUAL_ENV": str(VENV), "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.call([*TASKS[task], *arguments], cwd=ROOT, env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

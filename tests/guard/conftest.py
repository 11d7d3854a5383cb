"""Small projects written into `tmp_path`, and the real `storage-guard` command run on them."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from pathlib import Path

import pytest

PYPROJECT = """\
[tool.storage-guard]
package = "app.storage"
classes = ["Storage", "OldStorage"]
deprecated-modules = ["old"]
deprecated-names = ["OldStorage"]
composition-roots = ["app/main.py"]
"""

PROJECT = {
    "pyproject.toml": PYPROJECT,
    "app/__init__.py": "",
    "app/storage/__init__.py": "from .core import Storage\n",
    "app/storage/core.py": "class Storage:\n    def __init__(self, url): self.url = url\n",
    "app/storage/_backend.py": "",
    "app/storage/old.py": "from .core import Storage as OldStorage\n",
    "app/main.py": "from app.storage import Storage\n\nstorage = Storage('redis://')\n",
    "app/views.py": """\
        from app.storage import _backend
        from app.storage.old import OldStorage


        def view(url):
            return OldStorage(url)
    """,
}


def write(root: Path, files: Mapping[str, str]) -> Path:
    """Write `files` (dedented) below `root`."""
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(content))
    return root


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project whose storage package is `app.storage`, with three findings in views.py."""
    return write(tmp_path / "project", PROJECT)

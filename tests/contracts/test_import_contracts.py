"""Each import contract, proven by the real `lint-imports` on a copy of the real tree."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = {
    "private": "Private storage modules stay inside src.storage",
    "protected": "Only the storage engine drives the Redis backends",
    "shims": "Nothing imports the deprecated storage shims",
    "layers": "Gateway layers",
    "routers": "The API's routers do not know each other",
}


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=120,
    )


def verdicts(output: str) -> dict[str, str]:
    """Contract key -> KEPT or BROKEN, from lint-imports' summary lines."""
    found = {}
    for key, name in CONTRACTS.items():
        match = re.search(rf"^{re.escape(name)}.* (KEPT|BROKEN)$", output, re.MULTILINE)
        assert match, f"no verdict for {name!r} in:\n{output}"
        found[key] = match.group(1)
    return found


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the project's `src` and `.importlinter`."""
    shutil.copytree(ROOT / "src", tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / ".importlinter", tmp_path)
    return tmp_path


def inject(tree: Path, module: str, line: str) -> None:
    path = tree / module
    path.write_text(path.read_text() + f"\n{line}\n")


def test_the_real_tree_keeps_every_contract() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert set(verdicts(result.stdout).values()) == {"KEPT"}


@pytest.mark.parametrize(
    ("broken", "module", "line"),
    [
        ("private", "src/proxy/auth_paths.py", "from ..storage import _codec"),
        ("private", "src/api/async_init.py", "from src.storage._keys import KeySchema"),
        ("protected", "src/storage/_values.py", "from . import _redis_storage"),
        ("shims", "src/api/async_init.py", "from ..storage.async_redis_storage import X"),
        ("shims", "src/ports/manager.py", "import src.storage.redis_storage"),
        ("shims", "src/orchestrator/main_orchestrator.py", "from ..storage import redis_storage"),
        # An indirect chain: main -> embedded_redis (not itself forbidden) -> the shim.
        ("shims", "src/embedded_redis.py", "from .storage import redis_storage"),
        ("layers", "src/storage/_values.py", "import src.api"),
        # Not auth_paths: the OAuth router imports it, and main reaches the MCP router.
        ("layers", "src/proxy/forwarding.py", "from ..main import startup"),
        ("layers", "src/integration/app_integration.py", "from ..orchestrator import X"),
        ("layers", "src/ports/manager.py", "from ..docker import manager"),
        ("layers", "src/api/async_init.py", "from ..integration import app_integration"),
        ("routers", "src/api/routers/mcp/mcp.py", "from ..oauth import endpoints"),
    ],
)
def test_an_injected_violation_breaks_its_contract(
    tree: Path, broken: str, module: str, line: str
) -> None:
    inject(tree, module, line)
    result = lint_imports(tree)
    assert result.returncode == 1
    found = verdicts(result.stdout)
    assert found.pop(broken) == "BROKEN"
    assert set(found.values()) == {"KEPT"}, result.stdout


def test_broken_contracts_say_what_to_do_instead(tree: Path) -> None:
    inject(tree, "src/api/async_init.py", "from ..storage.async_redis_storage import X")
    result = lint_imports(tree)
    assert "src.api.async_init -> src.storage.async_redis_storage" in result.stdout
    assert "storage-guard migrate --write" in result.stdout

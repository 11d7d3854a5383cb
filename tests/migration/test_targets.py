"""Gateways laid out like the real one: a storage class without async twins, and component
folders without `__init__.py` (namespace packages) that import the storage relatively."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from storage_guard.check import check_paths
from storage_guard.config import load_config

Guard = Callable[..., subprocess.CompletedProcess[str]]

FIXTURES = Path(__file__).parent / "fixtures"
NOTICE = "UnifiedStorage defines no async twins: only imports are rewritten"


def copy(name: str, tmp_path: Path) -> Path:
    root = tmp_path / name
    shutil.copytree(FIXTURES / name, root)
    return root


def stg_codes(root: Path) -> list[tuple[str, str]]:
    """The core's findings under `src`, as (relative path, code)."""
    config = load_config(pyproject=root / "pyproject.toml")
    result = check_paths([root / "src"], config)
    return [(finding.relative, finding.code) for finding in result.findings]


def test_without_twins_only_imports_are_rewritten_and_it_is_said_once(
    tmp_path: Path, guard: Guard
) -> None:
    root = copy("forwarding_gateway", tmp_path)
    written = guard("migrate", "--write", "src", cwd=root)
    assert written.returncode == 0, written.stderr
    assert written.stderr.count(NOTICE) == 1
    assert "3 files rewritten, 0 manual items, 0 files skipped" in written.stderr
    assert (root / "src/proxy/app.py").read_text() == (
        "from ..storage import UnifiedStorage\n"
        "\n"
        "\n"
        "class ProxyApp:\n"
        "    def __init__(self, storage: UnifiedStorage) -> None:\n"
        "        self.storage = storage\n"
        "\n"
        "    async def target(self, hostname: str) -> object:\n"
        "        return await self.storage.get_proxy_target(hostname)\n"
        "\n"
        "    async def remove(self, hostname: str) -> object:\n"
        "        return await self.storage.delete_proxy_target(hostname)\n"
    )
    routes = (root / "src/api/routes.py").read_text()
    assert routes.startswith("from src.storage import UnifiedStorage\n")
    assert "await storage.list_routes()" in routes
    assert "await storage.initialize()" in (root / "src/main.py").read_text()
    assert stg_codes(root) == []


def test_namespace_folders_are_migrated_and_the_lint_agrees(tmp_path: Path, guard: Guard) -> None:
    root = copy("namespace_gateway", tmp_path)
    assert not (root / "src/integration/__init__.py").exists()
    assert not (root / "src/orchestrator/__init__.py").exists()
    assert stg_codes(root) == [
        ("src/integration/app_integration.py", "STG002"),
        ("src/orchestrator/main_orchestrator.py", "STG002"),
    ]
    pending = guard("migrate", "--check", "src", cwd=root)
    assert pending.returncode == 1
    assert "would rewrite src/integration/app_integration.py" in pending.stderr
    assert "would rewrite src/orchestrator/main_orchestrator.py" in pending.stderr
    assert "climbs above" not in pending.stderr

    written = guard("migrate", "--write", "src", cwd=root)
    assert written.returncode == 0, written.stderr
    assert "2 files rewritten, 0 manual items, 0 files skipped" in written.stderr
    integration = (root / "src/integration/app_integration.py").read_text()
    assert integration.startswith("from ..storage import UnifiedStorage\n")
    assert "return await self.storage.aget_proxy_target(hostname)" in integration
    orchestrator = (root / "src/orchestrator/main_orchestrator.py").read_text()
    assert orchestrator.startswith(
        "from ..integration.app_integration import AppIntegration\n"
        "from ..storage import ProxyTarget, UnifiedStorage\n"
    )
    assert "return self.storage.get_proxy_target(hostname)" in orchestrator, "sync stays sync"

    assert stg_codes(root) == []
    done = guard("migrate", "--check", "src", cwd=root)
    assert done.returncode == 0, done.stderr
    assert "0 files to rewrite, 0 manual items" in done.stderr

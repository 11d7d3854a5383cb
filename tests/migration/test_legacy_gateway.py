"""The whole story on a gateway written the old way: one command, then only the manual
work is left, as the real flake8 plugin and the real import-linter see it."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

Completed = subprocess.CompletedProcess[str]


EXPECTED_MANUAL = {
    "src/ports/manager.py:10:24: manual [construction]",
    "src/proxy/handler.py:7:19: manual [unproven-call]",
}


def manual_items(stderr: str) -> set[str]:
    return {line.partition("]")[0] + "]" for line in stderr.splitlines() if ": manual [" in line}


def test_the_legacy_tree_breaks_the_rules_before(
    legacy_gateway: Path,
    flake8_stg: Callable[[Path], list[str]],
    lint_imports: Callable[[Path], Completed],
) -> None:
    findings = flake8_stg(legacy_gateway)
    assert len(findings) >= 15
    assert {finding.rpartition(" ")[2] for finding in findings} == {"STG001", "STG002", "STG003"}
    linted = lint_imports(legacy_gateway)
    assert linted.returncode != 0
    assert "0 broken" not in linted.stdout


def test_after_the_migration_only_the_listed_manual_work_is_left(
    legacy_gateway: Path,
    guard: Callable[..., Completed],
    flake8_stg: Callable[[Path], list[str]],
    lint_imports: Callable[[Path], Completed],
) -> None:
    migrated = guard("migrate", "--write", "src", cwd=legacy_gateway)
    assert migrated.returncode == 0, migrated.stderr
    assert "15 files rewritten, 2 manual items, 0 files skipped" in migrated.stderr
    assert manual_items(migrated.stderr) == EXPECTED_MANUAL

    assert flake8_stg(legacy_gateway) == ["src/ports/manager.py:10:24: STG003"]
    linted = lint_imports(legacy_gateway)
    assert linted.returncode == 0, linted.stdout
    assert "Contracts: 2 kept, 0 broken." in linted.stdout

    again = guard("migrate", "--check", "src", cwd=legacy_gateway)
    assert again.returncode == 0, again.stderr
    assert manual_items(again.stderr) == EXPECTED_MANUAL


def test_the_old_call_sites_are_awaited_twins_after(migrated_gateway: Path) -> None:
    router = (migrated_gateway / "src/api/routers/proxy_targets.py").read_text()
    assert "await self.storage.aget_proxy_target(hostname)" in router
    assert "await self.storage.adelete_proxy_target(hostname)" in router
    handler = (migrated_gateway / "src/proxy/handler.py").read_text()
    assert "await app.state.storage.get_proxy_target(" in handler, "unproven: left as it was"
    assert "await fallback.aget_proxy_target(" in handler
    ports = (migrated_gateway / "src/ports/manager.py").read_text()
    assert 'self.storage.get("ports:next")' in ports, "sync code keeps the sync method"

"""`storage_report.py`: the real flake8 findings plus the manual items, in three formats."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from storage_migration import report

RunScript = Callable[..., subprocess.CompletedProcess[str]]


def migrate(root: Path, run_script: RunScript) -> Path:
    completed = run_script("migrate_storage.py", "--write", "src", cwd=root)
    assert completed.returncode == 0, completed.stderr
    return root


def test_json_counts_per_file_and_in_total(migrated_gateway: Path, run_script: RunScript) -> None:
    completed = run_script("storage_report.py", "--format", "json", "src", cwd=migrated_gateway)
    assert completed.returncode == 0, completed.stderr
    data = json.loads(completed.stdout)
    assert data["totals"] == {
        "files_scanned": 32,
        "files_with_findings": 2,
        "stg": 1,
        "manual": 2,
        "skipped": 0,
        "by_code": {"STG003": 1},
    }
    files = {entry["path"]: entry for entry in data["files"]}
    ports = files["src/ports/manager.py"]
    assert [(f["line"], f["code"]) for f in ports["stg"]] == [(10, "STG003")]
    assert [(m["line"], m["kind"]) for m in ports["manual"]] == [(10, "construction")]
    handler = files["src/proxy/handler.py"]
    assert handler["stg"] == [] and [m["kind"] for m in handler["manual"]] == ["unproven-call"]


def test_markdown_has_a_summary_table_and_the_items(
    migrated_gateway: Path, run_script: RunScript
) -> None:
    completed = run_script("storage_report.py", "--format", "markdown", "src", cwd=migrated_gateway)
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert lines[0] == "## Storage migration"
    assert "| `src/ports/manager.py` | 1 | 1 |" in lines
    assert "| `src/proxy/handler.py` | 0 | 1 |" in lines
    assert "| **Total** | **1** | **2** |" in lines
    assert any(line.startswith("- `10:24` **STG003** 'UnifiedStorage'") for line in lines)
    assert any(line.startswith("- `7:19` manual (unproven-call):") for line in lines)


def test_the_table_lists_files_then_items(migrated_gateway: Path, run_script: RunScript) -> None:
    completed = run_script("storage_report.py", "src", cwd=migrated_gateway)
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert lines[0].split() == ["file", "STG", "manual"]
    assert lines[1].split() == ["src/ports/manager.py", "1", "1"]
    assert lines[3].split() == ["total", "1", "2"]
    assert "  10:24  STG003  'UnifiedStorage' constructed outside a composition root" in "\n".join(
        lines
    )


def test_fail_on_findings_exits_1_until_the_work_is_done(
    legacy_gateway: Path, run_script: RunScript
) -> None:
    root = migrate(legacy_gateway, run_script)
    failing = run_script("storage_report.py", "--fail-on-findings", "src", cwd=root)
    assert failing.returncode == 1
    (root / "src/ports/manager.py").unlink()
    (root / "src/proxy/handler.py").unlink()
    clean = run_script(
        "storage_report.py", "--fail-on-findings", "--format", "json", "src", cwd=root
    )
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert json.loads(clean.stdout)["totals"]["files_with_findings"] == 0


def test_before_the_migration_the_report_counts_every_rule(
    legacy_gateway: Path, run_script: RunScript
) -> None:
    completed = run_script("storage_report.py", "--format", "json", "src", cwd=legacy_gateway)
    totals = json.loads(completed.stdout)["totals"]
    assert totals["by_code"] == {"STG001": 1, "STG002": 16, "STG003": 1}


def test_unparsable_files_count_as_findings(legacy_gateway: Path, run_script: RunScript) -> None:
    root = migrate(legacy_gateway, run_script)
    (root / "src/ports/manager.py").write_text("def broken(:\n")
    completed = run_script(
        "storage_report.py", "--format", "json", "--fail-on-findings", "src", cwd=root
    )
    assert completed.returncode == 1
    files = {entry["path"]: entry for entry in json.loads(completed.stdout)["files"]}
    assert files["src/ports/manager.py"]["error"].startswith("cannot parse")


def test_a_missing_stg_plugin_is_an_error_not_a_clean_report(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "clean.py").write_text("VALUE = 1\n")
    monkeypatch.chdir(tmp_path)
    # Without the plugin, flake8 --select=STG finds nothing, not even the probe's import.
    monkeypatch.setattr(
        report,
        "_flake8",
        lambda arguments, stdin=None: subprocess.CompletedProcess(arguments, 0, "", ""),
    )
    assert report.main(["clean.py"]) == report.EXIT_ERROR
    assert "STG plugin is not active" in capsys.readouterr().err

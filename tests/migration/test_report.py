"""`storage-guard report`: the core's STG findings plus the manual items, in three formats."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

Guard = Callable[..., subprocess.CompletedProcess[str]]

ITEM_ID = re.compile(r"SGM-[0-9a-f]{8}")


def migrate(root: Path, guard: Guard) -> Path:
    completed = guard("migrate", "--write", "src", cwd=root)
    assert completed.returncode == 0, completed.stderr
    return root


def test_json_counts_per_file_and_in_total(migrated_gateway: Path, guard: Guard) -> None:
    completed = guard("report", "--format", "json", "src", cwd=migrated_gateway)
    assert completed.returncode == 0, completed.stderr
    data = json.loads(completed.stdout)
    assert data["version"] == 1
    assert data["totals"] == {
        "files_scanned": 33,
        "files_with_findings": 2,
        "stg": 1,
        "manual": 2,
        "skipped": 0,
        "by_code": {"STG003": 1},
    }
    files = {entry["path"]: entry for entry in data["files"]}
    ports = files["src/ports/manager.py"]
    assert [(f["line"], f["column"], f["code"]) for f in ports["stg"]] == [(10, 24, "STG003")]
    [construction] = ports["manual"]
    assert (construction["line"], construction["kind"], construction["code"]) == (
        10,
        "construction",
        "STG003",
    )
    assert ITEM_ID.fullmatch(construction["id"])
    handler = files["src/proxy/handler.py"]
    assert handler["stg"] == [] and [m["kind"] for m in handler["manual"]] == ["unproven-call"]
    assert handler["manual"][0]["code"] is None
    assert handler["error"] is None


def test_markdown_has_a_summary_table_and_the_items(migrated_gateway: Path, guard: Guard) -> None:
    completed = guard("report", "--format", "markdown", "src", cwd=migrated_gateway)
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert lines[0] == "## Storage migration"
    assert "| `src/ports/manager.py` | 1 | 1 |" in lines
    assert "| `src/proxy/handler.py` | 0 | 1 |" in lines
    assert "| **Total** | **1** | **2** |" in lines
    assert any(line.startswith("- `10:24` **STG003** 'UnifiedStorage'") for line in lines)
    assert any(
        re.match(r"- `7:19` manual \(unproven-call\) `SGM-[0-9a-f]{8}`: ", line) for line in lines
    )


def test_the_table_lists_files_then_items(migrated_gateway: Path, guard: Guard) -> None:
    completed = guard("report", "src", cwd=migrated_gateway)
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert lines[0].split() == ["file", "STG", "manual"]
    assert lines[1].split() == ["src/ports/manager.py", "1", "1"]
    assert lines[3].split() == ["total", "1", "2"]
    text = "\n".join(lines)
    assert "  10:24  STG003  'UnifiedStorage' constructed outside a composition root" in text
    assert re.search(r"  7:19  manual \[unproven-call\] SGM-[0-9a-f]{8}  cannot prove", text)


def test_fail_on_findings_exits_1_until_the_work_is_done(
    legacy_gateway: Path, guard: Guard
) -> None:
    root = migrate(legacy_gateway, guard)
    failing = guard("report", "--fail-on-findings", "src", cwd=root)
    assert failing.returncode == 1
    (root / "src/ports/manager.py").unlink()
    (root / "src/proxy/handler.py").unlink()
    clean = guard("report", "--fail-on-findings", "--format", "json", "src", cwd=root)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert json.loads(clean.stdout)["totals"]["files_with_findings"] == 0


def test_fail_on_findings_goes_green_once_the_rest_is_suppressed(
    legacy_gateway: Path, guard: Guard
) -> None:
    root = migrate(legacy_gateway, guard)
    ports = root / "src/ports/manager.py"
    ports.write_text(
        ports.read_text().replace(
            'self.storage = UnifiedStorage(os.environ.get("REDIS_URL"))',
            'self.storage = UnifiedStorage(os.environ.get("REDIS_URL"))  # noqa: STG003',
        )
    )
    handler = root / "src/proxy/handler.py"
    handler.write_text(
        handler.read_text().replace(
            'found = await app.state.storage.get_proxy_target("localhost")',
            "found = await app.state.storage.get_proxy_target(  # storage-guard: ignore\n"
            '        "localhost"\n'
            "    )",
        )
    )
    clean = guard("report", "--fail-on-findings", "--format", "json", "src", cwd=root)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert json.loads(clean.stdout)["totals"]["files_with_findings"] == 0


def test_before_the_migration_the_report_counts_every_rule(
    legacy_gateway: Path, guard: Guard
) -> None:
    completed = guard("report", "--format", "json", "src", cwd=legacy_gateway)
    totals = json.loads(completed.stdout)["totals"]
    assert totals["by_code"] == {"STG001": 1, "STG002": 16, "STG003": 1}


def test_unparsable_files_count_as_findings(legacy_gateway: Path, guard: Guard) -> None:
    root = migrate(legacy_gateway, guard)
    (root / "src/ports/manager.py").write_text("from ..storage import UnifiedStorage\ndef b(:\n")
    completed = guard("report", "--format", "json", "--fail-on-findings", "src", cwd=root)
    assert completed.returncode == 1
    files = {entry["path"]: entry for entry in json.loads(completed.stdout)["files"]}
    broken = files["src/ports/manager.py"]
    assert broken["error"].startswith("cannot parse")
    assert [finding["code"] for finding in broken["stg"]] == ["STG000"]


def test_the_report_follows_a_foreign_configuration(tmp_path: Path, guard: Guard) -> None:
    """The `acme` layout: another package, class and composition root, no flake8 needed."""
    persistence = tmp_path / "acme" / "app" / "persistence"
    persistence.mkdir(parents=True)
    (persistence / "__init__.py").write_text("from ._db import Database\n")
    (persistence / "_db.py").write_text("class Database: ...\n")
    (tmp_path / "acme" / "app" / "wiring.py").write_text("")
    (tmp_path / "acme" / "app" / "jobs.py").write_text(
        "from acme.app.persistence._db import Database\n\nDB = Database()\n"
    )
    (tmp_path / "pyproject.toml").write_text(
        "[tool.storage-guard]\n"
        'package = "acme.app.persistence"\n'
        'classes = ["Database"]\n'
        "deprecated-modules = []\n"
        "deprecated-names = []\n"
        'composition-roots = ["acme/app/wiring.py"]\n'
    )
    completed = guard("report", "--format", "json", "--fail-on-findings", "acme", cwd=tmp_path)
    assert completed.returncode == 1, completed.stderr
    data = json.loads(completed.stdout)
    assert data["totals"]["by_code"] == {"STG001": 1, "STG003": 1}
    [jobs] = data["files"]
    assert jobs["path"] == "acme/app/jobs.py"
    assert [item["kind"] for item in jobs["manual"]] == ["construction"]

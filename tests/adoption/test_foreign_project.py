"""Every front end on the foreign-layout project agrees: `storage-guard check`, flake8 with
the plugin, `migrate --write`, `report` and `check-startup`."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from tests.commands import run, storage_guard

from .conftest import set_startup

FINDINGS = [
    "acme/app/services/orders.py:3:35: STG001 'acme.app.persistence._engine' is private to "
    "acme.app.persistence; import from acme.app.persistence instead",
    "acme/app/services/orders.py:4:34: STG002 'acme.app.persistence.legacy' is deprecated; "
    "use 'from acme.app.persistence import Database'",
    "acme/app/services/orders.py:17:16: STG003 'LegacyDatabase' constructed outside a "
    "composition root; take the instance the composition root passes in",
]


def test_check_reports_the_namespace_package_findings(acme: Path) -> None:
    result = storage_guard(acme, "check")
    assert result.returncode == 1
    assert result.stdout.splitlines() == FINDINGS


def test_flake8_reads_the_same_pyproject_configuration(acme: Path) -> None:
    result = run(acme, sys.executable, "-m", "flake8", "--select=STG", "acme")
    assert result.returncode == 1
    assert sorted(result.stdout.splitlines()) == sorted(FINDINGS)


def test_report_counts_the_same_findings(acme: Path) -> None:
    result = storage_guard(acme, "report", "--format", "json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["version"] == 1
    reported = [
        f"{file['path']}:{finding['line']}:{finding['column']}: {finding['code']}"
        for file in document["files"]
        for finding in file["stg"]
    ]
    assert reported == [re.sub(r"(STG\d{3}) .*", r"\1", line) for line in FINDINGS]


def test_migrate_write_leaves_only_what_needs_a_person(acme: Path) -> None:
    pending = storage_guard(acme, "migrate", "--check")
    assert pending.returncode == 1
    written = storage_guard(acme, "migrate", "--write")
    assert written.returncode == 0, written.stderr
    orders = (acme / "acme" / "app" / "services" / "orders.py").read_text()
    assert "from ..persistence import Database, Engine" not in orders  # Engine has no facade name
    assert "from ..persistence import Database" in orders
    # The twin exists on the target's own class (Database.asave), so the call is renamed;
    # aget_record comes from its base class inside the package.
    assert "await self.database.asave(key" in orders
    assert "await self.database.aget_record(key)" in orders
    assert storage_guard(acme, "migrate", "--check").returncode == 0
    remaining = storage_guard(acme, "check").stdout.splitlines()
    assert [re.sub(r":\d+:\d+:", ":", line).split("'")[0] for line in remaining] == [
        "acme/app/services/orders.py: STG001 ",
        "acme/app/services/orders.py: STG003 ",
    ]


def test_check_startup_runs_the_configured_entry(acme: Path) -> None:
    result = storage_guard(acme, "check-startup")
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "startup created exactly one storage: Database created at acme/app/wiring.py:8\n"
    )
    assert not list(acme.rglob("__pycache__"))


def test_check_startup_names_every_creation_site(acme: Path) -> None:
    set_startup(acme, "acme.app.wiring:start_twice")
    result = storage_guard(acme, "check-startup")
    assert result.returncode == 1
    assert result.stderr == (
        "check-startup: startup created 2 storages:\n"
        "  Database created at acme/app/wiring.py:8\n"
        "  LegacyDatabase created at acme/app/services/orders.py:17\n"
    )


def test_check_startup_without_an_entry_is_a_configuration_error(acme: Path) -> None:
    set_startup(acme, None)
    result = storage_guard(acme, "check-startup")
    assert result.returncode == 2
    assert result.stderr.startswith(
        "check-startup: no startup entry configured: set [tool.storage-guard] startup = "
    )


def test_check_startup_never_checks_another_copy(acme: Path, tmp_path: Path) -> None:
    set_startup(acme, "acme.app.missing:start")
    result = storage_guard(acme, "check-startup")
    assert result.returncode == 2
    assert result.stderr.startswith(
        "check-startup: cannot import the startup module 'acme.app.missing': "
    )
    # The storage package and the startup must come from this repository's source roots.
    set_startup(acme, "json:loads")
    result = storage_guard(acme, "check-startup")
    assert result.returncode == 2
    assert "outside the repository" in result.stderr

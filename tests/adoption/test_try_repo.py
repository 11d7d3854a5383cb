"""Adoption as a user adopts: `pre-commit try-repo` of this repository from a temporary
foreign git repository (the acme project), with pre-commit building the hook environments
from this repository's `.pre-commit-hooks.yaml` and packaging."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.commands import Completed, run

from .conftest import REPO, set_startup

PRE_COMMIT = Path(sys.executable).with_name("pre-commit")
# Building a hook environment installs this repository from the package index's packages.
BUILD_TIMEOUT = 600


def git_repository(project: Path) -> Path:
    for command in (
        ["git", "init", "-q"],
        ["git", "add", "-A"],
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "acme"],
    ):
        assert run(project, *command).returncode == 0
    return project


def try_repo(project: Path, hook: str) -> Completed:
    return run(
        project,
        str(PRE_COMMIT),
        "try-repo",
        str(REPO),
        hook,
        "--all-files",
        "--verbose",
        timeout=BUILD_TIMEOUT,
    )


@pytest.mark.parametrize("hook", ["stg-lint", "storage-guard"])
def test_the_lint_hooks_report_the_findings(acme: Path, hook: str) -> None:
    result = try_repo(git_repository(acme), hook)
    assert result.returncode == 1, result.stdout + result.stderr
    found = sorted(re.findall(r"^\.?/?(acme/\S+: STG\d{3})", result.stdout, re.MULTILINE))
    assert found == [
        "acme/app/services/orders.py:17:16: STG003",
        "acme/app/services/orders.py:3:35: STG001",
        "acme/app/services/orders.py:4:34: STG002",
    ]


def test_check_single_instance_needs_a_startup_entry(acme: Path) -> None:
    set_startup(acme, None)
    result = try_repo(git_repository(acme), "check-single-instance")
    assert result.returncode == 1
    assert "- exit code: 2" in result.stdout
    assert "no startup entry configured" in result.stdout


def test_check_single_instance_passes_with_one_storage(acme: Path) -> None:
    result = try_repo(git_repository(acme), "check-single-instance")
    assert result.returncode == 0, result.stdout
    assert "Database created at acme/app/wiring.py:8" in result.stdout


def test_check_single_instance_names_both_sites(acme: Path) -> None:
    set_startup(acme, "acme.app.wiring:start_twice")
    result = try_repo(git_repository(acme), "check-single-instance")
    assert result.returncode == 1
    assert "- exit code: 1" in result.stdout
    assert "Database created at acme/app/wiring.py:8" in result.stdout
    assert "LegacyDatabase created at acme/app/services/orders.py:17" in result.stdout


def test_the_hook_environment_holds_the_suite_only(tmp_path: Path) -> None:
    # try-repo builds its environments in a store it deletes afterwards, so this builds one
    # the way pre-commit's python hooks do: a fresh venv, then `pip install` of the
    # repository (its working tree, as try-repo takes it) with the hook's dependencies.
    source = tmp_path / "repository"
    tracked = run(REPO, "git", "ls-files", "-co", "--exclude-standard").stdout.splitlines()
    for name in tracked:
        if (REPO / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    environment = tmp_path / "py_env"
    venv.create(environment, with_pip=True)
    python = environment / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", str(source), "flake8>=7"],
        check=True,
        timeout=BUILD_TIMEOUT,
    )
    (site_packages,) = environment.glob("lib/python*/site-packages")
    installed = {path.name.lower() for path in site_packages.iterdir()}
    assert {"storage_guard", "flake8_storage_plugin", "flake8", "libcst"} <= installed
    assert "src" not in installed
    for heavy in ("fastapi", "uvicorn", "httpx", "cryptography", "redis", "starlette"):
        assert heavy not in installed
    assert (environment / "bin" / "storage-guard").exists()

"""Every configuration mistake is an error that names the key, with exit status 2, before
anything is checked; `rules`, `explain` and `docs/rules.md` say the same."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage_guard.rules import RULES, Rule, rules_markdown
from tests.commands import storage_guard

from .conftest import PYPROJECT, write

DOCS = Path(__file__).resolve().parents[2] / "docs" / "rules.md"
ORIGIN = "[tool.storage-guard]"


@pytest.mark.parametrize(
    ("replace", "by", "message"),
    [
        (
            'package = "app.storage"',
            'package = "app.storge"',
            f"{ORIGIN} package: no package 'app.storge' under the source roots (./); "
            "the closest existing package is 'app.storage'",
        ),
        (
            'package = "app.storage"',
            'package = "app..storage"',
            f"{ORIGIN} package: 'app..storage' is not a dotted module name such as src.storage",
        ),
        (
            'composition-roots = ["app/main.py"]',
            'composition-roots = ["app/wiring.py"]',
            f"{ORIGIN} composition-roots: '{{root}}/app/wiring.py' does not exist",
        ),
        (
            'composition-roots = ["app/main.py"]',
            'composition-roots = "app/main.py"\nsource-roots = ["lib"]',
            f"{ORIGIN} source-roots: '{{root}}/lib' is not a directory",
        ),
        (
            'classes = ["Storage", "OldStorage"]',
            'classes = ["Storage", "Old-Storage"]',
            f"{ORIGIN} classes: 'Old-Storage' is not a Python identifier",
        ),
        (
            'classes = ["Storage", "OldStorage"]',
            "classes = 3",
            f"{ORIGIN} classes: expected a list of strings, got 3",
        ),
        (
            'classes = ["Storage", "OldStorage"]',
            'classes = ["OldStorage"]',
            f"{ORIGIN} classes: every class is a deprecated name; "
            "at least one must remain as the replacement",
        ),
        (
            'deprecated-modules = ["old"]',
            'deprecated-module = ["old"]',
            f"{ORIGIN} deprecated-module: unknown key; did you mean 'deprecated-modules'?",
        ),
        (
            'deprecated-modules = ["old"]',
            'startup = "app.main"',
            f"{ORIGIN} startup: 'app.main' is not of the form 'package.module:function'",
        ),
        (
            'composition-roots = ["app/main.py"]',
            'composition-roots = ["app/main.py"]\n'
            '[tool.storage-guard.per-file-ignores]\n"tests/*" = ["E501"]',
            f"{ORIGIN} per-file-ignores: 'E501' is not an STG code such as STG003",
        ),
    ],
)
@pytest.mark.parametrize("command", ["check", "migrate", "report", "check-startup"])
def test_a_configuration_error_is_exit_2_naming_the_key(
    project: Path, command: str, replace: str, by: str, message: str
) -> None:
    write(project, {"pyproject.toml": PYPROJECT.replace(replace, by)})
    result = storage_guard(project, command)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        f"storage-guard: configuration error: {message.format(root=project)}\n"
    )


def test_an_unreadable_pyproject_is_exit_2(project: Path) -> None:
    write(project, {"pyproject.toml": "[tool.storage-guard\n"})
    result = storage_guard(project, "check")
    assert result.returncode == 2
    assert result.stderr.startswith(
        f"storage-guard: configuration error: {project / 'pyproject.toml'}: cannot read: "
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["check", "nowhere.py"], "storage-guard: no such file or directory: nowhere.py\n"),
        (
            ["--config", "missing.toml", "check"],
            "storage-guard: configuration error: --config: 'missing.toml' does not exist\n",
        ),
        (
            ["check", "--baseline", "missing.json"],
            "storage-guard: --baseline: 'missing.json' does not exist\n",
        ),
        (
            ["explain", "STG999"],
            "storage-guard: no rule 'STG999'; `storage-guard rules` lists them\n",
        ),
    ],
)
def test_usage_errors_are_exit_2(project: Path, args: list[str], message: str) -> None:
    result = storage_guard(project, *args)
    assert (result.returncode, result.stderr) == (2, message)


def test_a_malformed_baseline_is_exit_2(project: Path) -> None:
    write(project, {"baseline.json": '{"version": 7}'})
    result = storage_guard(project, "check", "--baseline", "baseline.json")
    assert result.returncode == 2
    assert result.stderr == (
        "storage-guard: --baseline: 'baseline.json' is not a version 1 storage-guard baseline\n"
    )


def test_an_unknown_option_is_exit_2(project: Path) -> None:
    assert storage_guard(project, "check", "--formats=json").returncode == 2


def test_the_configuration_is_found_from_a_subfolder(project: Path) -> None:
    result = storage_guard(project / "app" / "storage", "check", "..")
    assert result.returncode == 1
    assert len(result.stdout.splitlines()) == 3


def test_docs_rules_md_is_generated_from_the_rule_table() -> None:
    assert DOCS.read_text() == rules_markdown()


@pytest.mark.parametrize("rule", RULES, ids=[rule.code for rule in RULES])
def test_explain_prints_the_rules_section_of_the_docs(tmp_path: Path, rule: Rule) -> None:
    code = rule.code
    result = storage_guard(tmp_path, "explain", code.lower())
    assert result.returncode == 0
    assert result.stdout.startswith(f"## {code} ")
    assert result.stdout in DOCS.read_text()


def test_rules_lists_every_code(tmp_path: Path) -> None:
    result = storage_guard(tmp_path, "rules")
    assert [line.split()[0] for line in result.stdout.splitlines()] == [r.code for r in RULES]

"""`storage-guard check`: findings, output formats, exit codes and baselines, through the
real command on small projects."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from tests.commands import storage_guard

from .conftest import write

SCHEMA = Path(__file__).resolve().parents[1] / "check" / "sarif-schema-2.1.0.json"

STG001 = "STG001 'app.storage._backend' is private to app.storage; import from app.storage instead"
STG002 = "STG002 'app.storage.old' is deprecated; use 'from app.storage import Storage'"
STG003 = (
    "STG003 'OldStorage' constructed outside a composition root; "
    "take the instance the composition root passes in"
)
TEXT = [
    f"app/views.py:1:25: {STG001}",
    f"app/views.py:2:29: {STG002}",
    f"app/views.py:6:12: {STG003}",
]


def test_text_output_and_exit_status(project: Path) -> None:
    result = storage_guard(project, "check")
    assert result.returncode == 1
    assert result.stdout.splitlines() == TEXT
    assert result.stderr == "3 findings in 7 files checked\n"


def test_named_paths_are_shown_as_given(project: Path) -> None:
    result = storage_guard(project / "app", "check", "views.py", "main.py")
    assert result.stdout.splitlines() == [line.removeprefix("app/") for line in TEXT]


def test_a_clean_tree_passes(project: Path) -> None:
    result = storage_guard(project, "check", "app/main.py", "app/storage")
    assert (result.returncode, result.stdout) == (0, "")
    assert result.stderr == "0 findings in 5 files checked\n"


def test_json_output(project: Path) -> None:
    result = storage_guard(project / "app", "check", "--format", "json")
    assert result.returncode == 1
    document = json.loads(result.stdout)
    assert document["version"] == 1
    assert document["tool"] == "storage-guard"
    assert [
        (f["path"], f["line"], f["column"], f["code"], f["source"]) for f in document["findings"]
    ] == [
        ("app/views.py", 1, 25, "STG001", "from app.storage import _backend"),
        ("app/views.py", 2, 29, "STG002", "from app.storage.old import OldStorage"),
        ("app/views.py", 6, 12, "STG003", "OldStorage(url)"),
    ]
    assert document["findings"][0]["message"] == STG001.partition(" ")[2]
    assert document["summary"] == {
        "files_checked": 7,
        "findings": 3,
        "baselined": 0,
        "by_code": {"STG001": 1, "STG002": 1, "STG003": 1},
    }


def test_sarif_output_is_valid_sarif_2_1_0(project: Path) -> None:
    result = storage_guard(project, "check", "--format", "sarif")
    assert result.returncode == 1
    log = json.loads(result.stdout)
    jsonschema.Draft4Validator(json.loads(SCHEMA.read_text())).validate(log)
    (run,) = log["runs"]
    rules = run["tool"]["driver"]["rules"]
    assert [rule["id"] for rule in rules] == [f"STG00{n}" for n in range(7)]
    assert all(rule["help"]["markdown"].startswith(f"## {rule['id']}") for rule in rules)
    assert [
        (
            r["ruleId"],
            rules[r["ruleIndex"]]["id"],
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            r["locations"][0]["physicalLocation"]["region"],
        )
        for r in run["results"]
    ] == [
        ("STG001", "STG001", "app/views.py", {"startLine": 1, "startColumn": 25}),
        ("STG002", "STG002", "app/views.py", {"startLine": 2, "startColumn": 29}),
        ("STG003", "STG003", "app/views.py", {"startLine": 6, "startColumn": 12}),
    ]


def test_an_invalid_sarif_log_fails_the_schema(project: Path) -> None:
    # The schema check can fail: a result without its message is not SARIF.
    log = json.loads(storage_guard(project, "check", "--format", "sarif").stdout)
    del log["runs"][0]["results"][0]["message"]
    validator = jsonschema.Draft4Validator(json.loads(SCHEMA.read_text()))
    assert not validator.is_valid(log)


def test_github_annotations(project: Path) -> None:
    result = storage_guard(project, "check", "--format", "github")
    assert result.returncode == 1
    assert result.stdout.splitlines()[0] == (
        "::error file=app/views.py,line=1,col=25,title=STG001::"
        "'app.storage._backend' is private to app.storage; import from app.storage instead"
    )
    assert len(result.stdout.splitlines()) == 3


def test_noqa_covers_the_whole_statement_and_per_file_ignores_apply(project: Path) -> None:
    write(
        project,
        {
            "app/views.py": """\
                from app.storage import (  # noqa: STG001
                    _backend,
                )
                from app.storage.old import (
                    OldStorage,
                )  # noqa: STG002


                def view(url):
                    return OldStorage(url)  # noqa: STG002
            """,
            "pyproject.toml": (project / "pyproject.toml").read_text()
            + '\n[tool.storage-guard.per-file-ignores]\n"app/legacy/*" = ["STG003"]\n',
            "app/legacy/factory.py": "from app.storage import Storage\nStorage('x')\n",
        },
    )
    result = storage_guard(project, "check")
    assert result.stdout.splitlines() == [f"app/views.py:10:12: {STG003}"]


def test_exclude_skips_files_also_when_named(project: Path) -> None:
    write(
        project,
        {"pyproject.toml": (project / "pyproject.toml").read_text() + 'exclude = ["app/views*"]\n'},
    )
    assert storage_guard(project, "check").returncode == 0
    assert storage_guard(project, "check", "app/views.py").stdout == ""


def test_an_unparsable_file_that_mentions_storage_is_stg000(project: Path) -> None:
    write(
        project,
        {
            "app/broken.py": "from app.storage import Storage\ndef broken(:\n",
            "app/other.py": "def unrelated(:\n",
        },
    )
    result = storage_guard(project, "check", "app/broken.py", "app/other.py")
    assert result.returncode == 1
    assert result.stdout == (
        "app/broken.py:2:1: STG000 cannot check this file: invalid syntax (line 2)\n"
    )


def test_baseline_adopt_then_only_new_findings_fail_then_the_baseline_shrinks(
    project: Path,
) -> None:
    baseline = project / "storage-baseline.json"
    adopted = storage_guard(project, "check", "--write-baseline", str(baseline))
    assert adopted.returncode == 0
    assert adopted.stderr == f"wrote 3 findings to {baseline}\n"
    assert storage_guard(project, "check", "--baseline", str(baseline)).returncode == 0

    views = project / "app" / "views.py"
    # Unrelated edits above the findings move their lines; the baseline still matches.
    views.write_text("'''A docstring.'''\n\nimport os\n" + views.read_text())
    moved = storage_guard(project, "check", "--baseline", str(baseline))
    assert (moved.returncode, moved.stdout) == (0, "")
    assert moved.stderr.splitlines() == [
        f"baseline: 0 fixed and removed, 3 left in {baseline}",
        "0 findings in 7 files checked",
    ]

    views.write_text(views.read_text() + "\n\ndef other(url):\n    return OldStorage(url)\n")
    added = storage_guard(project, "check", "--baseline", str(baseline))
    assert added.returncode == 1
    assert added.stdout.splitlines() == [f"app/views.py:13:12: {STG003}"]

    views.write_text(views.read_text().replace("from app.storage import _backend\n", ""))
    (project / "app" / "views.py").write_text(
        views.read_text().replace("\n\ndef other(url):\n    return OldStorage(url)\n", "")
    )
    fixed = storage_guard(project, "check", "--baseline", str(baseline))
    assert (fixed.returncode, fixed.stdout) == (0, "")
    assert fixed.stderr.splitlines()[0] == f"baseline: 1 fixed and removed, 2 left in {baseline}"
    entries = json.loads(baseline.read_text())["findings"]
    assert sorted(entry["code"] for entry in entries) == ["STG002", "STG003"]
    # The fixed finding is gone from the baseline: bringing it back fails again.
    views.write_text("from app.storage import _backend\n" + views.read_text())
    assert storage_guard(project, "check", "--baseline", str(baseline)).returncode == 1


def test_checking_some_files_keeps_the_baseline_entries_of_the_others(project: Path) -> None:
    baseline = project / "baseline.json"
    storage_guard(project, "check", "--write-baseline", str(baseline))
    result = storage_guard(project, "check", "--baseline", str(baseline), "app/main.py")
    assert result.returncode == 0
    assert result.stderr.splitlines()[0] == f"baseline: 0 fixed and removed, 3 left in {baseline}"

"""`storage-guard report`: what stands between a codebase and the facade, for people and CI.

Per file and in total: the STG findings of the suite's core (`check.check_paths`, so the
report agrees with `storage-guard check` and the flake8 plugin under any configuration) and
the manual items the codemod leaves, each with its stable id. What a `# noqa`,
`per-file-ignores` or `# storage-guard: ignore[...]` comment suppresses is not listed, so
`--fail-on-findings` passes once everything is fixed or suppressed.

Formats: `table` (a terminal), `markdown` (e.g. a CI job summary) and `json`, whose schema is
(version 1; a new version only for incompatible changes):

    {
      "version": 1,
      "files": [                          # only files with something left, by path
        {
          "path": "src/ports/manager.py", # relative to the project root, "/" separators
          "stg": [                        # the STG findings, in position order
            {"line": 10, "column": 24, "code": "STG003", "message": "..."}
          ],
          "manual": [                     # the manual items, in position order
            {"id": "SGM-1a2b3c4d", "line": 10, "column": 24,
             "kind": "construction", "code": "STG003", "message": "..."}
          ],
          "error": null                   # or why the codemod could not read the file
        }
      ],
      "totals": {
        "files_scanned": 33, "files_with_findings": 2, "stg": 1, "manual": 2,
        "skipped": 0, "by_code": {"STG003": 1}
      }
    }

Lines and columns are 1-based; a manual item's `code` is the STG code the lint reports the
same spot under, or null. `kind` is one of `construction`, `dynamic-import`, `import`,
`shadowing`, `unproven-call`, `unawaited-call` (see `storage_guard.migration.suppression`).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal, TextIO

from .check import Finding, check_paths
from .config import Config
from .exits import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE
from .migration import LayerError, ManualItem, load_layer, migrate_files

SCHEMA_VERSION: Final = 1


OutputFormat = Literal["table", "markdown", "json"]


@dataclass
class FileReport:
    """Everything left to do in one file."""

    path: str
    stg: list[Finding] = field(default_factory=list)
    manual: list[ManualItem] = field(default_factory=list)
    error: str | None = None


@dataclass
class Report:
    """The files with something left to do, and how many files were looked at."""

    files: list[FileReport]
    scanned: int

    def totals(self) -> dict[str, object]:
        """Counts over every file."""
        codes = Counter(finding.code for report in self.files for finding in report.stg)
        return {
            "files_scanned": self.scanned,
            "files_with_findings": len(self.files),
            "stg": sum(codes.values()),
            "manual": sum(len(report.manual) for report in self.files),
            "skipped": sum(1 for report in self.files if report.error is not None),
            "by_code": dict(sorted(codes.items())),
        }

    @property
    def clean(self) -> bool:
        """Whether nothing at all is left."""
        return not self.files


def report_command(
    paths: Sequence[Path],
    config: Config,
    *,
    output_format: OutputFormat,
    fail_on_findings: bool,
    stdout: TextIO,
    stderr: TextIO,
) -> int:
    """Print the report of `paths` in `output_format`.

    Returns:
        1 with `fail_on_findings` while anything is left (a finding, a manual item, a file
        the codemod cannot read), 2 when the storage package does not provide what the
        configuration names, else 0.
    """
    try:
        report = build_report(paths, config, stderr)
    except LayerError as exc:
        print(f"storage-guard: configuration error: {exc}", file=stderr)
        return EXIT_USAGE
    stdout.write(RENDERERS[output_format](report) + "\n")
    return EXIT_FINDINGS if fail_on_findings and not report.clean else EXIT_OK


def build_report(paths: Sequence[Path], config: Config, stderr: TextIO) -> Report:
    """Check and analyse `paths` with the core and the codemod, combined per file.

    Raises:
        LayerError: the storage package does not provide what the configuration names.
    """
    layer = load_layer(config)
    if layer.notice is not None:
        print(layer.notice, file=stderr)
    checked = check_paths(paths, config)
    by_path: dict[str, FileReport] = {}
    for result in migrate_files(list(checked.files), layer, stderr):
        key = config.relative(result.path)
        manual = list(result.migration.manual) if result.migration else []
        if manual or result.error is not None:
            by_path[key] = FileReport(key, manual=manual, error=result.error)
    for finding in checked.findings:
        by_path.setdefault(finding.relative, FileReport(finding.relative)).stg.append(finding)
    return Report([by_path[key] for key in sorted(by_path)], len(checked.files))


def _finding(finding: Finding) -> dict[str, object]:
    return {
        "line": finding.line,
        "column": finding.column,
        "code": finding.code,
        "message": finding.message,
    }


def _item(item: ManualItem) -> dict[str, object]:
    return {
        "id": item.id,
        "line": item.line,
        "column": item.column,
        "kind": item.kind,
        "code": item.code,
        "message": item.message,
    }


def render_json(report: Report) -> str:
    """The report as JSON, in the schema of the module docstring."""
    files: list[Mapping[str, object]] = [
        {
            "path": file.path,
            "stg": [_finding(finding) for finding in file.stg],
            "manual": [_item(item) for item in file.manual],
            "error": file.error,
        }
        for file in report.files
    ]
    return json.dumps(
        {"version": SCHEMA_VERSION, "files": files, "totals": report.totals()}, indent=2
    )


def render_markdown(report: Report) -> str:
    """The report as Markdown: a summary table, then each file's items."""
    totals = report.totals()
    lines = [
        "## Storage migration",
        "",
        f"{totals['files_scanned']} files scanned, {totals['files_with_findings']} with "
        "something left to do.",
        "",
        "| File | STG findings | Manual items |",
        "| --- | ---: | ---: |",
    ]
    for file in report.files:
        status = " (skipped)" if file.error else ""
        lines.append(f"| `{file.path}`{status} | {len(file.stg)} | {len(file.manual)} |")
    lines.append(f"| **Total** | **{totals['stg']}** | **{totals['manual']}** |")
    for file in report.files:
        lines += ["", f"### `{file.path}`", ""]
        if file.error:
            lines.append(f"- skipped: {_escape(file.error)}")
        lines += [
            f"- `{item.line}:{item.column}` **{item.code}** {_escape(item.message)}"
            for item in file.stg
        ]
        lines += [
            f"- `{item.line}:{item.column}` manual ({item.kind}) `{item.id}`: "
            f"{_escape(item.message)}"
            for item in file.manual
        ]
    return "\n".join(lines)


def _escape(text: str) -> str:
    return text.replace("|", "\\|")


def render_table(report: Report) -> str:
    """The report as a plain terminal table, then each file's items."""
    totals = report.totals()
    width = max([len(file.path) for file in report.files] + [len("total")])
    lines = [f"{'file':<{width}}  {'STG':>5}  {'manual':>6}"]
    for file in report.files:
        status = "  skipped" if file.error else ""
        lines.append(f"{file.path:<{width}}  {len(file.stg):>5}  {len(file.manual):>6}{status}")
    lines.append(f"{'total':<{width}}  {totals['stg']:>5}  {totals['manual']:>6}")
    lines.append(
        f"{totals['files_scanned']} files scanned, {totals['files_with_findings']} with "
        "something left to do"
    )
    for file in report.files:
        lines += ["", file.path]
        if file.error:
            lines.append(f"  skipped: {file.error}")
        lines += [f"  {i.line}:{i.column}  {i.code}  {i.message}" for i in file.stg]
        lines += [
            f"  {i.line}:{i.column}  manual [{i.kind}] {i.id}  {i.message}" for i in file.manual
        ]
    return "\n".join(lines)


RENDERERS: Final[Mapping[str, Callable[[Report], str]]] = {
    "table": render_table,
    "markdown": render_markdown,
    "json": render_json,
}

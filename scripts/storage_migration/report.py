"""The `storage_report.py` command line: what stands between a codebase and the facade.

Per file and in total: the STG findings of the real flake8 plugin (run as a subprocess, so
the report can never disagree with CI's flake8) and the manual items the migration leaves.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .analysis import ManualItem
from .files import discover, migrate_files
from .layer import load_layer

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_ERROR = 2

# Fields cannot contain this separator, unlike the colons of the default format.
_SEPARATOR = "\x1f"
_FORMAT = _SEPARATOR.join(["%(path)s", "%(row)d", "%(col)d", "%(code)s", "%(text)s"])
# A deprecated import every configuration of the plugin flags as STG002.
_PROBE = "from src.storage.redis_storage import RedisStorage\n"

EPILOG = f"""\
exit codes:
  {EXIT_OK}  report printed (and, with --fail-on-findings, nothing was found)
  {EXIT_FINDINGS}  --fail-on-findings: an STG finding, a manual item or an unreadable file
  {EXIT_ERROR}  bad arguments, flake8 failed or its STG plugin is not active, or the
     storage facade could not be imported
"""


@dataclass(frozen=True)
class Finding:
    """One STG finding as flake8 reported it."""

    line: int
    column: int
    code: str
    message: str


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


class ReportError(Exception):
    """flake8 could not give a trustworthy answer."""


def run_flake8(paths: Sequence[Path]) -> dict[str, list[Finding]]:
    """The STG findings of flake8 on `paths`, by normalised path, with the configuration
    flake8 itself finds from the working directory."""
    _check_plugin_active()
    completed = _flake8([f"--format={_FORMAT}", *map(str, paths)])
    findings: dict[str, list[Finding]] = {}
    for line in completed.stdout.splitlines():
        path, row, column, code, text = line.split(_SEPARATOR, 4)
        message = text.removeprefix(f"{code} ")
        findings.setdefault(os.path.normpath(path), []).append(
            Finding(int(row), int(column), code, message)
        )
    return findings


def _check_plugin_active() -> None:
    """Refuse to report "no findings" when the STG plugin is simply not loaded."""
    completed = _flake8(
        [f"--format={_FORMAT}", "--stdin-display-name=src/stg_probe.py", "-"], stdin=_PROBE
    )
    if _SEPARATOR not in completed.stdout:
        raise ReportError(
            "flake8 did not flag a deprecated storage import: the STG plugin is not active "
            "(install the project, or declare the plugin under [flake8:local-plugins])"
        )


def _flake8(arguments: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    completed = subprocess.run(
        [sys.executable, "-m", "flake8", "--select=STG", *arguments],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    # flake8 exits 1 when it found something; anything else is a failure to run.
    if completed.returncode not in (0, 1):
        raise ReportError(f"flake8 failed: {completed.stderr.strip() or completed.stdout.strip()}")
    return completed


def build_report(paths: Sequence[Path]) -> Report:
    """Run flake8 and the migration's analysis on `paths` and combine them per file."""
    stg = run_flake8(paths)
    files = discover(paths)
    by_path: dict[str, FileReport] = {}
    for result in migrate_files(files, load_layer(), sys.stderr):
        key = os.path.normpath(result.path)
        manual = list(result.migration.manual) if result.migration else []
        if manual or result.error is not None:
            by_path[key] = FileReport(key, manual=manual, error=result.error)
    for path, findings in stg.items():
        by_path.setdefault(path, FileReport(path)).stg = findings
    scanned = len({os.path.normpath(path) for path in files} | set(stg))
    return Report([by_path[key] for key in sorted(by_path)], scanned)


def render_json(report: Report) -> str:
    """The report as JSON: `files` (each with `stg`, `manual`, `error`) and `totals`."""
    return json.dumps(
        {"files": [asdict(file) for file in report.files], "totals": report.totals()}, indent=2
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
            f"- `{item.line}:{item.column}` manual ({item.kind}): {_escape(item.message)}"
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
        lines += [f"  {i.line}:{i.column}  manual [{i.kind}]  {i.message}" for i in file.manual]
    return "\n".join(lines)


RENDERERS = {"table": render_table, "markdown": render_markdown, "json": render_json}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, with the exit codes in its help."""
    parser = argparse.ArgumentParser(
        prog="storage_report.py",
        description=(
            "Report, per file and in total, the STG findings of flake8 and the manual items "
            "the storage migration leaves, to track the migration in CI."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("paths", nargs="+", type=Path, help="files or folders to report on")
    parser.add_argument("--format", choices=sorted(RENDERERS), default="table")
    parser.add_argument(
        "--fail-on-findings",
        action="store_true",
        help="exit 1 if anything is left to do",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Print the report; see `build_parser` for the arguments and exit codes."""
    args = build_parser().parse_args(argv)
    try:
        report = build_report(args.paths)
    except ReportError as exc:
        print(exc, file=sys.stderr)
        return EXIT_ERROR
    except (ImportError, AttributeError) as exc:
        print(f"cannot load the storage facade: {exc}", file=sys.stderr)
        return EXIT_ERROR
    print(RENDERERS[args.format](report))
    return EXIT_FINDINGS if args.fail_on_findings and not report.clean else EXIT_OK

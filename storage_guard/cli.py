"""The `storage-guard` command: thin front ends over the suite's core.

Exit codes, the same for every subcommand: 0 clean, 1 findings (or a failed check),
2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Final, TextIO

from .baseline import BaselineError, entries_of, load_baseline, match, write_baseline
from .check import check_paths
from .config import Config, ConfigError, load_config
from .exits import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE
from .formats import RENDERERS, TOOL_VERSION, Outcome
from .rules import BY_CODE, RULES, rules_markdown

EPILOG: Final = f"""\
exit codes (every subcommand):
  {EXIT_OK}  clean
  {EXIT_FINDINGS}  findings, pending rewrites, or a failed startup check
  {EXIT_USAGE}  usage or configuration error

The configuration is [tool.storage-guard] in the nearest pyproject.toml that has it.
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="storage-guard",
        description="Keep a codebase on one storage layer.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {TOOL_VERSION}")
    parser.add_argument(
        "--config",
        type=Path,
        metavar="PYPROJECT",
        help="the pyproject.toml to read (default: the nearest one with [tool.storage-guard])",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    check = commands.add_parser("check", help="run the STG rules (no flake8 needed)")
    check.add_argument("paths", nargs="*", type=Path, help="files or folders (default: .)")
    check.add_argument("--format", choices=sorted(RENDERERS), default="text")
    check.add_argument(
        "--baseline",
        type=Path,
        metavar="FILE",
        help="report only findings not in FILE; fixed ones are removed from it",
    )
    check.add_argument(
        "--write-baseline",
        type=Path,
        metavar="FILE",
        help="write every current finding to FILE and exit 0",
    )

    migrate = commands.add_parser("migrate", help="rewrite code written for the old classes")
    migrate.add_argument("paths", nargs="*", type=Path, help="files or folders (default: .)")
    mode = migrate.add_mutually_exclusive_group()
    mode.add_argument(
        "--diff",
        action="store_const",
        dest="mode",
        const="diff",
        help="print a unified diff (the default)",
    )
    mode.add_argument(
        "--write",
        action="store_const",
        dest="mode",
        const="write",
        help="rewrite the files in place",
    )
    mode.add_argument(
        "--check",
        action="store_const",
        dest="mode",
        const="check",
        help="change nothing; exit 1 if a file would be rewritten",
    )
    migrate.set_defaults(mode="diff")

    report = commands.add_parser("report", help="what stands between the code and the facade")
    report.add_argument("paths", nargs="*", type=Path, help="files or folders (default: .)")
    report.add_argument("--format", choices=["json", "markdown", "table"], default="table")
    report.add_argument(
        "--fail-on-findings", action="store_true", help="exit 1 if anything is left to do"
    )

    commands.add_parser(
        "check-startup", help="run the configured startup entry; exactly one storage?"
    )
    rules = commands.add_parser("rules", help="list the rules")
    rules.add_argument("--format", choices=["text", "markdown"], default="text")
    explain = commands.add_parser("explain", help="print one rule's documentation")
    explain.add_argument("code", help="a rule code such as STG003")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run `storage-guard`; see `build_parser`."""
    args = build_parser().parse_args(argv)
    stdout, stderr = sys.stdout, sys.stderr
    if args.command == "rules":
        return _rules(args.format, stdout)
    if args.command == "explain":
        return _explain(args.code, stdout, stderr)
    try:
        config = load_config(pyproject=args.config)
    except ConfigError as exc:
        print(f"storage-guard: configuration error: {exc}", file=stderr)
        return EXIT_USAGE
    # The other use cases load on demand: `check` must start fast (libcst alone costs more
    # than checking most codebases).
    if args.command == "check-startup":
        from .startup import check_startup

        return check_startup(config, stdout, stderr)
    paths = args.paths or [Path(".")]
    missing = [path for path in paths if not path.exists()]
    if missing:
        print(f"storage-guard: no such file or directory: {missing[0]}", file=stderr)
        return EXIT_USAGE
    if args.command == "check":
        return _check(args, paths, config, stdout, stderr)
    if args.command == "migrate":
        from .migration import migrate_command

        return migrate_command(paths, config, mode=args.mode, stdout=stdout, stderr=stderr)
    from .report import report_command

    return report_command(
        paths,
        config,
        output_format=args.format,
        fail_on_findings=args.fail_on_findings,
        stdout=stdout,
        stderr=stderr,
    )


def _check(
    args: argparse.Namespace, paths: Sequence[Path], config: Config, stdout: TextIO, stderr: TextIO
) -> int:
    result = check_paths(paths, config)
    if args.write_baseline is not None:
        write_baseline(args.write_baseline, entries_of(result.findings))
        print(f"wrote {len(result.findings)} findings to {args.write_baseline}", file=stderr)
        return EXIT_OK
    findings = result.findings
    baselined = 0
    if args.baseline is not None:
        try:
            baseline = load_baseline(args.baseline)
        except BaselineError as exc:
            print(f"storage-guard: {exc}", file=stderr)
            return EXIT_USAGE
        matched = match(findings, baseline, {config.relative(file) for file in result.files})
        findings, baselined = matched.new, matched.baselined
        if matched.fixed:
            write_baseline(args.baseline, matched.remaining)
        print(
            f"baseline: {matched.fixed} fixed and removed, "
            f"{sum(matched.remaining.values())} left in {args.baseline}",
            file=stderr,
        )
    stdout.write(RENDERERS[args.format](Outcome(findings, len(result.files), baselined)))
    if args.format == "text":
        noun = "finding" if len(findings) == 1 else "findings"
        print(f"{len(findings)} {noun} in {len(result.files)} files checked", file=stderr)
    return EXIT_FINDINGS if findings else EXIT_OK


def _rules(output_format: str, stdout: TextIO) -> int:
    if output_format == "markdown":
        stdout.write(rules_markdown())
        return EXIT_OK
    width = max(len(rule.name) for rule in RULES)
    for rule in RULES:
        stdout.write(f"{rule.code}  {rule.name:<{width}}  {rule.summary}\n")
    return EXIT_OK


def _explain(code: str, stdout: TextIO, stderr: TextIO) -> int:
    rule = BY_CODE.get(code.upper())
    if rule is None:
        print(f"storage-guard: no rule {code!r}; `storage-guard rules` lists them", file=stderr)
        return EXIT_USAGE
    stdout.write(rule.markdown())
    return EXIT_OK

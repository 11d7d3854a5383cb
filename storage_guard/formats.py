"""The output formats of `storage-guard check`: text, json, sarif and github.

JSON schema, version 1 (a change that removes or renames a field bumps `version`):

    {"version": 1, "tool": "storage-guard", "tool_version": "0.2.0",
     "findings": [{"path": str, "line": int, "column": int, "code": str,
                   "message": str, "source": str}],
     "summary": {"files_checked": int, "findings": int, "baselined": int,
                 "by_code": {code: int}}}

`path` is relative to the project root with `/`; `line` and `column` are 1-based;
`source` is the offending statement, whitespace folded (what a baseline matches).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from .check import Finding
from .rules import RULES

TOOL_NAME: Final = "storage-guard"
TOOL_VERSION: Final = "0.2.0"
JSON_VERSION: Final = 1
SARIF_SCHEMA: Final = "https://json.schemastore.org/sarif-2.1.0.json"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a check run found, for a renderer."""

    findings: Sequence[Finding]
    files_checked: int
    baselined: int = 0


def render_text(outcome: Outcome) -> str:
    """flake8's format: `path:line:col: CODE message`, one finding a line."""
    return "".join(
        f"{finding.path}:{finding.line}:{finding.column}: {finding.code} {finding.message}\n"
        for finding in outcome.findings
    )


def render_json(outcome: Outcome) -> str:
    """The versioned JSON document described in the module docstring."""
    document = {
        "version": JSON_VERSION,
        "tool": TOOL_NAME,
        "tool_version": TOOL_VERSION,
        "findings": [
            {
                "path": finding.relative,
                "line": finding.line,
                "column": finding.column,
                "code": finding.code,
                "message": finding.message,
                "source": finding.source,
            }
            for finding in outcome.findings
        ],
        "summary": {
            "files_checked": outcome.files_checked,
            "findings": len(outcome.findings),
            "baselined": outcome.baselined,
            "by_code": dict(sorted(Counter(f.code for f in outcome.findings).items())),
        },
    }
    return json.dumps(document, indent=2) + "\n"


def render_sarif(outcome: Outcome) -> str:
    """A SARIF 2.1.0 log with one run, the rules as metadata, paths relative to the root."""
    index = {rule.code: position for position, rule in enumerate(RULES)}
    rules = [
        {
            "id": rule.code,
            "name": rule.name,
            "shortDescription": {"text": rule.summary},
            "fullDescription": {"text": rule.why},
            "help": {"text": rule.why, "markdown": rule.markdown()},
            "defaultConfiguration": {"level": "error"},
        }
        for rule in RULES
    ]
    results = [
        {
            "ruleId": finding.code,
            "ruleIndex": index[finding.code],
            "level": "error",
            "message": {"text": finding.message},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": finding.relative, "uriBaseId": "ROOT"},
                        "region": {"startLine": finding.line, "startColumn": finding.column},
                    }
                }
            ],
            "partialFingerprints": {"offendingSource/v1": finding.source},
        }
        for finding in outcome.findings
    ]
    log = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": TOOL_NAME,
                        "version": TOOL_VERSION,
                        "rules": rules,
                    }
                },
                "results": results,
            }
        ],
    }
    return json.dumps(log, indent=2) + "\n"


def render_github(outcome: Outcome) -> str:
    """GitHub Actions workflow commands: one `::error` annotation per finding."""
    return "".join(
        f"::error file={_property(finding.path)},line={finding.line},col={finding.column},"
        f"title={_property(finding.code)}::{_data(finding.message)}\n"
        for finding in outcome.findings
    )


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


RENDERERS: Final[dict[str, Callable[[Outcome], str]]] = {
    "text": render_text,
    "json": render_json,
    "sarif": render_sarif,
    "github": render_github,
}

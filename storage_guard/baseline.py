"""Baselines: adopt the gate on a codebase that already has findings; only new ones fail.

A baseline entry is a file (relative to the project root), a code and the offending source
text with its whitespace folded, with a count. Line numbers play no part, so an edit above
a finding keeps it matched. A fixed finding leaves the baseline the next time its file is
checked: the baseline only shrinks (a ratchet).

File format, version 1:

    {"version": 1, "tool": "storage-guard",
     "findings": [{"path": str, "code": str, "source": str, "count": int}]}
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from .check import Finding

BASELINE_VERSION: Final = 1

Key = tuple[str, str, str]
"""(path relative to the root, code, offending source)."""


class BaselineError(ValueError):
    """The baseline file cannot be read; the message says why."""


@dataclass(frozen=True, slots=True)
class Matched:
    """The findings a baseline does not cover, and what became of the baseline."""

    new: tuple[Finding, ...]
    baselined: int
    """Findings the baseline covered."""
    fixed: int
    """Baseline entries whose finding is gone from a file checked in this run."""
    remaining: Counter[Key]
    """The baseline without the fixed entries."""


def key(finding: Finding) -> Key:
    """What a baseline entry matches a finding by."""
    return finding.relative, finding.code, finding.source


def load_baseline(path: Path) -> Counter[Key]:
    """The entries of the baseline file `path`."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BaselineError(f"--baseline: {str(path)!r} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BaselineError(f"--baseline: cannot read {str(path)!r}: {exc}") from None
    if not isinstance(document, dict) or document.get("version") != BASELINE_VERSION:
        raise BaselineError(
            f"--baseline: {str(path)!r} is not a version {BASELINE_VERSION} storage-guard baseline"
        )
    entries: Counter[Key] = Counter()
    for entry in document.get("findings", []):
        try:
            path_, code, source, count = (
                entry["path"],
                entry["code"],
                entry["source"],
                entry.get("count", 1),
            )
        except (KeyError, TypeError, AttributeError):
            raise BaselineError(
                f"--baseline: malformed entry in {str(path)!r}: {entry!r}"
            ) from None
        if not all(isinstance(v, str) for v in (path_, code, source)) or type(count) is not int:
            raise BaselineError(f"--baseline: malformed entry in {str(path)!r}: {entry!r}")
        entries[(path_, code, source)] += count
    return entries


def match(findings: Sequence[Finding], baseline: Counter[Key], checked: Collection[str]) -> Matched:
    """Drop the findings `baseline` covers; `checked` are the relative paths of this run."""
    available = Counter(baseline)
    new = []
    for finding in findings:
        found = key(finding)
        if available[found] > 0:
            available[found] -= 1
        else:
            new.append(finding)
    fixed = Counter({k: n for k, n in available.items() if n > 0 and k[0] in checked})
    remaining = baseline - fixed
    return Matched(tuple(new), len(findings) - len(new), sum(fixed.values()), remaining)


def write_baseline(path: Path, entries: Counter[Key]) -> None:
    """Write `entries` to `path` atomically, sorted so that diffs of it stay small."""
    document = {
        "version": BASELINE_VERSION,
        "tool": "storage-guard",
        "findings": [
            {"path": p, "code": c, "source": s, "count": n}
            for (p, c, s), n in sorted(entries.items())
            if n > 0
        ],
    }
    text = json.dumps(document, indent=2) + "\n"
    folder = path.parent if str(path.parent) else Path(".")
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as output:
            output.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def entries_of(findings: Sequence[Finding]) -> Counter[Key]:
    """A baseline holding exactly `findings`."""
    return Counter(key(finding) for finding in findings)

"""`# noqa` semantics, shared by every front end.

As in flake8, `# noqa` alone suppresses every code and `# noqa: STG002,STG005` the codes
listed (a listed prefix such as `STG` covers every code it starts). Unlike flake8's
per-line rule, a comment on any line of the statement covers the whole statement, so a
parenthesised import can carry its `# noqa` on the `from` line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

# flake8's own pattern (flake8.defaults.NOQA_INLINE_REGEXP), so both read a comment alike.
NOQA: Final = re.compile(r"# noqa(?::[\s]?(?P<codes>([A-Z]+[0-9]+(?:[,\s]+)?)+))?", re.IGNORECASE)
_SEPARATOR: Final = re.compile(r"[,\s]+")


def codes_on(line: str) -> frozenset[str] | None:
    """What the `# noqa` comment of `line` suppresses: None for none, empty for all."""
    if "#" not in line:
        return None
    match = NOQA.search(line)
    if match is None:
        return None
    listed = match.group("codes")
    if not listed:
        return frozenset()
    return frozenset(code.upper() for code in _SEPARATOR.split(listed) if code)


def is_suppressed(lines: Sequence[str], first: int, last: int, code: str) -> bool:
    """Whether a `# noqa` on lines `first`..`last` (1-based) of `lines` covers `code`."""
    for number in range(max(first, 1), min(last, len(lines)) + 1):
        codes = codes_on(lines[number - 1])
        if codes is not None and (not codes or code.startswith(tuple(codes))):
            return True
    return False

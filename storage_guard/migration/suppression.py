"""Manual items: their stable ids, and the comment that suppresses them.

An item's id is `SGM-` and the first 8 hex digits of a SHA-256 over the file's path
(relative to the project root), the item's kind, its source text with whitespace folded, and
its occurrence among the items of the file with the same kind and text. Lines are not part of
it, so editing code above an item keeps its id.

A person who has decided that an item needs no change writes, on any line of its statement:

    await self.storage.get(key)  # storage-guard: ignore[unproven-call]

The brackets list kinds (`construction`, `dynamic-import`, `import`, `shadowing`,
`unproven-call`, `unawaited-call`) or ids, separated by commas; a bare
`# storage-guard: ignore` suppresses every item of the statement. An item the lint reports
too (a construction is STG003) is also suppressed by the `# noqa: STG00x` or
`per-file-ignores` entry that accepts the lint's finding.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Final

from .analysis import ManualItem

ID_PREFIX: Final = "SGM-"
IGNORE: Final = re.compile(r"#\s*storage-guard:\s*ignore(?:\[(?P<listed>[^\]]*)\])?", re.IGNORECASE)
_SEPARATOR: Final = re.compile(r"[,\s]+")


def with_ids(relative: str, items: Iterable[ManualItem]) -> list[ManualItem]:
    """`items` (in source order) with their ids."""
    seen: Counter[tuple[str, str]] = Counter()
    identified = []
    for item in sorted(items):
        key = (item.kind, item.source)
        occurrence = seen[key]
        seen[key] += 1
        digest = hashlib.sha256(
            "\0".join([relative, item.kind, item.source, str(occurrence)]).encode()
        ).hexdigest()
        identified.append(replace(item, id=f"{ID_PREFIX}{digest[:8]}"))
    return identified


def ignored_on(line: str) -> frozenset[str] | None:
    """What the `# storage-guard: ignore` comment of `line` lists: None for no comment,
    empty for a bare one (everything)."""
    if "storage-guard" not in line:
        return None
    match = IGNORE.search(line)
    if match is None:
        return None
    listed = match.group("listed") or ""
    return frozenset(part.lower() for part in _SEPARATOR.split(listed) if part)


def is_ignored(lines: Sequence[str], item: ManualItem) -> bool:
    """Whether a comment on a line of the item's statement suppresses it."""
    wanted = {item.kind.lower(), item.id.lower()}
    for number in range(max(item.first_line, 1), min(item.last_line, len(lines)) + 1):
        listed = ignored_on(lines[number - 1])
        if listed is not None and (not listed or listed & wanted):
            return True
    return False

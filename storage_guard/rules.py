"""The STG rules: their codes, names, messages and documentation, in one table.

`storage-guard rules` lists them, `storage-guard explain CODE` prints one, SARIF output
carries them as rule metadata, and `docs/rules.md` is generated from them (a test keeps it
in step).
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule: what it forbids, why, and a bad and a good example."""

    code: str
    name: str
    summary: str
    why: str
    bad: str
    good: str

    def markdown(self) -> str:
        """The rule's documentation page, as in `docs/rules.md`."""
        return "\n".join(
            [
                f"## {self.code} `{self.name}`",
                "",
                self.summary,
                "",
                self.why,
                "",
                "Bad:",
                "",
                "```python",
                self.bad.rstrip(),
                "```",
                "",
                "Good:",
                "",
                "```python",
                self.good.rstrip(),
                "```",
                "",
            ]
        )


def _text(value: str) -> str:
    return textwrap.dedent(value).strip()


RULES: Final = (
    Rule(
        "STG000",
        "unparsable-file",
        "A file that may touch the storage package cannot be read or parsed.",
        _text("""
            The rules read a file's syntax tree; a file that is not valid Python (or not in
            its declared encoding) cannot be checked, so it is reported rather than passed.
            Files that never mention the storage package or a storage class are not parsed
            at all: syntax errors are the business of your compiler and general linters.
        """),
        "from src.storage import UnifiedStorage\ndef broken(:\n",
        "from src.storage import UnifiedStorage\n\n\ndef fixed(): ...\n",
    ),
    Rule(
        "STG001",
        "private-storage-module",
        "A private module of the storage package is imported from outside the package.",
        _text("""
            Every module of the storage package whose name starts with `_` is an
            implementation detail behind the facade (the package's `__init__`). Code that
            imports one depends on internals that may change, and can reach the Redis
            backend around the single storage instance.
        """),
        "from src.storage._redis_storage import RedisBackend\n",
        "from src.storage import UnifiedStorage\n",
    ),
    Rule(
        "STG002",
        "deprecated-storage-import",
        "A deprecated storage module or name is imported.",
        _text("""
            The deprecated modules and names (`deprecated-modules`, `deprecated-names`) are
            the old storage classes. Each one constructs or wraps its own storage; new code
            takes the one instance the composition root creates. `storage-guard migrate`
            rewrites these imports for you.
        """),
        "from src.storage.async_redis_storage import AsyncRedisStorage\n",
        "from src.storage import UnifiedStorage\n",
    ),
    Rule(
        "STG003",
        "storage-outside-composition-root",
        "A storage class is constructed outside a composition root.",
        _text("""
            Exactly one storage exists per process, created in the composition root
            (`composition-roots`) and passed to every component. A construction anywhere
            else makes a second instance with its own connections and defaults. Calls are
            followed through aliases and module attributes.
        """),
        _text("""
            class PortManager:
                def __init__(self, url: str) -> None:
                    self.storage = UnifiedStorage(url)
        """),
        _text("""
            class PortManager:
                def __init__(self, storage: UnifiedStorage) -> None:
                    self.storage = storage
        """),
    ),
    Rule(
        "STG004",
        "dynamic-storage-import",
        "A private or deprecated storage module is imported with `importlib.import_module` "
        "or `__import__`.",
        _text("""
            A dynamic import with a literal name is the same import as a statement, hidden
            from the import graph that `lint-imports` checks.
        """),
        'backend = importlib.import_module("src.storage._redis_storage")\n',
        "from src.storage import UnifiedStorage\n",
    ),
    Rule(
        "STG005",
        "non-facade-import",
        "A storage class, or a public module of the storage package other than the facade, "
        "is imported from somewhere other than the facade.",
        _text("""
            The facade (`from src.storage import ...`) is the one import path: it keeps the
            package free to move code between its modules. Importing a storage class from
            the module that defines it, or a submodule whole, bypasses it.
        """),
        "from src.storage.unified_storage import UnifiedStorage\n"
        "import src.storage.unified_storage\n",
        "from src.storage import UnifiedStorage\n",
    ),
    Rule(
        "STG006",
        "second-storage-in-composition-root",
        "A composition root constructs storage more than once.",
        _text("""
            Even the composition root creates the storage once; later wiring reuses that
            instance. At run time the second construction raises
            `StorageAlreadyCreatedError`; this rule reports it before it runs.
        """),
        "storage = UnifiedStorage(url)\nfallback = UnifiedStorage(url)\n",
        "storage = UnifiedStorage(url)\nfallback = storage\n",
    ),
)

BY_CODE: Final = {rule.code: rule for rule in RULES}

MESSAGES: Final = {
    "STG000": "STG000 cannot check this file: {reason}",
    "STG001": "STG001 '{target}' is private to {package}; import from {package} instead",
    "STG002": "STG002 '{target}' is deprecated; use 'from {package} import {replacement}'",
    "STG003": (
        "STG003 '{cls}' constructed outside a composition root; "
        "take the instance the composition root passes in"
    ),
    "STG004-private": (
        "STG004 dynamic import of '{target}', which is private to {package}; "
        "import from {package} instead"
    ),
    "STG004-deprecated": (
        "STG004 dynamic import of deprecated '{target}'; use 'from {package} import {replacement}'"
    ),
    "STG005-name": (
        "STG005 '{name}' imported from '{module}', not from the facade; "
        "use 'from {package} import {name}'"
    ),
    "STG005-module": (
        "STG005 '{target}' is a module of {package} other than the facade; "
        "import what you need from {package}"
    ),
    "STG006": (
        "STG006 '{cls}' constructed a second time in this composition root "
        "(first construction on line {first})"
    ),
}
"""One `str.format` template per code and variant; the message starts with its code."""


def rules_markdown() -> str:
    """`docs/rules.md`: every rule's page."""
    header = [
        "# The STG rules",
        "",
        "Generated from `storage_guard/rules.py` (`storage-guard rules --format markdown`);",
        "`storage-guard explain CODE` prints one section. Suppress a finding with",
        "`# noqa: STG00x` on any line of the statement, or with `per-file-ignores`.",
        "",
    ]
    return "\n".join([*header, *(rule.markdown() for rule in RULES)])

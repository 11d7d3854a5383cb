"""The check use case: which files to read, and the findings of the STG rules in each.

Every front end goes through `analyse`: the flake8 plugin with the tree flake8 parsed,
`storage-guard check` and `report` with `check_paths`.
"""

from __future__ import annotations

import ast
import functools
import io
import os
import re
import tokenize
import unicodedata
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .config import SKIPPED_FOLDERS, Config
from .modules import SOURCE_SUFFIXES, module_path
from .noqa import is_suppressed
from .rules import MESSAGES
from .scan import FileScan, Report

# Below this many files per extra process, starting the process costs more than it saves.
FILES_PER_WORKER = 200

_SOURCE_LIMIT = 300
"""Characters of the offending source kept for baselines: enough to tell findings apart."""


@dataclass(frozen=True, slots=True, order=True)
class Finding:
    """One violation in one file."""

    path: str
    """The file as it was named or found (relative to the working directory if given so)."""
    line: int
    column: int
    """1-based, as flake8 prints it."""
    code: str
    message: str
    """The message without its code."""
    source: str
    """The offending statement (or call), whitespace folded: what a baseline matches."""
    relative: str
    """The file relative to the project root, with `/`."""


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The findings of a run, in path and position order, and the files it read."""

    findings: tuple[Finding, ...]
    files: tuple[Path, ...]


def analyse(
    tree: ast.AST,
    path: str | os.PathLike[str],
    lines: Sequence[str],
    config: Config,
    *,
    noqa: bool = True,
) -> list[Report]:
    """The STG findings in `tree`, parsed from `path` whose text is `lines`.

    Files inside the storage package are exempt from every rule; `per-file-ignores` and
    (unless `noqa` is false) `# noqa` comments drop the findings they cover.
    """
    module = module_path(path, config.source_roots)
    if module is not None and (
        module.name == config.package or module.name.startswith(config.package + ".")
    ):
        return []
    absolute = Path(os.path.abspath(path))
    scan = FileScan(config, module, composition_root=absolute in config.composition_roots)
    ignored = tuple(config.ignored_codes(absolute))
    return [
        report
        for report in scan.scan(tree)
        if not (ignored and report.code.startswith(ignored))
        and not (noqa and is_suppressed(lines, report.first_line, report.last_line, report.code))
    ]


def may_break_a_rule(text: str, config: Config) -> bool:
    """Whether the source may break a rule, judged from its text: False only when it cannot.

    Every rule needs a storage class name in the source (a construction names the class at
    the call or at the import that binds it), or the storage package's last name in an
    import statement (the only way to reach a module of the package from outside it), or
    that name in a string given to `importlib.import_module` / `__import__`. Most files have
    none of these and need no parse. Python NFKC-normalises identifiers (a fullwidth
    spelling is the same name), so a non-ASCII file that mentions a word once normalised is
    always parsed.
    """
    if any(name in text for name in config.classes):
        return True
    word = config.words[0]
    if not text.isascii():
        normalised = unicodedata.normalize("NFKC", text)
        return any(name in normalised for name in config.words)
    if word not in text:
        return False
    import_line, continued_import, in_string = _screens(word)
    return bool(
        import_line.search(text)
        or continued_import.search(text)
        or (_DYNAMIC_IMPORT.search(text) and in_string.search(text))
    )


_DYNAMIC_IMPORT = re.compile(r"\b(?:import_module|__import__)\b")


@functools.cache
def _screens(word: str) -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    """For `word`: an import statement naming it on one line (also after `if x:` or `;`),
    an import statement continued with a backslash (it may name it on the next line), and
    a string literal holding it."""
    name = rf"(?<![\w.]){re.escape(word)}\b|\.{re.escape(word)}\b"
    return (
        re.compile(rf"(?m)(?:^|[:;])[ \t]*(?:from|import)[ \t][^\n#]*(?:{name})"),
        re.compile(r"(?m)(?:^|[:;])[ \t]*(?:from|import)[ \t][^\n#]*\\\n"),
        re.compile(rf"""['"][^'"\n]*\b{re.escape(word)}\b"""),
    )


def check_file(path: Path, config: Config) -> list[Finding]:
    """The findings in one file; a file that may matter but cannot be read is STG000."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        return [_unreadable(path, config, f"cannot read: {exc.strerror}")]
    # Most files never mention the storage: a byte search rules them out before decoding.
    mentioned = any(word.encode() in data for word in config.words)
    if not mentioned and data.isascii():
        return []
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        text = data.decode(encoding)
    except (SyntaxError, UnicodeDecodeError, LookupError) as exc:
        if not mentioned:
            # Only a decoded file can spell a name in non-ASCII letters.
            return []
        return [_unreadable(path, config, f"cannot decode: {exc}")]
    if not may_break_a_rule(text, config):
        return []
    lines = text.splitlines(keepends=True)
    try:
        tree = ast.parse(text, filename=str(path))
    except SyntaxError as exc:
        return [_unreadable(path, config, f"{exc.msg} (line {exc.lineno})", exc.lineno or 1)]
    except (ValueError, RecursionError, MemoryError) as exc:
        reason = "nested too deeply" if not isinstance(exc, ValueError) else str(exc)
        return [_unreadable(path, config, reason)]
    relative = config.relative(path)
    return [
        Finding(
            path=str(path),
            line=report.line,
            column=report.col + 1,
            code=report.code,
            message=report.message.partition(" ")[2],
            source=_source(lines, report),
            relative=relative,
        )
        for report in analyse(tree, path, lines, config)
    ]


def discover(paths: Iterable[Path], config: Config) -> list[Path]:
    """The Python files named or found below `paths`, sorted and without duplicates.

    Hidden folders, `__pycache__` and the configured `exclude` patterns are skipped, also
    for files named explicitly (pre-commit names every staged file).
    """
    found: set[Path] = set()
    for path in paths:
        if config.is_excluded(path):
            continue
        if not path.is_dir():
            if path.suffix in SOURCE_SUFFIXES:
                found.add(path)
            continue
        for folder, subfolders, files in os.walk(path):
            subfolders[:] = sorted(
                name
                for name in subfolders
                if not name.startswith(".")
                and name not in SKIPPED_FOLDERS
                and not config.is_excluded(Path(folder, name))
            )
            for name in files:
                file = Path(folder, name)
                if file.suffix in SOURCE_SUFFIXES and not config.is_excluded(file):
                    found.add(file)
    return sorted(found)


def check_paths(paths: Sequence[Path], config: Config) -> CheckResult:
    """Check every file of `paths` (see `discover`), on every core for large trees."""
    files = discover(paths, config)
    workers = min(os.cpu_count() or 1, len(files) // FILES_PER_WORKER)
    findings: list[Finding] = []
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            check = functools.partial(check_file, config=config)
            chunksize = max(1, len(files) // (workers * 8))
            for found in pool.map(check, files, chunksize=chunksize):
                findings.extend(found)
    else:
        for file in files:
            findings.extend(check_file(file, config))
    return CheckResult(tuple(sorted(findings)), tuple(files))


def _unreadable(path: Path, config: Config, reason: str, line: int = 1) -> Finding:
    return Finding(
        path=str(path),
        line=line,
        column=1,
        code="STG000",
        message=MESSAGES["STG000"].format(reason=reason).partition(" ")[2],
        source=reason,
        relative=config.relative(path),
    )


def _source(lines: Sequence[str], report: Report) -> str:
    """The statement or call `report` is about, whitespace folded (columns are UTF-8 byte
    offsets, as `ast` counts them)."""
    segment = [line.encode() for line in lines[report.first_line - 1 : report.last_line]]
    if not segment:
        return ""
    segment[-1] = segment[-1][: report.last_col]
    segment[0] = segment[0][report.first_col :]
    text = " ".join(b"".join(segment).decode(errors="replace").split())
    return text[:_SOURCE_LIMIT]

"""The suite's one configuration: `[tool.storage-guard]` in `pyproject.toml`.

Every front end (the flake8 plugin, `storage-guard check`, `migrate`, `report`,
`check-startup`) builds its `Config` here, so the defaults and the validation exist once.
Relative paths resolve against the directory of the `pyproject.toml` they come from (or the
working directory when there is none). A front end may override keys (flake8's `storage-*`
options do); an override names its own origin in error messages.
"""

from __future__ import annotations

import difflib
import fnmatch
import functools
import os
import re
import tomllib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from .modules import is_dotted_name, package_directory

SECTION: Final = "storage-guard"

DEFAULTS: Final[Mapping[str, object]] = {
    "package": "src.storage",
    "classes": ["UnifiedStorage", "AsyncRedisStorage", "RedisStorage"],
    "deprecated-modules": ["async_redis_storage", "redis_storage"],
    "deprecated-names": ["AsyncRedisStorage", "RedisStorage"],
    "composition-roots": ["src/main.py"],
    "source-roots": ["."],
    "startup": None,
    "exclude": [],
    "per-file-ignores": {},
}
"""Every key and its default; a key not listed here is a configuration error."""

# Folders that hold no code of the project: never searched for packages or files.
SKIPPED_FOLDERS: Final = frozenset({"__pycache__", "node_modules", "site-packages"})


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the key and what to change."""


@dataclass(frozen=True, slots=True)
class Config:
    """The validated configuration of one run."""

    root: Path
    """The directory relative paths resolve against: where `pyproject.toml` is."""
    pyproject: Path | None
    """The file the configuration came from; None when every key is a default."""
    package: str
    """The storage package, e.g. `src.storage`; its `__init__` is the facade."""
    classes: tuple[str, ...]
    """Class names whose call constructs storage, the replacement first."""
    deprecated_modules: tuple[str, ...]
    """Absolute dotted names of the deprecated modules, e.g. `src.storage.redis_storage`."""
    deprecated_names: frozenset[str]
    """Names that must not be imported from the storage package."""
    composition_roots: frozenset[Path]
    """Absolute paths of the files allowed to construct storage (once each)."""
    source_roots: tuple[Path, ...]
    """Absolute directories that module names are relative to, deepest first."""
    startup: str | None
    """The `module:function` that `check-startup` runs, if configured."""
    exclude: tuple[str, ...]
    """Glob patterns (relative to `root`) of files and folders never checked."""
    per_file_ignores: tuple[tuple[str, frozenset[str]], ...]
    """Glob patterns and the codes (or code prefixes) ignored in the files they match."""

    @property
    def replacement(self) -> str:
        """The class the messages suggest instead: the first class that is not deprecated."""
        return next(name for name in self.classes if name not in self.deprecated_names)

    @property
    def words(self) -> tuple[str, ...]:
        """A file that contains none of these cannot break a rule (see `check.screen`)."""
        return (self.package.rpartition(".")[2], *self.classes)

    def relative(self, path: str | os.PathLike[str]) -> str:
        """`path` relative to `root`, with `/` separators (as baselines and patterns use);
        absolute when it is not below `root`."""
        absolute = os.path.abspath(path)
        prefix = os.path.join(str(self.root), "")
        if absolute.startswith(prefix):
            absolute = absolute[len(prefix) :]
        return absolute.replace(os.sep, "/")

    def is_excluded(self, path: str | os.PathLike[str]) -> bool:
        """Whether `path` matches an `exclude` pattern (itself or one of its folders)."""
        return any(_matches(pattern, self.relative(path)) for pattern in self.exclude)

    def ignored_codes(self, path: str | os.PathLike[str]) -> frozenset[str]:
        """The codes and code prefixes `per-file-ignores` ignores in `path`."""
        relative = self.relative(path)
        ignored: set[str] = set()
        for pattern, codes in self.per_file_ignores:
            if _matches(pattern, relative):
                ignored |= codes
        return frozenset(ignored)


def find_pyproject(start: Path) -> Path | None:
    """The nearest `pyproject.toml` at or above `start` that has `[tool.storage-guard]`."""
    for folder in (start, *start.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file() and SECTION in _read_tool_table(candidate):
            return candidate
    return None


def load_config(
    start: Path | None = None,
    *,
    pyproject: Path | None = None,
    overrides: Mapping[str, object] | None = None,
    override_origin: str = "{key}",
) -> Config:
    """Read, merge and validate the configuration.

    Args:
        start: where to look for `pyproject.toml` (default: the working directory).
        pyproject: the file to read instead of looking for one.
        overrides: values that win over the file, by key; their relative paths resolve
            against the working directory.
        override_origin: how an error names an overridden key (`{key}` is replaced).

    Raises:
        ConfigError: a value is invalid, or names something that does not exist.
    """
    here = Path.cwd()
    if pyproject is None:
        pyproject = find_pyproject((start or here).absolute())
    elif not pyproject.is_file():
        raise ConfigError(f"--config: {str(pyproject)!r} does not exist")
    root = pyproject.parent.absolute() if pyproject else (start or here).absolute()
    table = _read_tool_table(pyproject).get(SECTION, {}) if pyproject else {}
    if not isinstance(table, dict):
        raise ConfigError(f"[tool.{SECTION}] must be a table")
    for key in table:
        if key not in DEFAULTS:
            close = difflib.get_close_matches(key, DEFAULTS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"[tool.{SECTION}] {key}: unknown key{hint}")
    values = {
        key: _Value(DEFAULTS[key], root, f"[tool.{SECTION}] {key} (the default)")
        for key in DEFAULTS
    }
    for key, value in table.items():
        values[key] = _Value(value, root, f"[tool.{SECTION}] {key}")
    for key, value in (overrides or {}).items():
        values[key] = _Value(value, here, override_origin.format(key=key))
    return _validate(root, pyproject, values)


@dataclass(frozen=True, slots=True)
class _Value:
    value: object
    base: Path
    origin: str

    def error(self, detail: str) -> ConfigError:
        return ConfigError(f"{self.origin}: {detail}")

    def string(self) -> str:
        if not isinstance(self.value, str) or not self.value.strip():
            raise self.error(f"expected a non-empty string, got {self.value!r}")
        return self.value.strip()

    def strings(self) -> list[str]:
        value = self.value
        if isinstance(value, str):
            value = [part for part in value.split(",") if part.strip()]
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise self.error(f"expected a list of strings, got {self.value!r}")
        return [item.strip() for item in value]

    def paths(self) -> list[Path]:
        return [Path(os.path.normpath(self.base / item)) for item in self.strings()]


def _validate(root: Path, pyproject: Path | None, values: Mapping[str, _Value]) -> Config:
    source_roots = values["source-roots"].paths()
    if not source_roots:
        raise values["source-roots"].error("name at least one directory")
    for folder in source_roots:
        if not folder.is_dir():
            raise values["source-roots"].error(f"{str(folder)!r} is not a directory")
    ordered_roots = tuple(sorted(set(source_roots), key=lambda p: len(str(p)), reverse=True))
    package = values["package"].string()
    if not is_dotted_name(package):
        raise values["package"].error(
            f"{package!r} is not a dotted module name such as src.storage"
        )
    if package_directory(package, ordered_roots) is None:
        raise values["package"].error(_missing_package(package, ordered_roots, root))
    classes = _identifiers(values["classes"])
    if not classes:
        raise values["classes"].error("name at least one storage class")
    deprecated_names = _identifiers(values["deprecated-names"])
    if all(name in deprecated_names for name in classes):
        raise values["classes"].error(
            "every class is a deprecated name; at least one must remain as the replacement"
        )
    deprecated_modules = []
    for module in values["deprecated-modules"].strings():
        if not is_dotted_name(module):
            raise values["deprecated-modules"].error(
                f"{module!r} is not a dotted module name relative to {package}, "
                "such as redis_storage"
            )
        deprecated_modules.append(f"{package}.{module}")
    composition_roots = values["composition-roots"].paths()
    for path in composition_roots:
        if not path.is_file():
            raise values["composition-roots"].error(f"{str(path)!r} does not exist")
    return Config(
        root=root,
        pyproject=pyproject,
        package=package,
        classes=tuple(classes),
        deprecated_modules=tuple(deprecated_modules),
        deprecated_names=frozenset(deprecated_names),
        composition_roots=frozenset(composition_roots),
        source_roots=ordered_roots,
        startup=_startup(values["startup"]),
        exclude=tuple(values["exclude"].strings()),
        per_file_ignores=_per_file_ignores(values["per-file-ignores"]),
    )


def _identifiers(value: _Value) -> list[str]:
    names = value.strings()
    for name in names:
        if "." in name or not is_dotted_name(name):
            raise value.error(f"{name!r} is not a Python identifier")
    return names


def _startup(value: _Value) -> str | None:
    if value.value is None:
        return None
    entry = value.string()
    module, colon, function = entry.partition(":")
    if not colon or not is_dotted_name(module) or not is_dotted_name(function):
        raise value.error(f"{entry!r} is not of the form 'package.module:function'")
    return entry


def _per_file_ignores(value: _Value) -> tuple[tuple[str, frozenset[str]], ...]:
    table = value.value
    if not isinstance(table, dict):
        raise value.error(f"expected a table of pattern = [codes], got {table!r}")
    entries = []
    for pattern, codes in table.items():
        listed = _Value(codes, value.base, f"{value.origin}.{pattern!r}").strings()
        for code in listed:
            if not (code.startswith("STG") and (code == "STG" or code[3:].isdigit())):
                raise value.error(f"{code!r} is not an STG code such as STG003")
        entries.append((str(pattern), frozenset(listed)))
    return tuple(entries)


def _missing_package(package: str, source_roots: Sequence[Path], root: Path) -> str:
    where = ", ".join(_display(folder, root) for folder in source_roots)
    found = sorted(set(_packages_under(source_roots, depth=package.count(".") + 2)))
    close = difflib.get_close_matches(package, found, n=1, cutoff=0.6)
    hint = f"; the closest existing package is {close[0]!r}" if close else ""
    return f"no package {package!r} under the source roots ({where}){hint}"


def _packages_under(source_roots: Sequence[Path], depth: int) -> Iterator[str]:
    """Dotted names of the folders below the roots, at most `depth` deep."""
    for root in source_roots:
        for folder, subfolders, _ in os.walk(root):
            relative = Path(folder).relative_to(root).parts
            subfolders[:] = [
                name
                for name in subfolders
                if not name.startswith(".") and name not in SKIPPED_FOLDERS
            ]
            if len(relative) >= depth:
                subfolders.clear()
            if relative:
                name = ".".join(relative)
                if is_dotted_name(name):
                    yield name


def _display(folder: Path, root: Path) -> str:
    try:
        relative = folder.relative_to(root).as_posix()
    except ValueError:
        return str(folder)
    return "./" if relative == "." else f"./{relative}"


def _matches(pattern: str, relative: str) -> bool:
    """Whether `pattern` matches the path, one of its folders (`tests/fixtures`), or the
    name of one of them (`build`), as flake8's `exclude` does."""
    matcher = _compiled(pattern)
    parts = relative.split("/")
    return any(matcher("/".join(parts[:end])) for end in range(1, len(parts) + 1)) or any(
        matcher(part) for part in parts
    )


@functools.cache
def _compiled(pattern: str) -> Callable[[str], re.Match[str] | None]:
    return re.compile(fnmatch.translate(pattern.rstrip("/"))).match


def _read_tool_table(pyproject: Path) -> dict[str, object]:
    try:
        with pyproject.open("rb") as file:
            data = tomllib.load(file)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{pyproject}: cannot read: {exc}") from None
    tool = data.get("tool", {})
    return tool if isinstance(tool, dict) else {}

"""Migrate code from the deprecated storage classes to the `src.storage` facade.

One use case per module: `modules` resolves module paths, `imports` rewrites imports,
`calls` renames awaited calls, `manual` finds what needs a person, `engine` runs them on
one source, `files` on files, `cli` and `report` are the command lines.
"""

from .analysis import ManualItem
from .engine import Migration, migrate_source
from .files import FileResult, discover, migrate_file
from .layer import StorageLayer, load_layer, method_renames
from .modules import ModulePath, module_path_for

__all__ = [
    "FileResult",
    "ManualItem",
    "Migration",
    "ModulePath",
    "StorageLayer",
    "discover",
    "load_layer",
    "method_renames",
    "migrate_file",
    "migrate_source",
    "module_path_for",
]

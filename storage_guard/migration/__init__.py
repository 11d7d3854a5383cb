"""The codemod: move code from the deprecated storage classes to the configured facade.

One use case per module: `layer` reads the target's storage package statically, `imports`
rewrites imports, `calls` renames awaited calls, `manual` finds what needs a person,
`suppression` gives manual items their ids and honours `# storage-guard: ignore`, `engine`
runs them on one source, `files` on files, and `command` is `storage-guard migrate`.
"""

from .analysis import ManualItem, SourceFile
from .command import migrate_command
from .engine import Migration, UnparsableError, migrate_source
from .files import FileResult, migrate_file, migrate_files, source_file
from .layer import LayerError, StorageLayer, load_layer, method_renames

__all__ = [
    "FileResult",
    "LayerError",
    "ManualItem",
    "Migration",
    "SourceFile",
    "StorageLayer",
    "UnparsableError",
    "load_layer",
    "method_renames",
    "migrate_command",
    "migrate_file",
    "migrate_files",
    "migrate_source",
    "source_file",
]

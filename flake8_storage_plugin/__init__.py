"""flake8 plugin (codes STG) that keeps a project on one storage layer."""

from ._checker import StorageChecker
from ._options import Settings, StorageOptionError

__all__ = ["Settings", "StorageChecker", "StorageOptionError"]

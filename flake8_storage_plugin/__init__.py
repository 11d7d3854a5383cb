"""flake8 plugin (codes STG) that keeps a project on one storage layer."""

from ._checker import StorageChecker, config_from_options

__all__ = ["StorageChecker", "config_from_options"]

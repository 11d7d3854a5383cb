"""The exit statuses of every `storage-guard` subcommand (and the flake8 plugin's
configuration errors)."""

from typing import Final

EXIT_OK: Final = 0
"""Clean."""
EXIT_FINDINGS: Final = 1
"""Findings, pending rewrites, or a failed startup check."""
EXIT_USAGE: Final = 2
"""A usage or configuration error."""

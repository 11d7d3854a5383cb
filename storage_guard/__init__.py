"""storage-guard: keep a codebase on one storage layer.

The STG rules (`rules`), their configuration (`config`), the check (`check`), and the
`storage-guard` command (`cli`) with its `migrate`, `report` and `check-startup` use cases.
"""

from .check import CheckResult, Finding, check_paths
from .config import Config, ConfigError, load_config
from .rules import RULES, Rule

__all__ = [
    "RULES",
    "CheckResult",
    "Config",
    "ConfigError",
    "Finding",
    "Rule",
    "check_paths",
    "load_config",
]

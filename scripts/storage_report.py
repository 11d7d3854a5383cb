"""Report what stands between a codebase and the storage facade, for people and for CI.

    python scripts/storage_report.py src/                       # terminal table
    python scripts/storage_report.py --format markdown src/     # e.g. for a CI summary
    python scripts/storage_report.py --fail-on-findings src/    # exit 1 while work is left

`--help` lists the exit codes. The logic lives in `storage_migration.report`.
"""

import sys
from pathlib import Path

from storage_migration.report import main

if __name__ == "__main__":
    # The rename table is read off the gateway's own facade, next to this script.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.exit(main())

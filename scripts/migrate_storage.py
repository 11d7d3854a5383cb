"""Migrate a codebase from the deprecated storage classes to `src.storage.UnifiedStorage`.

    python scripts/migrate_storage.py src/            # dry run: print a unified diff
    python scripts/migrate_storage.py --write src/    # rewrite the files in place
    python scripts/migrate_storage.py --check src/    # exit 1 while rewrites are pending

`--help` lists the exit codes. The logic lives in `storage_migration`.
"""

import sys
from pathlib import Path

from storage_migration.cli import main

if __name__ == "__main__":
    # The rename table is read off the gateway's own facade, next to this script.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.exit(main())

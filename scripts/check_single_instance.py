"""Run the gateway's startup without serving; exit 0 only if it created exactly one storage.

Prints where the storage was created; on failure, every creation site. Uses REDIS_URL when
set, else an embedded Redis.
"""

import sys

from src.main import check_startup

if __name__ == "__main__":
    sys.exit(check_startup())

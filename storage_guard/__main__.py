"""`python -m storage_guard`: the `storage-guard` command."""

import sys

from .cli import main

sys.exit(main())

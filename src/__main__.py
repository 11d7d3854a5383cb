"""`python -m src`: the gateway's command line."""

import sys

from .main import main

sys.exit(main())

"""``python -m etp_sync``: the command line (see :mod:`etp_sync.cli`)."""

import sys

from .cli import main

sys.exit(main())

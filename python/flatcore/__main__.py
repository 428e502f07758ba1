"""``python -m flatcore``: the command line (see :mod:`flatcore.cli`)."""

import sys

from .cli import main

sys.exit(main())

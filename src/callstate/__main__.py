"""``python -m callstate``: the command line."""

import sys

from callstate.cli._cli import main

sys.exit(main())

"""``python -m callstate``: the command line."""

import sys

from callstate._cli import main

sys.exit(main())

"""``python -m shared``: see :mod:`shared.cli`."""

import sys

from shared.cli import main

sys.exit(main())

"""``python -m sampling``: see :mod:`sampling.cli`."""

import sys

from sampling.cli import main

sys.exit(main())

"""``python -m sampling``: see :mod:`sampling.cli`."""

import sys

from sampling.cpu_features import prefer_avx2_sorting

# Before anything loads numpy: it reads its CPU-feature settings once, on import.
prefer_avx2_sorting()

from sampling.cli import main  # noqa: E402

sys.exit(main())

"""minyi's statistics engine (统计引擎): a pure library.

Sample size, allocation, selection, random-digit generation, weighting,
design-based estimation, satisfaction indices, response rates and grading
arithmetic.  It depends on numpy, scipy, statsmodels and pyarrow only and never
imports Flask or SQLAlchemy; the web application (``survey``) calls into it.

Sub-packages are imported on demand so that ``python -m sampling`` starts fast.
"""

from sampling.errors import (
    ConvergenceError,
    DesignError,
    InputError,
    Problem,
    SamplingError,
    VerificationError,
)

__all__ = [
    "ConvergenceError",
    "DesignError",
    "InputError",
    "Problem",
    "SamplingError",
    "VerificationError",
]
__version__ = "0.1.0"

"""Small-area smoothing (小域估计) of per-unit scores.

:func:`fay_herriot` fits the Fay–Herriot area-level model (Fay & Herriot
1979) to direct estimates and their sampling variances and returns the EBLUP
of every area with its Prasad–Rao (REML; Prasad & Rao 1990) or Datta–Lahiri
(ML; Datta & Lahiri 2000) mean squared error.  The CLI is
``python -m sampling smooth`` (DESIGN.md §6).
"""

from sampling.smoothing.fay_herriot import (
    INTERCEPT,
    FayHerriotFit,
    FayHerriotMethod,
    MseMethod,
    fay_herriot,
)

__all__ = ["INTERCEPT", "FayHerriotFit", "FayHerriotMethod", "MseMethod", "fay_herriot"]

"""Survey weights (权数): design weights, nonresponse, calibration, trimming.

The usual sequence (Kalton & Flores-Cervantes 2003; Valliant, Dever &
Kreuter 2018 ch. 13–14): design weights from the draw → nonresponse
adjustment within cells → post-stratification or raking to known population
counts → trimming of extreme weights.  Kish's effective sample size measures
what the weights cost.
"""

from sampling.weighting.adjust import (
    NonresponseResult,
    TrimResult,
    adjust_for_nonresponse,
    design_weights,
    effective_sample_size,
    trim_weights,
    weighting_design_effect,
)
from sampling.weighting.calibrate import (
    Margin,
    PostStratifyResult,
    RakeResult,
    poststratify,
    rake,
)

__all__ = [
    "Margin",
    "NonresponseResult",
    "PostStratifyResult",
    "RakeResult",
    "TrimResult",
    "adjust_for_nonresponse",
    "design_weights",
    "effective_sample_size",
    "poststratify",
    "rake",
    "trim_weights",
    "weighting_design_effect",
]

"""Design-based estimation (设计估计): Taylor linearisation and jackknife.

See :class:`SurveyDesign` for means, totals, ratios and proportions by
domains, and :func:`jackknife` for replicate-weight variances.
"""

from sampling.estimation.design import Calibration, LonelyPsu, SurveyDesign
from sampling.estimation.intervals import ProportionCiMethod
from sampling.estimation.replicate import JackknifeKind, ReplicateDesign, jackknife
from sampling.estimation.table import Domains, EstimateTable, Statistic

__all__ = [
    "Calibration",
    "Domains",
    "EstimateTable",
    "JackknifeKind",
    "LonelyPsu",
    "ProportionCiMethod",
    "ReplicateDesign",
    "Statistic",
    "SurveyDesign",
    "jackknife",
]

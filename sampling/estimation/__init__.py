"""Design-based estimation (设计估计): Taylor linearisation and jackknife.

See :class:`SurveyDesign` for means, totals, ratios and proportions by
domains, and :func:`jackknife` for replicate-weight variances.
"""

from sampling.estimation.design import Calibration, LonelyPsu, RowSource, SurveyDesign
from sampling.estimation.intervals import DegreesOfFreedom, ProportionCiMethod
from sampling.estimation.replicate import JackknifeKind, ReplicateDesign, jackknife
from sampling.estimation.table import Domains, EstimateTable, Statistic

__all__ = [
    "Calibration",
    "DegreesOfFreedom",
    "Domains",
    "EstimateTable",
    "JackknifeKind",
    "LonelyPsu",
    "ProportionCiMethod",
    "ReplicateDesign",
    "RowSource",
    "Statistic",
    "SurveyDesign",
    "jackknife",
]

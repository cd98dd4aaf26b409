"""Satisfaction indices (满意度指数) and what they say about units.

Likert answers become points through the cycle's :class:`Scale`; per unit ×
rater group × item we estimate the satisfaction index (weighted mean of
points, 0–100) and the satisfaction rate (满意率, share in the top levels),
with design-based standard errors.  Units rated by the same respondents are
correlated, so differences, rank intervals and key drivers use the
covariance of the estimates.
"""

from sampling.satisfaction.compare import (
    Difference,
    RankIntervals,
    pairwise_differences,
    rank_intervals,
    unit_difference,
)
from sampling.satisfaction.drivers import KeyDrivers, key_drivers
from sampling.satisfaction.indices import (
    Composite,
    DontKnow,
    SatisfactionTable,
    Scale,
    composite_index,
    satisfaction_indices,
    satisfaction_table,
)

__all__ = [
    "Composite",
    "Difference",
    "DontKnow",
    "KeyDrivers",
    "RankIntervals",
    "SatisfactionTable",
    "Scale",
    "composite_index",
    "key_drivers",
    "pairwise_differences",
    "rank_intervals",
    "satisfaction_indices",
    "satisfaction_table",
    "unit_difference",
]

"""Scoring arithmetic (计分): social-recognition sub-score, overall score, ranking.

Pure arithmetic on estimates the app has already computed with
:mod:`sampling.estimation` and :mod:`sampling.satisfaction`.
"""

from sampling.scoring.covariance import (
    CompositeCovariance,
    composite_covariance,
    design_composites,
    sub_score_covariance,
    sub_score_covariance_matrix,
)
from sampling.scoring.overall import (
    ComponentContribution,
    ComponentScore,
    NeighbourComparison,
    OverallScore,
    RankedUnit,
    neighbour_comparisons,
    overall_score,
    rank_units,
)
from sampling.scoring.social import (
    GroupContribution,
    GroupScore,
    SubScore,
    check_weights,
    social_recognition_score,
)

__all__ = [
    "ComponentContribution",
    "ComponentScore",
    "CompositeCovariance",
    "GroupContribution",
    "GroupScore",
    "NeighbourComparison",
    "OverallScore",
    "RankedUnit",
    "SubScore",
    "check_weights",
    "composite_covariance",
    "design_composites",
    "neighbour_comparisons",
    "overall_score",
    "rank_units",
    "social_recognition_score",
    "sub_score_covariance",
    "sub_score_covariance_matrix",
]

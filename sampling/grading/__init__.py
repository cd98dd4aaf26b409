"""Grading arithmetic (评定等次): quota counts, ties and override rules.

Pure arithmetic on the scores of one category: the app supplies the ranked
scores and the cycle's rules and stores what comes back, with the reason of
every grade.
"""

from sampling.grading.democratic import BallotTally, Vote, tally
from sampling.grading.probabilities import (
    CategoryGradeProbabilities,
    Robustness,
    UnitGradeProbabilities,
    grade_draws,
    grade_probabilities,
)
from sampling.grading.quota import (
    AWARDS_3_5_2,
    OFFICIALS_15_80_4_1,
    PRESETS,
    TEAMS_15_80_5,
    GradeScheme,
    exact_fraction,
    grade_scheme,
    quota_counts,
    round_half_up,
    round_score,
)
from sampling.grading.rules import (
    CategoryGrading,
    GradedUnit,
    GradeReason,
    GradingRules,
    ReasonCode,
    UnitStanding,
    grade_category,
)

__all__ = [
    "AWARDS_3_5_2",
    "OFFICIALS_15_80_4_1",
    "PRESETS",
    "TEAMS_15_80_5",
    "BallotTally",
    "CategoryGradeProbabilities",
    "CategoryGrading",
    "GradeReason",
    "GradeScheme",
    "GradedUnit",
    "GradingRules",
    "ReasonCode",
    "Robustness",
    "UnitGradeProbabilities",
    "UnitStanding",
    "Vote",
    "exact_fraction",
    "grade_category",
    "grade_draws",
    "grade_probabilities",
    "grade_scheme",
    "quota_counts",
    "round_half_up",
    "round_score",
    "tally",
]

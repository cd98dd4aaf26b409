"""Which published cells are too uncertain to read on their own (可靠性标注).

The rule, stated on every page that marks cells: a rater group's score for a
unit is marked unreliable when it rests on fewer valid responses than the
cycle's minimum, or when its margin of error (half the width of its
confidence interval at the result's level) exceeds ``MARGIN_LIMIT`` points
out of 100.  The second part follows the usual practice of statistics
offices of suppressing or flagging estimates by their relative precision
(e.g. NCHS Data Presentation Standards for Proportions, 2017, which flag by
interval width), written in the points a reader of the page understands.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scipy.stats import norm

#: Largest margin of error (points out of 100) of a score read on its own.
MARGIN_LIMIT = 10.0


def margin_of_error(part: Mapping[str, Any], level: float) -> float | None:
    """Half the width of a group score's interval at ``level`` (normal quantile)."""
    se = part.get("se")
    if se is None or part.get("estimate") is None:
        return None
    return float(norm.ppf(0.5 + float(level) / 2.0)) * float(se)


def is_unreliable(part: Mapping[str, Any] | None, level: float) -> bool:
    """True when the cell breaks the rule above (no score at all is not marked)."""
    if not part or part.get("estimate") is None:
        return False
    if part.get("below_minimum"):
        return True
    margin = margin_of_error(part, level)
    return margin is not None and margin > MARGIN_LIMIT

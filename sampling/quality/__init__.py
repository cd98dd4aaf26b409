"""Coaching and quality signals per unit and per interviewer (issue #23).

Signals that answers were steered (officials coaching residents to answer
满意) or collected badly, each with a test and a flag at a stated level
after a multiple-testing correction (:class:`Correction`):

* :func:`top_box_shift`: a unit's top-box and don't-know shares against its
  last cycle and its sister units (two-proportion z test);
* :func:`channel_gap`: probability-channel mean against open-QR mean (Welch);
* :func:`straight_lining`: respondents giving one answer to every item, per
  unit or interviewer (exact binomial test);
* :func:`interviewer_variance`: intra-interviewer correlation (Kish 1962),
  its design effect, and per-interviewer anomaly z-scores.

Flags are shown to the office and the auditor; nothing here changes an
estimate or drops an answer.  ``bench/coaching_power.py`` measures the power
and false-alarm rate of the top-box flag (``docs/fairness.md``, "Coaching
signals").
"""

from sampling.quality._common import Correction, adjust_p_values
from sampling.quality.channel import Channel, ChannelGap, UnitChannelGap, channel_gap
from sampling.quality.interviewer import (
    InterviewerAnomaly,
    InterviewerVariance,
    interviewer_variance,
)
from sampling.quality.straight import (
    GroupStraightLining,
    StraightLining,
    straight_liners,
    straight_lining,
)
from sampling.quality.top_box import (
    ShareTest,
    TopBoxShift,
    UnitShift,
    top_box_shift,
    two_proportion_z,
)

__all__ = [
    "Channel",
    "ChannelGap",
    "Correction",
    "GroupStraightLining",
    "InterviewerAnomaly",
    "InterviewerVariance",
    "ShareTest",
    "StraightLining",
    "TopBoxShift",
    "UnitChannelGap",
    "UnitShift",
    "adjust_p_values",
    "channel_gap",
    "interviewer_variance",
    "straight_liners",
    "straight_lining",
    "top_box_shift",
    "two_proportion_z",
]

"""What a kind of rater group (评价主体) means, in one place.

A rater group's :class:`~survey.models.SamplingKind` decides who may answer for
it, through which channels its answers come in, and how they are weighted.
Each kind has one :class:`RaterPolicy`; scoring, answering and the pages ask
it (:func:`policy_of`) instead of testing the kind themselves.

* **probability** (随机抽样): a sampled contact answers by invitation or
  telephone; design weights and strata apply.
* **self-selected** (自愿参与): anyone served at a service point answers by the
  poster's QR code after an SMS check; every response weighs 1 and counts only
  when the cycle's rules include self-selected groups.
* **listed** (名单全覆盖): everyone on the imported roster answers by a personal
  token or on a paper ballot entered twice (:mod:`survey.services.listed`);
  every response weighs 1, no strata.
"""

from __future__ import annotations

from dataclasses import dataclass

from survey.models import Channel, RaterGroup, SamplingKind
from survey.services.errors import N_

__all__ = [
    "POLICIES",
    "REASON_LABELS",
    "VOIDED",
    "WRONG_CHANNEL",
    "RaterPolicy",
    "policy_of",
]

#: Why a response was left out of its group's scores: it came in through a
#: channel the group's kind does not use (e.g. an invitation link answered for a
#: listed group before listed tokens existed).
WRONG_CHANNEL = "wrong_channel"

#: Why a response was left out of every group's scores: voided after a review
#: (复核作废, :mod:`survey.services.review`).
VOIDED = "voided"

#: Reason code → message (translated where shown).
REASON_LABELS: dict[str, str] = {
    WRONG_CHANNEL: N_("came in through a channel this group does not use"),
    VOIDED: N_("voided after a review"),
}


@dataclass(frozen=True)
class RaterPolicy:
    """Who answers for a kind of rater group, through which channels, weighted how."""

    kind: SamplingKind
    #: Channels whose responses are scored for the group (DESIGN §4: never pooled).
    channels: frozenset[Channel]
    #: The channel a new response of the group's own door is stored with.
    door: Channel
    #: Responses carry design weights and strata (stratified variance).
    design_weighted: bool
    #: The group counts only when the rules include self-selected groups.
    optional_in_rules: bool
    #: The group's raters are known by name: a roster, personal tokens, paper ballots.
    roster: bool
    #: Who answers, for the pages.
    who: str

    def accepts(self, channel: Channel) -> bool:
        """Whether a response that came in through ``channel`` is scored for the group."""
        return channel in self.channels

    def exclusion(self, channel: Channel) -> str | None:
        """Why a response through ``channel`` is left out (a reason code), or ``None``."""
        return None if self.accepts(channel) else WRONG_CHANNEL


POLICIES: dict[SamplingKind, RaterPolicy] = {
    SamplingKind.PROBABILITY: RaterPolicy(
        kind=SamplingKind.PROBABILITY,
        channels=frozenset({Channel.INVITATION, Channel.PHONE_IVR, Channel.PHONE_CATI}),
        door=Channel.INVITATION,
        design_weighted=True,
        optional_in_rules=False,
        roster=False,
        who=N_("contacts drawn at random from a sampling frame"),
    ),
    SamplingKind.SELF_SELECTED: RaterPolicy(
        kind=SamplingKind.SELF_SELECTED,
        channels=frozenset({Channel.OPEN_QR}),
        door=Channel.OPEN_QR,
        design_weighted=False,
        optional_in_rules=True,
        roster=False,
        who=N_("anyone served at a service point, after an SMS check"),
    ),
    SamplingKind.LISTED: RaterPolicy(
        kind=SamplingKind.LISTED,
        channels=frozenset({Channel.LISTED}),
        door=Channel.LISTED,
        design_weighted=False,
        optional_in_rules=False,
        roster=True,
        who=N_("everyone on the imported roster, by personal token or paper ballot"),
    ),
}


def policy_of(group: RaterGroup | SamplingKind) -> RaterPolicy:
    """The policy of ``group`` (or of a kind)."""
    kind = group if isinstance(group, SamplingKind) else group.sampling_kind
    return POLICIES[SamplingKind(kind)]

"""The methods statement of a published result (方法说明), built from the data.

What a reader needs to judge a poll, after the AAPOR Transparency Initiative
disclosure items and the sections of a Chinese 测评报告: who sponsored and
who conducted it; the questionnaire as asked; the population, frame and
sample design of each rater group (with the public seed of each draw); the
field dates and modes; the completes; the dispositions and AAPOR response
rates; the weighting; the margins of error; how scores become grades.

Everything is read from the published snapshot (scores, rules, weights) and
from what fieldwork stored (frames, draws, responses, dispositions), none of
which changes after the cycle closes, so the statement of a snapshot reads the
same whenever it is shown.  Nothing here is typed in by hand but the sponsor's
and pollster's names (``MINYI_SPONSOR``, ``MINYI_POLLSTER``).
"""

from __future__ import annotations

import json
import math
import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from scipy.stats import norm
from sqlalchemy import orm

from survey.models import (
    Cycle,
    Response,
    ResultSnapshot,
    SampleDraw,
    SamplingFrame,
)
from survey.models.base import as_utc
from survey.services import dispositions, publication
from survey.services.scoring import not_voided


@dataclass(frozen=True)
class DrawFacts:
    """One verifiable draw: its size and the public seed it came from."""

    frame_name: str
    population: int
    strata: int
    #: ``srswor`` or ``pps`` (sampling.design.selection) and the allocation method.
    selection: str
    allocation: str
    frame_sha256: str | None
    excluded_do_not_call: int
    sample_size: int
    reserve_batches: int
    seed: str
    seed_source: str | None
    seed_event_date: date | None
    sample_sha256: str


@dataclass(frozen=True)
class GroupFacts:
    """One rater group: how it was reached, how many answered, how precise it is."""

    code: str
    name: str
    sampling_kind: str
    draws: list[DrawFacts]
    #: Responses that count for the group, by channel (code → number).
    responses_by_channel: dict[str, int]
    #: Valid responses per unit: smallest, median, largest.
    valid_per_unit: tuple[int, float, int] | None
    #: Half-width of the group's interval per unit (points): median and largest.
    margin_median: float | None
    margin_largest: float | None
    units_below_minimum: int


@dataclass(frozen=True)
class MethodsStatement:
    """The whole statement of one snapshot; the page and the printed report word it."""

    cycle_name: str
    year: int
    period: tuple[date, date]
    sponsor: str
    pollster: str
    snapshot_version: int
    snapshot_sha256: str
    field_dates: tuple[date, date] | None
    groups: list[GroupFacts]
    #: Item names in questionnaire order, and the scale's labels with their points.
    items: list[tuple[str, float]]
    scale: list[tuple[str, float | None]]
    level: float
    minimum_responses: int
    dont_know: str
    grade_scheme: str
    include_self_selected: bool
    #: Released phone/invitation cases by AAPOR code, and the rates (None: no cases).
    disposition_counts: dict[str, int] = field(default_factory=dict)
    rates: dict[str, float | None] = field(default_factory=dict)
    excluded_responses: dict[str, int] = field(default_factory=dict)
    #: Every response left out: ``{"group", "reason", "channel", "count"}`` rows.
    excluded_reasons: list[dict[str, Any]] = field(default_factory=list)
    #: Group code → name, for the rows above.
    group_names: dict[str, str] = field(default_factory=dict)
    units: int = 0
    categories: int = 0


def _day(moment: datetime, time_zone: str) -> date:
    return as_utc(moment).astimezone(ZoneInfo(time_zone)).date()


def _draws(session: orm.Session, cycle: Cycle, group_id: int) -> list[DrawFacts]:
    rows = session.execute(
        sa.select(SampleDraw, SamplingFrame)
        .join(SamplingFrame, SampleDraw.frame_id == SamplingFrame.id)
        .where(SamplingFrame.cycle_id == cycle.id, SamplingFrame.rater_group_id == group_id)
        .order_by(SampleDraw.id)
    ).all()
    facts = []
    for draw, frame in rows:
        protocol = json.loads(draw.protocol_json)
        design = protocol.get("design", {})
        facts.append(
            DrawFacts(
                frame_name=frame.name,
                population=frame.row_count,
                strata=len(design.get("allocation", {})),
                selection=str(design.get("selection", "")),
                allocation=str((protocol.get("allocation_request") or {}).get("method", "")),
                frame_sha256=frame.sha256,
                excluded_do_not_call=frame.excluded_do_not_call,
                sample_size=draw.sample_size,
                reserve_batches=draw.reserve_batches,
                seed=draw.seed,
                seed_source=draw.seed_source,
                seed_event_date=draw.seed_event_date,
                sample_sha256=draw.sample_sha256,
            )
        )
    return facts


def methods_statement(
    session: orm.Session,
    cycle: Cycle,
    snapshot: ResultSnapshot,
    *,
    sponsor: str = "",
    pollster: str = "",
    time_zone: str = "Asia/Shanghai",
) -> MethodsStatement:
    """Gather the methods statement of ``snapshot`` (a result of ``cycle``).

    Field dates are the first and last day a counted response came in, as
    days in ``time_zone`` (closing keeps only the day of each response).
    """
    data = publication.snapshot_data(snapshot)
    inputs, outputs = data["inputs"], data["outputs"]
    rules = inputs["rules"]
    level = float(rules["level"])
    quantile = float(norm.ppf(0.5 + level / 2))
    channels: dict[int, Counter[str]] = {}
    for group_id, channel, count in session.execute(
        sa.select(Response.rater_group_id, Response.channel, sa.func.count())
        .where(Response.cycle_id == cycle.id, not_voided())
        .group_by(Response.rater_group_id, Response.channel)
    ):
        channels.setdefault(group_id, Counter())[str(channel.value)] += count
    first, last = session.execute(
        sa.select(sa.func.min(Response.submitted_at), sa.func.max(Response.submitted_at)).where(
            Response.cycle_id == cycle.id, not_voided()
        )
    ).one()
    scores_by_group: dict[str, list[dict[str, Any]]] = {}
    for entry in inputs["group_scores"]:
        scores_by_group.setdefault(entry["group"], []).append(entry)
    below: Counter[str] = Counter(
        code
        for category in outputs["categories"]
        for unit in category["units"]
        for code in unit["social"]["below_minimum"]
    )
    groups = []
    for group in sorted(cycle.rater_groups, key=lambda group: (group.position, group.code)):
        scores = scores_by_group.get(group.code, [])
        valid = sorted(int(entry.get("valid_responses") or 0) for entry in scores)
        margins = sorted(
            quantile * math.sqrt(float(entry["variance"]))
            for entry in scores
            if entry.get("variance") is not None and entry.get("estimate") is not None
        )
        groups.append(
            GroupFacts(
                code=group.code,
                name=group.name,
                sampling_kind=group.sampling_kind.value,
                draws=_draws(session, cycle, group.id),
                responses_by_channel=dict(sorted(channels.get(group.id, Counter()).items())),
                valid_per_unit=(valid[0], statistics.median(valid), valid[-1]) if valid else None,
                margin_median=statistics.median(margins) if margins else None,
                margin_largest=margins[-1] if margins else None,
                units_below_minimum=below[group.code],
            )
        )
    overall = dispositions.rate_table(session, cycle.id)[-1]
    rates: dict[str, float | None] = {
        name: overall.rate(name) for name in ("RR1", "RR3", "COOP1", "REF1", "CON1")
    }
    items = [
        (item.name, float(item.weight))
        for item in sorted(cycle.items, key=lambda item: (item.position, item.code))
    ]
    scale = [
        (level_row.label, level_row.points)
        for level_row in sorted(cycle.scale_levels, key=lambda level_row: level_row.position)
    ]
    return MethodsStatement(
        cycle_name=cycle.name,
        year=cycle.year,
        period=(cycle.period_start, cycle.period_end),
        sponsor=sponsor,
        pollster=pollster,
        snapshot_version=snapshot.version,
        snapshot_sha256=snapshot.sha256,
        field_dates=(
            (_day(first, time_zone), _day(last, time_zone)) if first is not None else None
        ),
        groups=groups,
        items=items,
        scale=scale,
        level=level,
        minimum_responses=int(rules["minimum_responses"]),
        dont_know=str(rules["dont_know"]),
        grade_scheme=str(rules["grade_scheme"]),
        include_self_selected=bool(rules.get("include_self_selected", False)),
        disposition_counts=dict(sorted(overall.code_counts.items())),
        rates=rates,
        excluded_responses={
            str(k): int(v) for k, v in inputs.get("excluded_responses", {}).items()
        },
        excluded_reasons=[dict(row) for row in inputs.get("excluded_reasons", [])],
        group_names={str(group["code"]): str(group["name"]) for group in inputs.get("groups", [])},
        units=sum(len(category["units"]) for category in outputs["categories"]),
        categories=len(outputs["categories"]),
    )

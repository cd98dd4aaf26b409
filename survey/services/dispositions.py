"""AAPOR disposition codes (最终处置代码) of phone cases and the fieldwork rates.

The arithmetic is :mod:`sampling.rates`; this module only counts cases.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import sqlalchemy as sa
from sqlalchemy import orm

from sampling.errors import InputError, SamplingError
from sampling.estimation import LonelyPsu, SurveyDesign
from sampling.rates import ResponseRates, counts_from_codes, response_rates
from sampling.satisfaction import Scale, satisfaction_indices
from survey.models import (
    Answer,
    Channel,
    Cycle,
    FieldworkCase,
    Response,
    ScaleLevel,
    Unit,
    VoidedResponse,
)
from survey.models.base import as_utc

COMPLETE = "1.1"
PARTIAL = "1.2"
REFUSAL = "2.11"
BREAK_OFF = "2.12"
#: Respondent reached but asked for another time and was never interviewed.
RESPONDENT_UNAVAILABLE = "2.21"
#: Released but not yet dialled: unknown eligibility, not attempted.
NOT_ATTEMPTED = "3.11"
ALWAYS_BUSY = "3.12"
NO_ANSWER = "3.13"
ANSWERING_MACHINE = "3.14"
CALL_FAILED = "3.90"
NOT_ELIGIBLE = "4.10"

#: Codes that end the calling: the case is never dialled again.
FINAL_CODES = frozenset({COMPLETE, PARTIAL, REFUSAL, BREAK_OFF, NOT_ELIGIBLE})

#: Codes an interviewer may set at the CATI console.
INTERVIEWER_CODES: tuple[str, ...] = (
    COMPLETE,
    REFUSAL,
    BREAK_OFF,
    RESPONDENT_UNAVAILABLE,
    ALWAYS_BUSY,
    NO_ANSWER,
    ANSWERING_MACHINE,
    NOT_ELIGIBLE,
)

RATE_NAMES = ("RR1", "RR2", "RR3", "RR4", "RR5", "RR6", "COOP1", "REF1", "CON1")


@dataclass(frozen=True)
class RateRow:
    """Disposition counts and AAPOR rates of one stratum (or ``None`` for all)."""

    stratum: str | None
    cases: int
    code_counts: dict[str, int]
    rates: ResponseRates | None

    def rate(self, name: str) -> float | None:
        return None if self.rates is None else float(getattr(self.rates, name))


def case_codes(session: orm.Session, cycle_id: int) -> list[tuple[str, str]]:
    """(stratum, disposition) of every released case of the cycle; unworked cases are 3.11."""
    rows = session.execute(
        sa.select(FieldworkCase.stratum, FieldworkCase.disposition).where(
            FieldworkCase.cycle_id == cycle_id, FieldworkCase.released.is_(True)
        )
    ).all()
    return [(stratum, code or NOT_ATTEMPTED) for stratum, code in rows]


def _row(stratum: str | None, codes: list[str]) -> RateRow:
    counter = Counter(codes)
    try:
        rates: ResponseRates | None = response_rates(counts_from_codes(counter))
    except InputError:
        # No case of known eligibility yet: the rates are undefined, not zero.
        rates = None
    return RateRow(stratum, len(codes), dict(sorted(counter.items())), rates)


def rate_table(session: orm.Session, cycle_id: int) -> list[RateRow]:
    """One row per stratum, then the overall row (``stratum`` ``None``)."""
    pairs = case_codes(session, cycle_id)
    by_stratum: dict[str, list[str]] = {}
    for stratum, code in pairs:
        by_stratum.setdefault(stratum, []).append(code)
    rows = [_row(stratum, codes) for stratum, codes in sorted(by_stratum.items())]
    rows.append(_row(None, [code for _stratum, code in pairs]))
    return rows


@dataclass(frozen=True)
class UnitPrecision:
    """Live precision of one unit's satisfaction index (probability channels only)."""

    unit_code: str
    unit_name: str
    respondents: int
    index: float | None
    half_width: float | None


def unit_precision(session: orm.Session, cycle_id: int, level: float = 0.95) -> list[UnitPrecision]:
    """Satisfaction index and 95% CI half-width per unit, from the random-sample responses.

    The estimate is :func:`sampling.satisfaction.satisfaction_indices` over all
    items, with the respondent as PSU and the sampling stratum as stratum.
    """
    rows = session.execute(
        sa.select(
            Answer.response_id,
            Answer.unit_id,
            Response.stratum,
            Response.design_weight,
            ScaleLevel.code,
        )
        .join(Response, Response.id == Answer.response_id)
        .join(ScaleLevel, ScaleLevel.id == Answer.scale_level_id)
        .where(
            Response.cycle_id == cycle_id,
            Response.channel.in_([c for c in Channel if c.is_probability]),
            ~sa.exists().where(VoidedResponse.response_id == Response.id),
        )
        .order_by(Answer.id)
    ).all()
    units = list(
        session.scalars(sa.select(Unit).where(Unit.cycle_id == cycle_id).order_by(Unit.code))
    )
    levels = list(session.scalars(sa.select(ScaleLevel).where(ScaleLevel.cycle_id == cycle_id)))
    results: dict[int, tuple[int, float | None, float | None]] = {}
    if rows and levels:
        scale = Scale(
            {level_row.code: level_row.points for level_row in levels},
            frozenset(level_row.code for level_row in levels if level_row.counts_as_satisfied),
        )
        design = SurveyDesign(
            np.array([row.design_weight for row in rows], dtype=float),
            strata=np.array([row.stratum or "-" for row in rows], dtype=object),
            psu=np.array([row.response_id for row in rows]),
            lonely_psu=LonelyPsu.ADJUST,
        )
        unit_column = np.array([row.unit_id for row in rows])
        try:
            table = satisfaction_indices(
                design, [row.code for row in rows], {"unit": unit_column}, scale=scale, level=level
            ).index
        except SamplingError:
            table = None
        if table is not None:
            respondents = {
                unit_id: len({row.response_id for row in rows if row.unit_id == unit_id})
                for unit_id in set(unit_column.tolist())
            }
            for estimate in table.rows():
                unit_id = int(estimate["unit"])
                half = (estimate["ci_high"] - estimate["ci_low"]) / 2
                results[unit_id] = (
                    respondents[unit_id],
                    estimate["estimate"] if math.isfinite(estimate["estimate"]) else None,
                    half if math.isfinite(half) else None,
                )
    return [
        UnitPrecision(unit.code, unit.name, *results.get(unit.id, (0, None, None)))
        for unit in units
    ]


@dataclass(frozen=True)
class Projection:
    completes: int
    released: int
    per_day: float
    days_left: int
    projected: int


def projection(session: orm.Session, cycle_id: int, moment: datetime) -> Projection:
    """Completes at the pace of the last seven days, carried on to the cycle's end."""
    week_ago = moment - timedelta(days=7)
    cases = session.execute(
        sa.select(FieldworkCase.disposition, FieldworkCase.completed_at).where(
            FieldworkCase.cycle_id == cycle_id, FieldworkCase.released.is_(True)
        )
    ).all()
    completes = [done for code, done in cases if code == COMPLETE]
    recent = sum(1 for done in completes if done is not None and as_utc(done) >= week_ago)
    per_day = recent / 7.0
    cycle = session.get(Cycle, cycle_id)
    days_left = max(0, (cycle.period_end - moment.date()).days) if cycle is not None else 0
    projected = min(len(cases), len(completes) + math.floor(per_day * days_left))
    return Projection(len(completes), len(cases), per_day, days_left, projected)

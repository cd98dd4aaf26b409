"""The scoring pipeline (计分流程): responses → group scores → sub-score → total → grade.

Two halves, so that a published result can be re-computed by anyone:

* :func:`gather_inputs` reads the database once and returns the *inputs* as
  plain JSON-ready data: the categories with their rater-group and component
  weights, the rules, every unit × rater-group score with its variance
  (design-based, from :mod:`sampling.satisfaction`), the item-level indices
  for display, the imported components in force and the office's decisions.
* :func:`compute_outputs` is a pure function of those inputs (no database):
  the social-recognition sub-score, the overall score, the rank in the
  category, the grade with its reasons and the neighbour comparisons, all by
  :mod:`sampling.scoring` and :mod:`sampling.grading`.

Each rater group is scored only from its own channel: the citizen group from
the probability channels (invitation, IVR, CATI) with design weights and
strata; listed groups (deputies, leaders, subordinate bodies) from their
listed tokens; the self-selected service-recipient group from the open QR
channel, shown as self-selected and used only when the cycle's rules include
it (otherwise its weight is redistributed).  Responses that reached a group
through another channel are counted and reported, never pooled.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections import defaultdict
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa
from sqlalchemy import orm

from sampling.errors import SamplingError
from sampling.estimation import Domains, SurveyDesign
from sampling.estimation.intervals import t_quantile
from sampling.grading import (
    PRESETS,
    GradingRules,
    UnitStanding,
    grade_category,
    grade_probabilities,
    round_score,
)
from sampling.satisfaction import Scale, satisfaction_table
from sampling.scoring import (
    ComponentScore,
    GroupScore,
    SubScore,
    design_composites,
    neighbour_comparisons,
    overall_score,
    rank_units,
    social_recognition_score,
    sub_score_covariance_matrix,
)
from sampling.smoothing import FayHerriotMethod, fay_herriot
from survey.models import (
    Answer,
    Channel,
    Cycle,
    DontKnowHandling,
    RaterGroup,
    Response,
    SamplingKind,
    ScaleLevel,
    VoidedResponse,
)
from survey.services import components as component_service
from survey.services.errors import N_, Problem, ValidationError
from survey.services.rater_policy import VOIDED, policy_of

RULES_VERSION_1 = "minyi-results-v1"
"""The first format: scores, intervals, grades and neighbour tests."""

RULES_VERSION = "minyi-results-v2"
"""Bumped whenever the computation changes, so old snapshots say how they were made.

``minyi-results-v2`` adds each unit's grade probabilities (Monte Carlo over the
joint distribution of the totals, :func:`sampling.grading.grade_probabilities`)
with the robustness flag, and the optional Fay–Herriot smoothing of the
social-recognition scores (:func:`sampling.smoothing.fay_herriot`).  Inputs
carry their format and :func:`compute_outputs` computes each format as it was
defined, so a ``minyi-results-v1`` snapshot still re-computes byte for byte.
"""

SUPPORTED_FORMATS = (RULES_VERSION_1, RULES_VERSION)
"""Snapshot formats :func:`compute_outputs` (and so ``minyi results verify``) re-computes."""

SMOOTHING_NONE = "none"
SMOOTHING_FAY_HERRIOT = "fay-herriot"
SMOOTHING_CHOICES = (SMOOTHING_NONE, SMOOTHING_FAY_HERRIOT)
PREVIOUS_SCORE_COVARIATE = "previous_score"
"""The Fay–Herriot covariate: the unit's published total of the previous year."""


@dataclass(frozen=True)
class ResultRules:
    """The cycle's scoring and grading rules as recorded in a snapshot."""

    grade_scheme: str = "teams-15-80-5"
    level: float = 0.95
    decimals: int = 2
    include_self_selected: bool = True
    minimum_responses: int = 30
    dont_know: str = DontKnowHandling.EXCLUDE.value
    bottom_share: str | None = "0.05"
    target_threshold: str | None = "0.60"
    constraint_veto: bool = True
    robust_threshold: str = "0.80"
    """A grade whose probability is below it is flagged 不稳健 (``minyi-results-v2``)."""
    smoothing: str = SMOOTHING_NONE
    """``none`` or ``fay-herriot`` (EBLUP of the social-recognition scores, v2)."""
    probability_draws: int = 10_000
    """Monte Carlo draws per category for the grade probabilities (v2)."""

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def not_voided() -> sa.ColumnElement[bool]:
    """Leaves out responses voided after a review (复核作废, :mod:`survey.services.review`)."""
    return ~sa.exists().where(VoidedResponse.response_id == Response.id)


def rules_for(cycle: Cycle, **overrides: Any) -> ResultRules:
    """Default rules of ``cycle`` (minimum responses and don't-know handling from it)."""
    settings: dict[str, Any] = {
        "minimum_responses": cycle.min_valid_responses,
        "dont_know": cycle.dont_know_handling.value,
    }
    settings.update(overrides)
    return ResultRules(**settings)


def _scale(levels: list[ScaleLevel]) -> Scale:
    return Scale(
        points={level.code: level.points for level in levels},
        satisfied=frozenset(level.code for level in levels if level.counts_as_satisfied),
    )


@dataclass(frozen=True)
class CycleAnswers:
    """Every answer of a cycle as columns, read once (:func:`load_answers`).

    Responses are sorted by id; answers by response, unit and item (the order
    of :func:`answers_digest`).  ``row_response`` is each answer's position in
    the response columns.
    """

    response_id: npt.NDArray[np.int64]
    channel: list[Channel]
    group_id: npt.NDArray[np.int64]
    stratum: list[str]
    weight: npt.NDArray[np.float64]
    row_response: npt.NDArray[np.int32]
    unit_id: npt.NDArray[np.int32]
    item_id: npt.NDArray[np.int32]
    level_id: npt.NDArray[np.int32]


def load_answers(session: orm.Session, cycle: Cycle) -> CycleAnswers:
    """Read the cycle's responses and answers with two queries, as arrays.

    Millions of answers: only four 32-bit integer columns are kept per
    answer (PostgreSQL sends them packed in one value), never ORM objects.
    """
    # Core rows, the channel as its stored text: no ORM or enum processing
    # per row for a hundred thousand responses.
    channels = {channel.value: channel for channel in Channel}
    responses = (
        session.connection()
        .execute(
            sa.select(
                Response.id,
                sa.type_coerce(Response.channel, sa.String),
                Response.rater_group_id,
                Response.stratum,
                Response.design_weight,
            )
            .where(Response.cycle_id == cycle.id, not_voided())
            .order_by(Response.id)
        )
        .all()
    )
    response_id = np.array([row[0] for row in responses], dtype=np.int64)
    columns = _answer_columns(session, cycle, response_id)
    # Sorted by (response, unit, item) unless the table's physical order says
    # otherwise: check with one packed key, sort only when needed (the key is
    # unique, one answer per response, unit and item, so any sort will do).
    unit_rank = _id_ranks(columns[1])
    item_rank = _id_ranks(columns[2])
    key = (columns[0].astype(np.int64) * (unit_rank.size + 1) + unit_rank[columns[1]]) * (
        item_rank.size + 1
    ) + item_rank[columns[2]]
    if key.size > 1 and not (key[1:] > key[:-1]).all():
        columns = columns[:, np.argsort(key)]
    del key
    return CycleAnswers(
        response_id=response_id,
        channel=[channels[row[1]] for row in responses],
        group_id=np.array([row[2] for row in responses], dtype=np.int64),
        stratum=[row[3] for row in responses],
        weight=np.array([row[4] for row in responses], dtype=np.float64),
        row_response=_positions(response_id, columns[0]),
        unit_id=columns[1],
        item_id=columns[2],
        level_id=columns[3],
    )


def _positions(
    response_id: npt.NDArray[np.int64], wanted: npt.NDArray[np.int32]
) -> npt.NDArray[np.int32]:
    """Position of each of ``wanted`` in the sorted ``response_id``; -1 where absent.

    A lookup table over the id range when it is dense (one gather), a binary
    search otherwise.
    """
    if response_id.size == 0 or wanted.size == 0:
        return np.full(wanted.shape, -1, dtype=np.int32)
    first, last = int(response_id[0]), int(response_id[-1])
    if last - first < 4 * (response_id.size + wanted.size):
        table = np.full(last - first + 2, -1, dtype=np.int32)
        table[response_id - first] = np.arange(response_id.size, dtype=np.int32)
        # Ids outside the range land on the extra -1 at the end.
        offset = wanted.astype(np.int64) - first
        offset[(offset < 0) | (offset > last - first)] = last - first + 1
        return table[offset]
    position = np.minimum(np.searchsorted(response_id, wanted), response_id.size - 1)
    return np.where(response_id[position] == wanted, position, -1).astype(np.int32)


def _id_ranks(ids: npt.NDArray[np.int32]) -> npt.NDArray[np.int64]:
    """Lookup id → rank among the distinct ids (a cycle has few units and items)."""
    if ids.size == 0:
        return np.zeros(1, dtype=np.int64)
    present = np.bincount(ids) > 0
    return np.asarray(np.cumsum(present) - 1, dtype=np.int64)


def _answer_columns(
    session: orm.Session, cycle: Cycle, response_id: npt.NDArray[np.int64]
) -> npt.NDArray[np.int32]:
    """``(response_id, unit_id, item_id, scale_level_id)`` of every answer, 4 × n.

    The ids are 32-bit ``INTEGER`` columns in the schema.
    """
    if response_id.size == 0:
        return np.zeros((4, 0), dtype=np.int32)
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        # A value of tens of megabytes at a time: the driver's buffer, the bytes
        # and the decoded columns stay small next to the result.
        bounds = [*response_id[::_RESPONSES_PER_QUERY].tolist(), int(response_id[-1]) + 1]
        columns = np.concatenate(
            [np.zeros((4, 0), dtype=np.int32)]
            + [
                _packed_columns(connection, first, following - 1)
                for first, following in itertools.pairwise(bounds)
            ],
            axis=1,
        )
        # The id range may hold answers of another cycle fielded at the same time.
        mine = _positions(response_id, columns[0]) >= 0
        return columns if mine.all() else np.ascontiguousarray(columns[:, mine])
    if connection.dialect.name == "sqlite":
        # The driver's own cursor: tuples straight from sqlite3, without a
        # SQLAlchemy Row per answer (millions of them cost a minute).
        columns = _sqlite_columns(connection, int(response_id[0]), int(response_id[-1]))
        mine = _positions(response_id, columns[0]) >= 0
        return columns if mine.all() else np.ascontiguousarray(columns[:, mine])
    result = connection.execute(
        sa.select(Answer.response_id, Answer.unit_id, Answer.item_id, Answer.scale_level_id)
        .join(Response, Answer.response_id == Response.id)
        .where(Response.cycle_id == cycle.id, not_voided())
    )
    blocks = [np.empty((0, 4), dtype=np.int32)]
    while chunk := result.fetchmany(200_000):
        blocks.append(np.array(chunk, dtype=np.int32))
    return np.ascontiguousarray(np.concatenate(blocks).T)


def _sqlite_columns(connection: sa.Connection, first: int, last: int) -> npt.NDArray[np.int32]:
    """The answers of responses ``first`` … ``last`` from SQLite, 4 × n."""
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(
            "SELECT response_id, unit_id, item_id, scale_level_id FROM answer"
            " WHERE response_id BETWEEN ? AND ?",
            (first, last),
        )
        blocks = [np.empty(0, dtype=np.int32)]
        while chunk := cursor.fetchmany(200_000):
            blocks.append(
                np.fromiter(
                    itertools.chain.from_iterable(chunk), dtype=np.int32, count=4 * len(chunk)
                )
            )
    finally:
        cursor.close()
    return np.ascontiguousarray(np.concatenate(blocks).reshape(-1, 4).T)


_RESPONSES_PER_QUERY = 10_000


def _packed_columns(connection: sa.Connection, first: int, last: int) -> npt.NDArray[np.int32]:
    """The answers of responses ``first`` … ``last`` as one packed binary value.

    PostgreSQL packs each answer into 16 big-endian bytes and concatenates
    them: one value crosses the wire instead of millions of rows, each of
    which costs the driver microseconds.  The range scan needs no join.
    """
    # The driver's binary result format: the value arrives as bytes, not as
    # hex text twice its size.
    cursor = connection.connection.driver_connection.cursor(binary=True)  # type: ignore[union-attr]
    try:
        cursor.execute(
            "SELECT string_agg(int4send(response_id) || int4send(unit_id)"
            " || int4send(item_id) || int4send(scale_level_id), ''::bytea)"
            " FROM answer WHERE response_id BETWEEN %s AND %s",
            (first, last),
        )
        row = cursor.fetchone()
    finally:
        cursor.close()
    packed = None if row is None else row[0]
    if packed is None:
        return np.zeros((4, 0), dtype=np.int32)
    values = np.frombuffer(packed, dtype=">i4").reshape(-1, 4)
    return np.ascontiguousarray(values.T.astype(np.int32))


def _ranks(codes_by_id: Mapping[int, str]) -> tuple[npt.NDArray[np.int32], list[str]]:
    """Lookup id → position of its code in sorted order, and the sorted codes."""
    ordered = sorted(codes_by_id.items(), key=lambda pair: pair[1])
    lookup = np.full(max(codes_by_id, default=0) + 1, -1, dtype=np.int32)
    for position, (identifier, _) in enumerate(ordered):
        lookup[identifier] = position
    return lookup, [code for _, code in ordered]


def score_group(
    answers: CycleAnswers, cycle: Cycle, group: RaterGroup, rules: ResultRules
) -> tuple[
    list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]], dict[str, dict[str, int]]
]:
    """Unit scores, item-level indices, same-category covariances and responses left out.

    The group is scored from its own channels only (its :class:`RaterPolicy`); the
    responses left out are counted by reason and channel, ``{reason: {channel: n}}``.
    """
    policy = policy_of(group)
    in_group = answers.group_id == group.id
    channel_allowed = np.array([policy.accepts(channel) for channel in answers.channel], dtype=bool)
    excluded: dict[str, dict[str, int]] = {}
    for index in np.flatnonzero(in_group & ~channel_allowed).tolist():
        channel = answers.channel[index]
        reason = policy.exclusion(channel) or ""
        by_channel = excluded.setdefault(reason, {})
        by_channel[channel.value] = by_channel.get(channel.value, 0) + 1
    selected = (in_group & channel_allowed)[answers.row_response]
    if not selected.any():
        return [], [], [], excluded
    unit_rank, unit_codes = _ranks({unit.id: unit.code for unit in cycle.units})
    item_rank, item_codes = _ranks({item.id: item.code for item in cycle.items})
    levels = list(cycle.scale_levels)
    scale = _scale(levels)
    level_points = np.full(max((level.id for level in levels), default=0) + 1, np.nan)
    level_satisfied = np.zeros(level_points.shape, dtype=bool)
    level_dont_know = np.zeros(level_points.shape, dtype=bool)
    for level in levels:
        points_of_level = scale.points[level.code]
        level_points[level.id] = np.nan if points_of_level is None else points_of_level
        level_satisfied[level.id] = level.code in scale.satisfied
        level_dont_know[level.id] = level.is_dont_know
    # Millions of rows for the citizens: 32-bit columns, gathered once.
    respondent = answers.row_response[selected]
    unit = unit_rank[answers.unit_id[selected]]
    item = item_rank[answers.item_id[selected]]
    level_id = answers.level_id[selected]
    del selected
    n_units, n_items = len(unit_codes), len(item_codes)

    # Units where some weighted item has no valid answer at all cannot get a
    # composite; they count as having no valid response in this group.
    valid = ~level_dont_know[level_id]
    counts = np.bincount(unit[valid] * n_items + item[valid], minlength=n_units * n_items)
    seen = counts.reshape(n_units, n_items) > 0
    weighted = np.array([bool(entry.weight) for entry in sorted(cycle.items, key=_code)])
    answered_units = np.asarray(seen.any(axis=1), dtype=bool)
    complete_units = answered_units & np.asarray(seen[:, weighted].all(axis=1), dtype=bool)
    # Answers come sorted by respondent, then unit: a respondent's first valid
    # answer on a unit starts a new (respondent, unit) pair.
    pair = respondent[valid].astype(np.int64) * n_units + unit[valid]
    new_pair = np.ones(pair.shape, dtype=bool)
    new_pair[1:] = pair[1:] != pair[:-1]
    valid_respondents = np.bincount(unit[valid][new_pair], minlength=n_units)
    del valid, pair, new_pair

    scores: list[dict[str, Any]] = []
    item_rows: list[dict[str, Any]] = []
    covariances: list[dict[str, Any]] = []
    kept = np.flatnonzero(complete_units[unit])
    if kept.size:
        n_responses = len(answers.response_id)
        stratum_of_response: npt.NDArray[np.int32] | None = None
        n_strata = 1
        if policy.design_weighted:
            present = np.flatnonzero(np.bincount(respondent[kept])).tolist()
            labels = sorted({answers.stratum[index] or "-" for index in present})
            position = {label: index for index, label in enumerate(labels)}
            stratum_of_response = np.array(
                [position.get(label or "-", 0) for label in answers.stratum], dtype=np.int32
            )
            n_strata = len(labels)
        # Rows sorted by domain, then PSU (stratum, respondent): the variance
        # engine's distinct (domain, PSU) pairs are then found without a sort
        # of millions of shuffled keys.
        psu_key = respondent[kept].astype(np.int64)
        if stratum_of_response is not None:
            psu_key += stratum_of_response[respondent[kept]].astype(np.int64) * n_responses
        psu_key += (unit[kept] * n_items + item[kept]).astype(np.int64) * (n_strata * n_responses)
        # One answer per respondent, unit and item: the keys are distinct, so
        # the fastest (unstable) sort gives the one order.
        kept = kept[np.argsort(psu_key)]
        del psu_key
        respondent, unit, item, level_id = respondent[kept], unit[kept], item[kept], level_id[kept]
        del kept
        design = SurveyDesign(
            answers.weight[respondent],
            strata=None if stratum_of_response is None else stratum_of_response[respondent],
            psu=respondent,
            lonely_psu="certainty",
        )
        del respondent
        domains = Domains.from_codes(
            [(unit, np.arange(n_units)), (item, np.arange(n_items))], ["unit", "item"]
        )
        del unit, item
        points = level_points[level_id]
        composite = design_composites(
            design,
            points,
            domains,
            {item_rank[entry.id]: entry.weight for entry in cycle.items},
        )
        codes = [unit_codes[index] for index in composite.units.tolist()]
        for index, code in enumerate(codes):
            scores.append(
                {
                    "unit": code,
                    "group": group.code,
                    "estimate": float(composite.estimate[index]),
                    "variance": float(composite.covariance[index, index]),
                    "valid_responses": int(valid_respondents[composite.units[index]]),
                }
            )
        # Covariances only between units of one category: only they are compared.
        category_of = {entry.code: entry.category_id for entry in cycle.units}
        for first in range(len(codes)):
            for second in range(first + 1, len(codes)):
                if category_of[codes[first]] == category_of[codes[second]]:
                    covariances.append(
                        {
                            "group": group.code,
                            "first": codes[first],
                            "second": codes[second],
                            "covariance": float(composite.covariance[first, second]),
                        }
                    )
        satisfied, dont_know = level_satisfied[level_id], level_dont_know[level_id]
        del level_id
        table = satisfaction_table(
            design,
            points,
            satisfied,
            dont_know,
            domains,
            dont_know="count-in-base" if rules.dont_know == "count_in_base" else "exclude",
            level=rules.level,
        )
        unit_keys, item_keys = table.index.domains.keys
        for index in range(len(unit_keys)):
            item_rows.append(
                {
                    "unit": unit_codes[int(unit_keys[index])],
                    "group": group.code,
                    "item": item_codes[int(item_keys[index])],
                    "index": float(table.index.estimate[index]),
                    "index_se": float(table.index.se[index]),
                    "rate": float(table.rate.estimate[index]),
                    "dont_know_share": float(table.dont_know_share[index]),
                    "n": int(table.index.n[index]),
                }
            )
    for index in np.flatnonzero(answered_units & ~complete_units).tolist():
        scores.append(
            {
                "unit": unit_codes[index],
                "group": group.code,
                "estimate": None,
                "variance": 0.0,
                "valid_responses": 0,
            }
        )
    return scores, item_rows, covariances, excluded


def _code(entry: Any) -> str:
    return str(entry.code)


def answers_digest(session: orm.Session, cycle: Cycle, answers: CycleAnswers | None = None) -> str:
    """SHA-256 over every answer of the cycle (response, channel, group, unit, item, level).

    One line ``response|channel|group|stratum|weight|unit|item|level`` per
    answer in (response, unit, item) order, the numbers as Python prints
    them; the lines are joined column-wise by Arrow, a block at a time.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if answers is None:
        answers = load_answers(session, cycle)
    digest = hashlib.sha256(b"minyi-answers-v1\n")
    prefixes = pa.array(
        [
            f"{identifier}|{channel}|{group}|{stratum}|{weight!r}"
            for identifier, channel, group, stratum, weight in zip(
                answers.response_id.tolist(),
                answers.channel,
                answers.group_id.tolist(),
                answers.stratum,
                answers.weight.tolist(),
                strict=True,
            )
        ],
        type=pa.large_string(),
    )
    newline = pa.scalar("\n", type=pa.large_string())
    for start in range(0, len(answers.row_response), 200_000):
        block = slice(start, start + 200_000)
        lines = pc.binary_join_element_wise(
            prefixes.take(pa.array(answers.row_response[block])),
            *(
                pc.cast(pa.array(column[block]), pa.large_string())
                for column in (answers.unit_id, answers.item_id, answers.level_id)
            ),
            pa.scalar("|", type=pa.large_string()),
        )
        lines = pc.binary_join_element_wise(lines, newline, pa.scalar("", type=pa.large_string()))
        offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64)[
            lines.offset : lines.offset + len(lines) + 1
        ]
        data = lines.buffers()[2]
        if data is not None:
            digest.update(memoryview(data)[int(offsets[0]) : int(offsets[-1])])
    return digest.hexdigest()


def gather_inputs(
    session: orm.Session,
    cycle: Cycle,
    rules: ResultRules,
    *,
    decisions: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Everything the computation needs, read from the database, as JSON-ready data.

    Raises
    ------
    ValidationError
        When the statistics engine refuses the data (the message says why).
    """
    categories = []
    for category in cycle.categories:
        categories.append(
            {
                "code": category.code,
                "name": category.name,
                "group_weights": {
                    weight.rater_group.code: weight.weight
                    for weight in category.rater_group_weights
                },
                "component_weights": {
                    weight.component.code: weight.weight for weight in category.component_weights
                },
            }
        )
    group_scores: list[dict[str, Any]] = []
    item_scores: list[dict[str, Any]] = []
    group_covariances: list[dict[str, Any]] = []
    excluded: dict[str, int] = {}
    excluded_reasons: list[dict[str, Any]] = []
    answers = load_answers(session, cycle)
    # The digest (Arrow and hashlib, which release the GIL) runs on the other
    # core while the groups are scored.
    with ThreadPoolExecutor(max_workers=1) as pool:
        digest = pool.submit(answers_digest, session, cycle, answers)
        for group in cycle.rater_groups:
            try:
                scores, items, pairs, left_out = score_group(answers, cycle, group, rules)
            except SamplingError as error:
                raise ValidationError(
                    N_("The answers of a rater group cannot be scored yet."),
                    [_unscorable(answers, group, error)],
                ) from error
            group_scores.extend(scores)
            item_scores.extend(items)
            group_covariances.extend(pairs)
            excluded[group.code] = sum(
                count for by_channel in left_out.values() for count in by_channel.values()
            )
            excluded_reasons.extend(
                {"group": group.code, "reason": reason, "channel": channel, "count": count}
                for reason, by_channel in sorted(left_out.items())
                for channel, count in sorted(by_channel.items())
            )
        answers_sha256 = digest.result()
    excluded_reasons.extend(_voided(session, cycle))
    units_by_id = {unit.id: unit.code for unit in cycle.units}
    imported = component_service.current_imports(session, cycle)
    components: dict[str, Any] = {}
    for code, version in sorted(imported.items()):
        components[code] = {
            "version": version.version,
            "file_sha256": version.file_sha256,
            "values": {
                units_by_id[value.unit_id]: {
                    "score": value.score,
                    "vetoed": value.vetoed,
                    "lowest_target_completion": value.lowest_target_completion,
                }
                for value in sorted(version.values, key=lambda value: units_by_id[value.unit_id])
            },
        }
    social = next((c.code for c in cycle.components if c.is_social_recognition), None)
    return {
        "previous": _previous_results(session, cycle),
        "format": RULES_VERSION,
        "cycle": {"id": cycle.id, "name": cycle.name, "year": cycle.year},
        "rules": rules.as_json(),
        "categories": categories,
        "units": [
            {"code": unit.code, "name": unit.name, "category": unit.category.code}
            for unit in sorted(cycle.units, key=lambda unit: unit.code)
        ],
        "groups": [
            {"code": group.code, "name": group.name, "kind": group.sampling_kind.value}
            for group in cycle.rater_groups
        ],
        "social_component": social,
        "group_scores": sorted(group_scores, key=lambda row: (row["unit"], row["group"])),
        "item_scores": sorted(
            item_scores, key=lambda row: (row["unit"], row["group"], row["item"])
        ),
        "group_covariances": sorted(
            group_covariances, key=lambda row: (row["group"], row["first"], row["second"])
        ),
        "excluded_responses": excluded,
        #: Every response left out, by group, reason and channel (nothing is dropped
        #: silently: the trial and results pages list these).
        "excluded_reasons": excluded_reasons,
        "components": components,
        "decisions": dict(sorted((decisions or {}).items())),
        "answers_sha256": answers_sha256,
    }


def _voided(session: orm.Session, cycle: Cycle) -> list[dict[str, Any]]:
    """Responses voided after a review, by group and channel (left out of every score)."""
    codes = {group.id: group.code for group in cycle.rater_groups}
    rows = session.execute(
        sa.select(
            Response.rater_group_id, sa.type_coerce(Response.channel, sa.String), sa.func.count()
        )
        .where(Response.cycle_id == cycle.id, ~not_voided())
        .group_by(Response.rater_group_id, Response.channel)
    ).all()
    return sorted(
        (
            {"group": codes[group_id], "reason": VOIDED, "channel": channel, "count": int(count)}
            for group_id, channel, count in rows
        ),
        key=lambda row: (row["group"], row["channel"]),
    )


def _unscorable(answers: CycleAnswers, group: RaterGroup, error: SamplingError) -> Problem:
    """Name the group, how many responded, and what would let it be scored."""
    in_group = answers.group_id == group.id
    strata = {answers.stratum[index] or "-" for index in np.flatnonzero(in_group).tolist()}
    responses = int(in_group.sum())
    if responses <= len(strata):
        message = N_(
            "%(group)s: %(responses)d responses in %(strata)d strata leave no degrees of freedom "
            "for an interval; wait for more responses (two or more in at least one stratum) or "
            "give the group no weight"
        )
    else:
        message = N_("%(group)s cannot be scored: %(error)s")
    return Problem(
        message,
        column=group.code,
        parameters={
            "group": group.name,
            "responses": responses,
            "strata": len(strata),
            "error": error,
        },
    )


def _previous_results(session: orm.Session, cycle: Cycle) -> dict[str, Any] | None:
    """Ranks and totals of the previous year's result in force ("纵比看变化")."""
    from survey.models import ResultSnapshot

    previous = session.scalar(
        sa.select(ResultSnapshot)
        .join(Cycle, ResultSnapshot.cycle_id == Cycle.id)
        .where(Cycle.year == cycle.year - 1)
        .order_by(ResultSnapshot.version.desc())
        .limit(1)
    )
    if previous is None:
        return None
    outputs = json.loads(previous.content)["outputs"]
    return {
        "snapshot_sha256": previous.sha256,
        "units": {
            unit["unit"]: {"rank": unit["rank"], "score": unit["total"]["estimate"]}
            for category in outputs["categories"]
            for unit in category["units"]
            if unit["total"] is not None
        },
    }


@dataclass(frozen=True)
class ScoringProblem:
    """Why a result cannot be published yet, as data: the page words it (试算).

    ``kind`` is ``component_missing`` (``component`` names it),
    ``groups_below_minimum`` (``unit`` and the ``groups`` below their minimum
    number of valid responses, with no decision recorded for the unit) or
    ``smoothing_failed`` (the office chose Fay–Herriot smoothing and the model
    cannot be fitted; ``detail`` says why).
    """

    kind: str
    unit: str | None = None
    component: str | None = None
    groups: tuple[str, ...] = ()
    detail: str = ""

    def problem(
        self,
        units: Mapping[str, str] | None = None,
        groups: Mapping[str, str] | None = None,
        components: Mapping[str, str] | None = None,
    ) -> Problem:
        """The problem as people read it (trial page, publication's refusal): names by codes."""
        units, groups, components = units or {}, groups or {}, components or {}
        if self.kind == "component_missing":
            code = self.component or ""
            return Problem(
                N_(
                    "The component “%(component)s” (%(code)s) has not been imported: import its "
                    "file on the cycle's page."
                ),
                parameters={"component": components.get(code, code), "code": code},
            )
        if self.kind == "smoothing_failed":
            return Problem(
                N_(
                    "The Fay–Herriot model cannot be fitted to these scores (%(error)s): "
                    "publish without smoothing, or wait for more responses."
                ),
                parameters={"error": self.detail},
            )
        code = self.unit or ""
        return Problem(
            N_(
                "%(unit)s (%(code)s): too few valid responses from %(groups)s, so their weight "
                "goes to the other groups. Wait for more responses, or record the office's "
                "decision below."
            ),
            parameters={
                "unit": units.get(code, code),
                "code": code,
                "groups": "、".join(groups.get(group, group) for group in self.groups),
            },
        )

    def __str__(self) -> str:
        if self.kind == "component_missing":
            return f"component {self.component!r} has not been imported"
        if self.kind == "smoothing_failed":
            return f"the Fay–Herriot model cannot be fitted: {self.detail}"
        return (
            f"unit {self.unit} has rater groups below the minimum "
            f"({', '.join(self.groups)}) and no decision"
        )


def scoring_problems(
    inputs: Mapping[str, Any], outputs: Mapping[str, Any] | None = None
) -> list[ScoringProblem]:
    """What keeps these inputs from publication: missing components, undecided units."""
    problems = []
    weighted = {
        code
        for category in inputs["categories"]
        for code, weight in category["component_weights"].items()
        if weight > 0 and code != inputs["social_component"]
    }
    for code in sorted(weighted - set(inputs["components"])):
        problems.append(ScoringProblem("component_missing", component=code))
    outputs = outputs or compute_outputs(inputs, with_probabilities=False)
    smoothing = outputs.get("smoothing")
    if smoothing is not None and not smoothing["applied"]:
        problems.append(ScoringProblem("smoothing_failed", detail=smoothing.get("error", "")))
    for category in outputs["categories"]:
        for unit in category["units"]:
            if _needs_decision(unit) and unit["unit"] not in inputs["decisions"]:
                problems.append(
                    ScoringProblem(
                        "groups_below_minimum",
                        unit=unit["unit"],
                        groups=tuple(unit["social"]["below_minimum"]),
                    )
                )
    return problems


def _needs_decision(unit: Mapping[str, Any]) -> bool:
    """Rater groups below their minimum: the office must accept the redistribution."""
    return bool(unit["social"]["redistributed"] or unit["social"]["estimate"] is None)


@dataclass(frozen=True)
class Trial:
    """The results computed and shown, never stored (试算); what publishing would store."""

    inputs: dict[str, Any]
    outputs: dict[str, Any]
    problems: list[ScoringProblem]


def trial(
    session: orm.Session,
    cycle: Cycle,
    rules: ResultRules,
    *,
    accept_redistribution: str = "",
    with_probabilities: bool = True,
) -> Trial:
    """Compute the results as publishing would, without writing anything.

    ``accept_redistribution`` is recorded as the decision for every unit whose
    rater groups fell below their minimum (the office's one decision for all).
    ``with_probabilities=False`` skips the Monte Carlo of the grade
    probabilities, when only the decisions are wanted (publishing computes them).
    """
    inputs = gather_inputs(session, cycle, rules)
    if accept_redistribution.strip():
        # Which units need the decision does not depend on the grade probabilities.
        decisions = {
            unit["unit"]: accept_redistribution.strip()
            for category in compute_outputs(inputs, with_probabilities=False)["categories"]
            for unit in category["units"]
            if _needs_decision(unit)
        }
        if decisions:
            inputs = {**inputs, "decisions": dict(sorted(decisions.items()))}
    outputs = compute_outputs(inputs, with_probabilities=with_probabilities)
    return Trial(inputs, outputs, scoring_problems(inputs, outputs))


def input_problems(inputs: Mapping[str, Any]) -> list[str]:
    """:func:`scoring_problems` as sentences (the command line, publication's refusal)."""
    return [str(problem) for problem in scoring_problems(inputs)]


def canonical_json(data: Any) -> str:
    """The one serialisation that is hashed: sorted keys, compact, UTF-8, no NaN."""
    return json.dumps(
        data, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False
    )


def _total_covariance(
    inputs: Mapping[str, Any],
    category: Mapping[str, Any],
    codes: list[str],
    subs: Mapping[str, SubScore],
    social_code: str | None,
    smoothed: Mapping[str, _SmoothedScore] | None = None,
) -> np.ndarray:
    """Covariance of the totals of ``codes``: only the survey component varies.

    ``cov(T_i, T_j) = w_s² · cov(S_i, S_j)`` with the social-recognition
    weight ``w_s`` of the category and the sub-score covariance built from the
    same-category unit covariances within each rater group.  With Fay–Herriot
    smoothing (``smoothed``), the smoothed scores' covariance: their MSE on the
    diagonal and ``γ_i γ_j cov(S_i, S_j)`` off it, the covariance of the shrunk
    sampling errors (as in docs/fairness.md; positive semi-definite since
    ``mse_i ≥ γ_i ψ_i ≥ γ_i² ψ_i``).
    """
    position = {code: index for index, code in enumerate(codes)}
    matrices = {group["code"]: np.zeros((len(codes), len(codes))) for group in inputs["groups"]}
    for row in inputs["group_scores"]:
        if row["unit"] in position and row["group"] in matrices:
            index = position[row["unit"]]
            matrices[row["group"]][index, index] = row["variance"]
    for row in inputs.get("group_covariances", []):
        if row["first"] in position and row["second"] in position:
            first, second = position[row["first"]], position[row["second"]]
            matrices[row["group"]][first, second] = row["covariance"]
            matrices[row["group"]][second, first] = row["covariance"]
    weight = float(category["component_weights"].get(social_code, 0.0))
    social = sub_score_covariance_matrix([subs[code] for code in codes], matrices)
    if smoothed is not None:
        gamma = np.array([smoothed[code].gamma if code in smoothed else 1.0 for code in codes])
        social = gamma[:, None] * social * gamma[None, :]
        for index, code in enumerate(codes):
            if code in smoothed:
                social[index, index] = smoothed[code].mse
    return np.asarray(weight**2 * social, dtype=np.float64)


@dataclass(frozen=True)
class _SmoothedScore:
    """A unit's Fay–Herriot EBLUP of its social-recognition score."""

    estimate: float
    mse: float
    gamma: float


def _smooth(
    subs: Mapping[str, SubScore], previous: Mapping[str, Any], level: float
) -> tuple[dict[str, _SmoothedScore], dict[str, Any]]:
    """Fay–Herriot EBLUP (REML) of every unit's social-recognition score.

    The areas are the cycle's units with a score and a positive sampling
    variance (a unit without sampling error keeps its direct score: ``γ = 1``
    is the EBLUP's limit as ``ψ → 0``).  The covariate is the unit's published
    total of the previous year when every area has one (and the fit accepts
    it), otherwise the model has an intercept only.  Returns the smoothed
    scores by unit (empty when the model cannot be fitted) and the record that
    the snapshot stores: the model, its covariates, its estimates, or the
    reason it could not be fitted.
    """
    areas = sorted(
        code
        for code, sub in subs.items()
        if sub.estimate is not None and sub.variance is not None and sub.variance > 0
    )
    direct = [float(subs[code].estimate or 0.0) for code in areas]
    variance = [float(subs[code].variance or 0.0) for code in areas]
    scores = {
        code: value["score"] for code, value in previous.items() if value.get("score") is not None
    }
    attempts: list[dict[str, list[float]]] = []
    if areas and all(code in scores for code in areas):
        attempts.append({PREVIOUS_SCORE_COVARIATE: [float(scores[code]) for code in areas]})
    attempts.append({})
    record: dict[str, Any] = {
        "method": SMOOTHING_FAY_HERRIOT,
        "estimation": FayHerriotMethod.REML.value,
        "applied": False,
        "areas": areas,
    }
    errors: list[str] = []
    for covariates in attempts:
        try:
            fit = fay_herriot(
                direct, variance, covariates, areas=areas, method=FayHerriotMethod.REML
            )
        except SamplingError as error:
            errors.append(str(error))
            continue
        quantile = t_quantile(level, math.inf)
        smoothed = {
            code: _SmoothedScore(
                float(fit.eblup[index]), float(fit.mse[index]), float(fit.gamma[index])
            )
            for index, code in enumerate(areas)
        }
        for code, sub in subs.items():
            if code not in smoothed and sub.estimate is not None:
                smoothed[code] = _SmoothedScore(float(sub.estimate), 0.0, 1.0)
        record.update(
            applied=True,
            covariates=list(covariates),
            model=fit.model(),
            units={
                code: {
                    "estimate": value.estimate,
                    "se": value.mse**0.5,
                    "ci_low": value.estimate - quantile * value.mse**0.5,
                    "ci_high": value.estimate + quantile * value.mse**0.5,
                    "gamma": value.gamma,
                }
                for code, value in sorted(smoothed.items())
            },
        )
        if errors:
            record["covariates_dropped"] = errors
        return smoothed, record
    record["error"] = "; ".join(errors)
    return {}, record


def probability_seed(answers_sha256: str, category: str) -> int:
    """The Monte Carlo seed of a category's grade probabilities, from the inputs.

    The first 63 bits of ``SHA-256("minyi-grade-probabilities|<answers
    SHA-256>|<category code>")``: the same answers give the same draws, so a
    snapshot re-computes identically, and nobody chooses the seed.
    """
    digest = hashlib.sha256(
        f"minyi-grade-probabilities|{answers_sha256}|{category}".encode()
    ).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def compute_outputs(
    inputs: Mapping[str, Any], *, with_probabilities: bool = True
) -> dict[str, Any]:
    """Sub-scores, totals, ranks, grades and neighbour tests from ``inputs`` (pure).

    A unit without any eligible rater group, or with a missing component, gets
    no total and no grade; :func:`input_problems` lists it.  The inputs are
    first brought to their canonical form (sorted keys), so the result does not
    depend on the order in which a mapping was built or stored.

    The inputs' ``format`` says which computation applies (inputs without one
    are ``minyi-results-v1``).  ``minyi-results-v2`` adds, per unit, the
    probability of each grade (``grade_probability``; per category, the draws
    and the seed under ``probabilities``) and, when the rules ask for it,
    Fay–Herriot smoothing of the social-recognition scores (``smoothing``).
    ``with_probabilities=False`` leaves the Monte Carlo out: for checks that
    only need the grades (:func:`scoring_problems`), never for a snapshot.

    Raises
    ------
    ValueError
        An unknown format.
    """
    inputs = json.loads(canonical_json(inputs))
    version = inputs.get("format", RULES_VERSION_1)
    if version not in SUPPORTED_FORMATS:
        raise ValueError(f"unknown results format {version!r}")
    current = version == RULES_VERSION
    rules = ResultRules(**inputs["rules"])
    scheme = PRESETS[rules.grade_scheme]
    kinds = {group["code"]: group["kind"] for group in inputs["groups"]}
    scores_by_unit: dict[str, list[GroupScore]] = defaultdict(list)
    for row in inputs["group_scores"]:
        scores_by_unit[row["unit"]].append(
            GroupScore(row["group"], row["estimate"], row["variance"], row["valid_responses"])
        )
    social_code = inputs["social_component"]
    previous = (inputs.get("previous") or {}).get("units", {})
    # First every unit's social-recognition sub-score (smoothing needs them all).
    category_weights: dict[str, dict[str, float]] = {}
    subs: dict[str, SubScore] = {}
    for category in inputs["categories"]:
        group_weights = dict(category["group_weights"])
        if not rules.include_self_selected:
            group_weights = {
                code: weight
                for code, weight in group_weights.items()
                if kinds.get(code) != SamplingKind.SELF_SELECTED.value
            }
            total_weight = sum(group_weights.values())
            group_weights = {code: weight / total_weight for code, weight in group_weights.items()}
        category_weights[category["code"]] = group_weights
        for unit in inputs["units"]:
            if unit["category"] == category["code"]:
                subs[unit["code"]] = social_recognition_score(
                    [
                        score
                        for score in scores_by_unit.get(unit["code"], [])
                        if score.group in group_weights
                    ],
                    group_weights,
                    minimum_responses=rules.minimum_responses,
                    level=rules.level,
                )
    smoothed: dict[str, _SmoothedScore] | None = None
    smoothing: dict[str, Any] | None = None
    if current and rules.smoothing == SMOOTHING_FAY_HERRIOT:
        smoothed, smoothing = _smooth(subs, previous, rules.level)
        if not smoothing["applied"]:
            smoothed = None
    elif current and rules.smoothing != SMOOTHING_NONE:
        raise ValueError(f"unknown smoothing {rules.smoothing!r}")
    result_categories = []
    for category in inputs["categories"]:
        units = [unit for unit in inputs["units"] if unit["category"] == category["code"]]
        entries: dict[str, dict[str, Any]] = {}
        totals: dict[str, float] = {}
        standings: list[UnitStanding] = []
        for unit in units:
            code = unit["code"]
            sub = subs[code]
            entry: dict[str, Any] = {
                "unit": code,
                "name": unit["name"],
                "social": {
                    "estimate": sub.estimate,
                    "se": sub.se,
                    "ci_low": sub.ci_low,
                    "ci_high": sub.ci_high,
                    "redistributed": sub.redistributed,
                    "below_minimum": [p.group for p in sub.contributions if p.below_minimum],
                    "groups": [
                        {
                            "group": part.group,
                            "self_selected": kinds.get(part.group)
                            == SamplingKind.SELF_SELECTED.value,
                            "nominal_weight": part.nominal_weight,
                            "effective_weight": part.effective_weight,
                            "estimate": part.estimate,
                            "se": part.variance**0.5,
                            "valid_responses": part.valid_responses,
                            "below_minimum": part.below_minimum,
                        }
                        for part in sub.contributions
                    ],
                },
                "total": None,
                "rank": None,
                "grade": None,
                "quota_grade": None,
                "reasons": [],
                "vetoed": [],
            }
            if current:
                entry["grade_probability"] = None
                if smoothing is not None and smoothed is not None:
                    entry["social"]["smoothed"] = smoothing["units"].get(code)
            entries[code] = entry
            component_scores = []
            complete = sub.estimate is not None and sub.variance is not None
            vetoed: list[str] = []
            completions: list[float] = []
            for component_code, weight in category["component_weights"].items():
                if component_code == social_code:
                    if smoothed is not None and code in smoothed:
                        component_scores.append(
                            ComponentScore(
                                component_code,
                                round_score(smoothed[code].estimate, rules.decimals),
                                smoothed[code].mse,
                            )
                        )
                    elif sub.estimate is not None and sub.variance is not None:
                        component_scores.append(
                            ComponentScore(
                                component_code,
                                round_score(sub.estimate, rules.decimals),
                                sub.variance,
                            )
                        )
                    continue
                value = inputs["components"].get(component_code, {}).get("values", {}).get(code)
                if value is None:
                    complete = complete and weight == 0
                    continue
                vetoed_here = bool(value["vetoed"]) and rules.constraint_veto
                if vetoed_here:
                    vetoed.append(component_code)
                if value["lowest_target_completion"] is not None:
                    completions.append(value["lowest_target_completion"])
                component_scores.append(
                    ComponentScore(component_code, value["score"], vetoed=vetoed_here)
                )
            entry["vetoed"] = vetoed
            if not complete:
                continue
            total = overall_score(
                component_scores, category["component_weights"], level=rules.level
            )
            rounded = round_score(total.estimate, rules.decimals)
            entry["total"] = {
                "estimate": rounded,
                "unrounded": total.estimate,
                "se": total.se,
                "ci_low": total.ci_low,
                "ci_high": total.ci_high,
                "contributions": [
                    {
                        "component": part.component,
                        "weight": part.weight,
                        "score": part.score,
                        "contribution": part.contribution,
                        "vetoed": part.vetoed,
                    }
                    for part in total.contributions
                ],
            }
            totals[code] = rounded
            standings.append(
                UnitStanding(
                    unit=code,
                    score=rounded,
                    lowest_target_completion=min(completions) if completions else None,
                    constraint_failed=bool(vetoed),
                )
            )
        grading_rules = GradingRules(
            bottom_share=rules.bottom_share,
            target_threshold=rules.target_threshold,
            constraint_veto=rules.constraint_veto,
        )
        graded = grade_category(standings, scheme, grading_rules)
        for ranked in rank_units(
            totals,
            previous_ranks={code: value["rank"] for code, value in previous.items()},
            previous_scores={code: value["score"] for code, value in previous.items()},
        ):
            entries[ranked.unit]["rank"] = ranked.rank
            entries[ranked.unit]["rank_change"] = ranked.rank_change
            entries[ranked.unit]["score_change"] = (
                None
                if ranked.score_change is None
                else round_score(ranked.score_change, rules.decimals)
            )
        for unit_grade in graded.units:
            entry = entries[unit_grade.unit]
            entry["grade"] = unit_grade.grade
            entry["quota_grade"] = unit_grade.quota_grade
            entry["reasons"] = [
                {"code": reason.code.value, "detail": reason.detail}
                for reason in unit_grade.reasons
            ]
        ranked_codes = [unit.unit for unit in graded.units]
        comparisons = neighbour_comparisons(
            ranked_codes,
            [entries[code]["total"]["unrounded"] for code in ranked_codes],
            _total_covariance(inputs, category, ranked_codes, subs, social_code, smoothed),
            grades=[entries[code]["grade"] for code in ranked_codes],
            level=rules.level,
        )
        for comparison in comparisons:
            entries[comparison.higher]["next"] = {
                "unit": comparison.lower,
                "difference": comparison.difference,
                "se": comparison.se,
                "distinguishable": comparison.distinguishable,
                "at_grade_boundary": comparison.at_grade_boundary,
            }
        ordered = sorted(
            entries.values(),
            key=lambda entry: (entry["rank"] is None, entry["rank"] or 0, entry["unit"]),
        )
        result_category: dict[str, Any] = {
            "code": category["code"],
            "name": category["name"],
            "quota": list(graded.quota),
            "units": ordered,
        }
        if current:
            result_category["probabilities"] = (
                _category_probabilities(
                    inputs, category, standings, entries, subs, smoothed, rules, grading_rules
                )
                if with_probabilities
                else None
            )
        result_categories.append(result_category)
    outputs: dict[str, Any] = {
        "format": version,
        "scheme": scheme.name,
        "categories": result_categories,
    }
    if current:
        outputs["smoothing"] = smoothing
        outputs["robust_threshold"] = rules.robust_threshold
    return outputs


def _category_probabilities(
    inputs: Mapping[str, Any],
    category: Mapping[str, Any],
    standings: list[UnitStanding],
    entries: Mapping[str, dict[str, Any]],
    subs: Mapping[str, SubScore],
    smoothed: Mapping[str, _SmoothedScore] | None,
    rules: ResultRules,
    grading_rules: GradingRules,
) -> dict[str, Any]:
    """Each graded unit's grade probabilities (set on ``entries``) and the draws' record.

    The joint normal of the unrounded totals with the covariance of
    :func:`_total_covariance` in standings order, every draw rounded to the
    published decimals and graded (:func:`sampling.grading.grade_probabilities`).
    """
    seed = probability_seed(str(inputs.get("answers_sha256") or ""), category["code"])
    record: dict[str, Any] = {
        "draws": rules.probability_draws,
        "seed": seed,
        "threshold": rules.robust_threshold,
        "monte_carlo_se": 0.0,
    }
    if not standings:
        return record
    order = [standing.unit for standing in standings]
    scheme = PRESETS[rules.grade_scheme]
    result = grade_probabilities(
        standings,
        _total_covariance(inputs, category, order, subs, inputs["social_component"], smoothed),
        scheme,
        grading_rules,
        seed=seed,
        estimates=[entries[code]["total"]["unrounded"] for code in order],
        decimals=rules.decimals,
        draws=rules.probability_draws,
        threshold=float(rules.robust_threshold),
    )
    for unit in result.units:
        entries[unit.unit]["grade_probability"] = {
            "grade": unit.grade,
            "probability": unit.grade_probability,
            "robust": unit.robust,
            "grades": dict(zip(scheme.grades, unit.probabilities, strict=True)),
            "most_likely_grade": unit.most_likely_grade,
        }
    record.update(
        monte_carlo_se=result.monte_carlo_se,
        redrawn_rules=[code.value for code in result.redrawn_rules],
        fixed_rules=[code.value for code in result.fixed_rules],
    )
    return record

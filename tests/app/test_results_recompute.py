"""The fast whole-cycle recompute gives the inputs a straightforward recomputation gives.

``survey.services.scoring`` reads a cycle's answers once as integer columns
(a packed binary value on PostgreSQL), scores every rater group with
vectorised lookups, sparse PSU × unit covariances
(``sampling.scoring.design_composites``) and the encoded satisfaction table,
and hashes the answers column-wise with Arrow (issue 9).  The reference
below is the straightforward computation it replaced: one ORM query per
rater group, labels encoded row by row, the dense unit × item covariance of
``SurveyDesign.mean(covariance=True)`` and a per-row digest.  Both run on the
same cycle, made awkward on purpose: a response that reached the citizens
through the open QR code, a unit whose weighted item is "don't know" for
every service recipient, answers stored out of order, and an answer of
another cycle inside the cycle's range of response ids.
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa

from sampling.estimation import Domains, SurveyDesign
from sampling.satisfaction import satisfaction_indices
from sampling.scoring import composite_covariance, design_composites
from survey.models import (
    Answer,
    Channel,
    Cycle,
    CycleStatus,
    RaterGroup,
    Response,
    SamplingKind,
    ScaleLevel,
)
from survey.services import cycles, rater_policy, scoring, synthetic


def reference_group_scores(
    session: Any, cycle: Cycle, group: RaterGroup, rules: scoring.ResultRules
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]], int]:
    allowed = rater_policy.policy_of(group).channels
    counts = session.execute(
        sa.select(Response.channel, sa.func.count())
        .where(Response.cycle_id == cycle.id, Response.rater_group_id == group.id)
        .group_by(Response.channel)
    ).all()
    excluded = sum(count for channel, count in counts if channel not in allowed)
    rows = session.execute(
        sa.select(
            Answer.response_id,
            Response.stratum,
            Response.design_weight,
            Answer.unit_id,
            Answer.item_id,
            ScaleLevel.code,
            ScaleLevel.is_dont_know,
        )
        .join(Response, Answer.response_id == Response.id)
        .join(ScaleLevel, Answer.scale_level_id == ScaleLevel.id)
        .where(
            Response.cycle_id == cycle.id,
            Response.rater_group_id == group.id,
            Response.channel.in_(sorted(allowed)),
        )
        .order_by(Answer.response_id, Answer.unit_id, Answer.item_id)
    ).all()
    if not rows:
        return [], [], [], excluded
    units = {unit.id: unit.code for unit in cycle.units}
    items = {item.id: item.code for item in cycle.items}
    respondent = np.array([row[0] for row in rows])
    stratum = np.array([row[1] or "-" for row in rows], dtype=object)
    weight = np.array([row[2] for row in rows], dtype=np.float64)
    unit = np.array([units[row[3]] for row in rows], dtype=object)
    item = np.array([items[row[4]] for row in rows], dtype=object)
    level = np.array([row[5] for row in rows], dtype=object)
    scale = scoring._scale(list(cycle.scale_levels))
    points, _, _ = scale.encode(level)
    answered: dict[str, set[str]] = defaultdict(set)
    valid_respondents: dict[str, set[int]] = defaultdict(set)
    for row_unit, row_item, row_respondent, row in zip(
        unit.tolist(), item.tolist(), respondent.tolist(), rows, strict=True
    ):
        if not row[6]:
            answered[row_unit].add(row_item)
            valid_respondents[row_unit].add(row_respondent)
    weighted_items = {entry.code for entry in cycle.items if entry.weight}
    complete = {code for code, seen in answered.items() if weighted_items <= seen}
    keep = np.array([code in complete for code in unit.tolist()], dtype=bool)
    scores: list[dict[str, Any]] = []
    item_rows: list[dict[str, Any]] = []
    covariances: list[dict[str, Any]] = []
    if keep.any():
        design = SurveyDesign(
            weight[keep],
            strata=stratum[keep] if group.sampling_kind == SamplingKind.PROBABILITY else None,
            psu=respondent[keep],
            lonely_psu="certainty",
        )
        composite = composite_covariance(
            design.mean(points[keep], {"unit": unit[keep], "item": item[keep]}, covariance=True),
            {entry.code: entry.weight for entry in cycle.items},
        )
        codes = composite.units.tolist()
        for index, code in enumerate(codes):
            scores.append(
                {
                    "unit": code,
                    "group": group.code,
                    "estimate": float(composite.estimate[index]),
                    "variance": float(composite.covariance[index, index]),
                    "valid_responses": len(valid_respondents[code]),
                }
            )
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
        # The satisfaction table as it was computed: index and share by
        # design.mean, the rate by design.proportion, labels encoded row by row.
        points_kept, satisfied, dont_know = scale.encode(level[keep])
        domains = {"unit": unit[keep], "item": item[keep]}
        index_table = design.mean(points_kept, domains, level=rules.level)
        answered_kept = ~np.isnan(points_kept) | dont_know
        rate_values = np.where(answered_kept, satisfied.astype(np.float64), np.nan)
        if rules.dont_know != "count_in_base":
            rate_values = np.where(dont_know, np.nan, rate_values)
        rate = design.proportion(rate_values, domains, level=rules.level)
        share = design.mean(
            np.where(answered_kept, dont_know.astype(np.float64), np.nan), domains
        ).estimate
        # The library function, which now goes through satisfaction_table, agrees.
        table = satisfaction_indices(
            design,
            level[keep],
            domains,
            scale=scale,
            dont_know="count-in-base" if rules.dont_know == "count_in_base" else "exclude",
            level=rules.level,
        )
        assert np.array_equal(table.rate.ci_low, rate.ci_low)
        assert np.array_equal(table.rate.ci_high, rate.ci_high)
        assert np.array_equal(table.dont_know_share, share)
        unit_keys, item_keys = index_table.domains.keys
        for index in range(len(unit_keys)):
            item_rows.append(
                {
                    "unit": str(unit_keys[index]),
                    "group": group.code,
                    "item": str(item_keys[index]),
                    "index": float(index_table.estimate[index]),
                    "index_se": float(index_table.se[index]),
                    "rate": float(rate.estimate[index]),
                    "dont_know_share": float(share[index]),
                    "n": int(index_table.n[index]),
                }
            )
    for code in sorted(set(valid_respondents) - complete):
        scores.append(
            {
                "unit": code,
                "group": group.code,
                "estimate": None,
                "variance": 0.0,
                "valid_responses": 0,
            }
        )
    return scores, item_rows, covariances, excluded


def reference_digest(session: Any, cycle: Cycle) -> str:
    digest = hashlib.sha256(b"minyi-answers-v1\n")
    rows = session.execute(
        sa.select(
            Response.id,
            Response.channel,
            Response.rater_group_id,
            Response.stratum,
            Response.design_weight,
            Answer.unit_id,
            Answer.item_id,
            Answer.scale_level_id,
        )
        .join(Response, Answer.response_id == Response.id)
        .where(Response.cycle_id == cycle.id)
        .order_by(Answer.response_id, Answer.unit_id, Answer.item_id)
    )
    for row in rows:
        digest.update(("|".join(str(value) for value in row) + "\n").encode())
    return digest.hexdigest()


def assert_same(fast: Any, reference: Any, path: str = "") -> int:
    """Exact for text, integers and None; floats to 1e-9 relative. Returns floats compared."""
    if isinstance(reference, dict):
        assert isinstance(fast, dict) and sorted(fast) == sorted(reference), path
        return sum(assert_same(fast[key], reference[key], f"{path}.{key}") for key in reference)
    if isinstance(reference, list):
        assert isinstance(fast, list) and len(fast) == len(reference), path
        return sum(
            assert_same(left, right, f"{path}[{index}]")
            for index, (left, right) in enumerate(zip(fast, reference, strict=True))
        )
    if isinstance(reference, float) and not isinstance(fast, bool):
        assert isinstance(fast, float), path
        assert fast == pytest.approx(reference, rel=1e-9, abs=1e-12), path
        return 1
    assert fast == reference and type(fast) is type(reference), path
    return 0


def awkward_cycle(session: Any) -> Cycle:
    """The demo's 2026 cycle with synthetic fieldwork and the awkward cases, closed."""
    cycle = session.scalars(sa.select(Cycle).where(Cycle.year == 2026)).one()
    other = session.scalars(sa.select(Cycle).where(Cycle.year == 2025)).one()
    cycles.transition_cycle(session, cycle, CycleStatus.FIELDING, actor="test")
    synthetic.generate_responses(session, cycle, seed=11)
    groups = {group.code: group for group in cycle.rater_groups}
    levels = {level.code: level for level in cycle.scale_levels}
    dont_know = next(level for level in levels.values() if level.is_dont_know)
    units = sorted(cycle.units, key=lambda unit: unit.code)
    items = sorted(cycle.items, key=lambda item: item.code)
    # Every service recipient of the first unit answered "don't know" on one
    # weighted item: that unit has no composite in the group.
    session.execute(
        sa.update(Answer)
        .where(
            Answer.unit_id == units[0].id,
            Answer.item_id == items[0].id,
            Answer.response_id.in_(
                sa.select(Response.id).where(
                    Response.cycle_id == cycle.id,
                    Response.rater_group_id == groups["service_recipients"].id,
                )
            ),
        )
        .values(scale_level_id=dont_know.id)
    )
    # An answer of last year's cycle between this cycle's responses.
    stray = Response(
        cycle_id=other.id,
        channel=Channel.OPEN_QR,
        rater_group_id=other.rater_groups[1].id,
        design_weight=1.0,
    )
    session.add(stray)
    session.flush()
    session.add(
        Answer(
            response_id=stray.id,
            unit_id=other.units[0].id,
            item_id=other.items[0].id,
            scale_level_id=other.scale_levels[0].id,
        )
    )
    # A citizen who came in through a public poster (never pooled), answers
    # stored in reverse order.
    poster = Response(
        cycle_id=cycle.id,
        channel=Channel.OPEN_QR,
        rater_group_id=groups["citizens"].id,
        stratum="",
        design_weight=1.0,
    )
    session.add(poster)
    late = Response(
        cycle_id=cycle.id,
        channel=Channel.INVITATION,
        rater_group_id=groups["citizens"].id,
        stratum="东湖区",
        design_weight=6000.0,
    )
    session.add(late)
    session.flush()
    for response in (poster, late):
        for unit in reversed(units[:3]):
            for item in reversed(items):
                session.add(
                    Answer(
                        response_id=response.id,
                        unit_id=unit.id,
                        item_id=item.id,
                        scale_level_id=levels[sorted(levels)[item.position % 5]].id,
                    )
                )
        session.flush()
    cycles.transition_cycle(session, cycle, CycleStatus.CLOSED, actor="test")
    return cycle


@pytest.mark.parametrize("dont_know", ["exclude", "count_in_base"])
def test_fast_recompute_matches_the_straightforward_one(
    results_session: Any, backend: str, dont_know: str
) -> None:
    cycle = awkward_cycle(results_session)
    rules = scoring.rules_for(cycle, dont_know=dont_know)
    inputs = scoring.gather_inputs(results_session, cycle, rules)

    reference: dict[str, Any] = {
        "group_scores": [],
        "item_scores": [],
        "group_covariances": [],
        "excluded_responses": {},
    }
    for group in cycle.rater_groups:
        scores, items, pairs, left_out = reference_group_scores(
            results_session, cycle, group, rules
        )
        reference["group_scores"].extend(scores)
        reference["item_scores"].extend(items)
        reference["group_covariances"].extend(pairs)
        reference["excluded_responses"][group.code] = left_out
    reference["group_scores"].sort(key=lambda row: (row["unit"], row["group"]))
    reference["item_scores"].sort(key=lambda row: (row["unit"], row["group"], row["item"]))
    reference["group_covariances"].sort(key=lambda row: (row["group"], row["first"], row["second"]))

    compared = sum(assert_same(inputs[key], value, key) for key, value in reference.items())
    assert inputs["answers_sha256"] == reference_digest(results_session, cycle)
    # The awkward cases are really there.
    assert inputs["excluded_responses"]["citizens"] == 1
    # … and named with their reason and channel, not dropped silently.
    assert [row for row in inputs["excluded_reasons"] if row["group"] == "citizens"] == [
        {"group": "citizens", "reason": "wrong_channel", "channel": "open_qr", "count": 1}
    ]
    first_unit = min(unit.code for unit in cycle.units)
    assert {
        "unit": first_unit,
        "group": "service_recipients",
        "estimate": None,
        "variance": 0.0,
        "valid_responses": 0,
    } in inputs["group_scores"]
    assert compared > 1000 and len(inputs["group_covariances"]) > 100
    assert all(math.isfinite(row["covariance"]) for row in inputs["group_covariances"])
    # Same inputs, same published outputs: ranks and grades identical.
    fast_outputs = scoring.compute_outputs(inputs)
    reference_outputs = scoring.compute_outputs({**inputs, **reference})
    assert_same(fast_outputs, reference_outputs, "outputs")


def test_digest_is_of_the_answers_in_order(results_session: Any) -> None:
    """The column-wise digest changes with any answer and not with storage order."""
    cycle = awkward_cycle(results_session)
    before = scoring.answers_digest(results_session, cycle)
    answer = results_session.scalars(
        sa.select(Answer)
        .join(Response, Answer.response_id == Response.id)
        .where(Response.cycle_id == cycle.id)
        .order_by(Answer.id.desc())
        .limit(1)
    ).one()
    original = answer.scale_level_id
    other = next(level.id for level in cycle.scale_levels if level.id != original)
    answer.scale_level_id = other
    results_session.flush()
    changed = scoring.answers_digest(results_session, cycle)
    assert changed != before and changed == reference_digest(results_session, cycle)
    answer.scale_level_id = original
    results_session.flush()
    assert scoring.answers_digest(results_session, cycle) == before


@pytest.mark.parametrize("variant", ["psu-fpc-certainty", "psu-adjust", "no-psu"])
def test_sparse_unit_covariance_equals_the_dense_one(variant: str) -> None:
    """design_composites gives composite_covariance(design.mean(covariance=True))."""
    generator = np.random.default_rng(5)
    respondents = 300
    stratum = generator.integers(0, 6, respondents)
    stratum[0] = 6  # one respondent alone in a stratum: a lonely PSU
    rows = np.array(
        [
            (respondent, unit, item)
            for respondent in range(respondents)
            for unit in generator.choice(9, 3, replace=False)
            for item in range(3)
        ]
    )
    respondent, unit, item = rows.T
    points = generator.choice([0.0, 30.0, 60.0, 80.0, 100.0, np.nan], len(rows))
    population = np.array([900, 800, 700, 600, 500, 400, 300])[stratum[respondent]]
    design = SurveyDesign(
        generator.uniform(1, 40, respondents)[respondent],
        strata=stratum[respondent],
        psu=None if variant == "no-psu" else respondent,
        fpc=population if variant == "psu-fpc-certainty" else None,
        lonely_psu="adjust" if variant == "psu-adjust" else "certainty",
    )
    domains = Domains.from_columns([unit, item], ["unit", "item"])
    weights = {0: 0.5, 1: 0.3, 2: 0.2}
    dense = composite_covariance(design.mean(points, domains, covariance=True), weights)
    sparse = design_composites(design, points, domains, weights)
    assert np.array_equal(dense.units, sparse.units)
    assert np.allclose(sparse.estimate, dense.estimate, rtol=1e-12, atol=0)
    scale = np.abs(dense.covariance).max()
    assert scale > 0
    assert np.allclose(sparse.covariance, dense.covariance, rtol=0, atol=1e-12 * scale)
    assert (np.abs(np.diag(dense.covariance)) > 0).all()

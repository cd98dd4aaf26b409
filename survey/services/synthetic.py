"""Synthetic responses for the demo and the tests (合成答卷).

The demo prefecture has units but nobody has answered yet; results need
answers.  :func:`generate_responses` writes a realistic, deterministic set:
a stratified probability sample of citizens (four districts with different
sampling fractions, hence different design weights) each rating a few units,
self-selected service recipients per unit through the open QR channel, and the
listed groups (deputies, leaders, subordinate bodies) rating every unit.
Answers follow a per-unit latent satisfaction with item, rater-group and
respondent (mood) offsets; about 5 % are "don't know"; a few comments are
attached.  The same seed always gives the same responses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sqlalchemy as sa
from sqlalchemy import orm

from survey.models import (
    Answer,
    Channel,
    Comment,
    Cycle,
    RaterGroup,
    Response,
    ResultSnapshot,
)
from survey.services.rater_policy import policy_of

#: District strata: (name, population, sample size); the unequal sampling
#: fractions give unequal design weights N_h / n_h.
CITIZEN_STRATA: tuple[tuple[str, int, int], ...] = (
    ("东湖区", 420_000, 70),
    ("西城区", 310_000, 60),
    ("江南区", 260_000, 60),
    ("县域", 880_000, 70),
)
UNITS_PER_CITIZEN = 8
LISTED_SIZES = {"deputies": 36, "leaders": 32, "subordinates": 34}
DONT_KNOW_SHARE = 0.05

COMMENTS = (
    "办事窗口排队时间较长，希望增加人手。",
    "工作人员态度很好，解释耐心。",
    "网上办理流程还可以再简化。",
    "电话经常打不通，建议公布多个联系方式。",
    "整改措施落实到位，点赞。",
    "希望加强对基层的走访调研。",
)


@dataclass(frozen=True)
class SyntheticSummary:
    """How many responses, answers and comments were written."""

    responses: int
    answers: int
    comments: int


#: The demo office's decision for units with rater groups below the minimum.
DEMO_DECISION = "演示：同意按比例重新分配权重"
#: What earlier demos stored (still in their snapshots; pages show it in the reader's language).
LEGACY_DEMO_DECISION = "演示：同意按比例重新分配权重 redistribution accepted"


def generate_responses(
    session: orm.Session, cycle: Cycle, *, seed: int = 20260101
) -> SyntheticSummary:
    """Write synthetic responses for every rater group of ``cycle`` (flushes only)."""
    generator = np.random.default_rng(seed)
    units = sorted(cycle.units, key=lambda unit: unit.code)
    items = list(cycle.items)
    levels = [level for level in cycle.scale_levels if not level.is_dont_know]
    levels.sort(key=lambda level: -(level.points or 0.0))
    dont_know = next(level for level in cycle.scale_levels if level.is_dont_know)
    # Latent satisfaction per unit on a logit-like scale: most units fine, a few weak.
    unit_effect = {unit.id: float(generator.normal(0.9, 0.45)) for unit in units}
    item_effect = {item.id: float(generator.normal(0.0, 0.15)) for item in items}

    responses: list[Response] = []
    answers: list[dict[str, int]] = []
    pending: list[tuple[Response, list[tuple[int, int, int]]]] = []

    def answer_level(unit_id: int, item_id: int, group_offset: float) -> int:
        if generator.random() < DONT_KNOW_SHARE:
            return dont_know.id
        latent = unit_effect[unit_id] + item_effect[item_id] + group_offset
        # Ordered-logit thresholds: higher latent → better levels.
        thresholds = np.array([1.6, 0.2, -1.4, -2.6])
        probabilities = 1 / (1 + np.exp(-(latent - thresholds)))
        draw = generator.random()
        position = int(np.sum(draw > probabilities))
        return levels[min(position, len(levels) - 1)].id

    def add(
        group: RaterGroup, channel: Channel, stratum: str, weight: float, rated: list[int]
    ) -> None:
        # A respondent's general mood moves all their answers: the answers on
        # different units are correlated, as in real surveys.
        offset = {"citizens": -0.2, "service_recipients": 0.1}.get(group.code, 0.3)
        offset += float(generator.normal(0.0, 0.6))
        response = Response(
            cycle_id=cycle.id,
            channel=channel,
            rater_group_id=group.id,
            stratum=stratum,
            design_weight=weight,
        )
        chosen = [
            (unit_id, item.id, answer_level(unit_id, item.id, offset))
            for unit_id in rated
            for item in items
        ]
        responses.append(response)
        pending.append((response, chosen))

    unit_ids = [unit.id for unit in units]
    for group in cycle.rater_groups:
        policy = policy_of(group)
        if policy.design_weighted:
            for index, (stratum, population, sample_size) in enumerate(CITIZEN_STRATA):
                for _ in range(sample_size):
                    rated = generator.choice(unit_ids, size=UNITS_PER_CITIZEN, replace=False)
                    channel = (Channel.PHONE_CATI, Channel.PHONE_IVR, Channel.INVITATION)[index % 3]
                    add(group, channel, stratum, population / sample_size, sorted(rated.tolist()))
        elif policy.roster:
            for _ in range(LISTED_SIZES.get(group.code, 32)):
                add(group, policy.door, "", 1.0, unit_ids)
        else:
            for unit_id in unit_ids:
                for _ in range(int(generator.integers(24, 46))):
                    add(group, policy.door, "", 1.0, [unit_id])
    session.add_all(responses)
    session.flush()
    comments = 0
    for response, chosen in pending:
        for unit_id, item_id, level_id in chosen:
            answers.append(
                {
                    "response_id": response.id,
                    "unit_id": unit_id,
                    "item_id": item_id,
                    "scale_level_id": level_id,
                }
            )
        if generator.random() < 0.04:
            unit_id = chosen[0][0]
            text = COMMENTS[int(generator.integers(len(COMMENTS)))]
            session.add(Comment(response_id=response.id, unit_id=unit_id, text=text))
            comments += 1
    session.execute(sa.insert(Answer), answers)
    session.flush()
    return SyntheticSummary(len(responses), len(answers), comments)


def component_csv(cycle: Cycle, component_code: str, *, seed: int = 20260101) -> bytes:
    """A plausible import file for one imported component (deterministic).

    In the demo the emergency-management bureau (L05) fails the work-safety
    constraint indicator in the annual component, and one county completes a
    quantitative target at only 55 %.
    """
    generator = np.random.default_rng([seed, sum(component_code.encode())])
    lines = ["unit_code,score,vetoed,lowest_target_completion"]
    for unit in sorted(cycle.units, key=lambda unit: unit.code):
        score = round(float(np.clip(generator.normal(86, 5), 60, 99)), 1)
        vetoed = "yes" if component_code == "annual" and unit.code == "L05" else ""
        completion = "55%" if component_code == "annual" and unit.code == "C06" else ""
        lines.append(f"{unit.code},{score},{vetoed},{completion}")
    return ("\n".join(lines) + "\n").encode()


def import_other_components(session: orm.Session, cycle: Cycle, *, seed: int, actor: str) -> None:
    """Import :func:`component_csv` for every component but social recognition."""
    from survey.services import components

    for component in cycle.components:
        if not component.is_social_recognition:
            components.import_component(
                session,
                cycle,
                component,
                filename=f"{component.code}-{seed}.csv",
                data=component_csv(cycle, component.code, seed=seed),
                actor=actor,
            )


def load_results_demo(session: orm.Session, *, year: int = 2025) -> ResultSnapshot:
    """A previous, already published cycle for the demo (上一年度考核结果).

    Creates the ``year`` cycle with the demo prefecture's units, synthetic
    responses and imported components, closes its fieldwork and publishes it
    (the office's decision on units with groups below the minimum is recorded
    as accepting the redistribution).  Flushes only.
    """
    from survey.models import CycleStatus
    from survey.services import cycles, demo, publication, scoring

    cycle = demo.create_demo_cycle(
        session,
        year=year,
        description="演示数据：已公示的上一年度结果。Demo data: last year's published results.",
    )
    cycles.transition_cycle(session, cycle, CycleStatus.FIELDING, actor="demo")
    generate_responses(session, cycle, seed=year)
    import_other_components(session, cycle, seed=year, actor="demo")
    cycles.transition_cycle(session, cycle, CycleStatus.CLOSED, actor="demo")
    rules = scoring.rules_for(cycle)
    inputs = scoring.gather_inputs(session, cycle, rules)
    undecided = sorted(
        {
            unit["unit"]
            for category in scoring.compute_outputs(inputs)["categories"]
            for unit in category["units"]
            if unit["social"]["redistributed"] or unit["social"]["estimate"] is None
        }
    )
    decisions = dict.fromkeys(undecided, DEMO_DECISION)
    return publication.publish(session, cycle, actor="demo", rules=rules, decisions=decisions)


def ensure_results_demo(session: orm.Session, *, year: int = 2025) -> ResultSnapshot:
    """The published demo snapshot, loading it first when it is not there yet."""
    from survey.services import publication

    cycle = session.scalar(sa.select(Cycle).where(Cycle.year == year))
    if cycle is not None:
        snapshot = publication.latest_snapshot(session, cycle)
        if snapshot is not None:
            return snapshot
    return load_results_demo(session, year=year)

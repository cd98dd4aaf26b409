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
import json
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy import orm

from sampling.errors import SamplingError
from sampling.estimation import SurveyDesign
from sampling.grading import PRESETS, GradingRules, UnitStanding, grade_category, round_score
from sampling.satisfaction import Scale, satisfaction_indices
from sampling.scoring import (
    ComponentScore,
    GroupScore,
    SubScore,
    composite_covariance,
    neighbour_comparisons,
    overall_score,
    rank_units,
    social_recognition_score,
    sub_score_covariance_matrix,
)
from survey.models import (
    Answer,
    Channel,
    Cycle,
    DontKnowHandling,
    RaterGroup,
    Response,
    SamplingKind,
    ScaleLevel,
)
from survey.services import components as component_service
from survey.services.errors import ValidationError

RULES_VERSION = "minyi-results-v1"
"""Bumped whenever the computation changes, so old snapshots say how they were made."""

#: The channels each kind of rater group is scored from (DESIGN §4: never pooled).
GROUP_CHANNELS: dict[SamplingKind, frozenset[Channel]] = {
    SamplingKind.PROBABILITY: frozenset(
        {Channel.INVITATION, Channel.PHONE_IVR, Channel.PHONE_CATI}
    ),
    SamplingKind.LISTED: frozenset({Channel.LISTED}),
    SamplingKind.SELF_SELECTED: frozenset({Channel.OPEN_QR}),
}


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

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


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


def _group_scores(
    session: orm.Session, cycle: Cycle, group: RaterGroup, rules: ResultRules
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]], int]:
    """Unit scores, item-level indices, same-category covariances and responses left out."""
    allowed = GROUP_CHANNELS[group.sampling_kind]
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
    dont_know = np.array([row[6] for row in rows], dtype=bool)
    scale = _scale(list(cycle.scale_levels))
    points, _, _ = scale.encode(level)

    # Units where some weighted item has no valid answer at all cannot get a
    # composite; they count as having no valid response in this group.
    answered = defaultdict(set)
    valid_respondents: dict[str, set[int]] = defaultdict(set)
    for row_unit, row_item, row_respondent, row_dk in zip(
        unit.tolist(), item.tolist(), respondent.tolist(), dont_know.tolist(), strict=True
    ):
        if not row_dk:
            answered[row_unit].add(row_item)
            valid_respondents[row_unit].add(row_respondent)
    weighted_items = {code for code, weight in ((i.code, i.weight) for i in cycle.items) if weight}
    complete = {code for code, seen in answered.items() if weighted_items <= seen}
    keep = np.array([code in complete for code in unit.tolist()], dtype=bool)
    design_strata = stratum if group.sampling_kind == SamplingKind.PROBABILITY else None
    scores: list[dict[str, Any]] = []
    item_rows: list[dict[str, Any]] = []
    covariances: list[dict[str, Any]] = []
    if keep.any():
        design = SurveyDesign(
            weight[keep],
            strata=None if design_strata is None else design_strata[keep],
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
        table = satisfaction_indices(
            design,
            level[keep],
            {"unit": unit[keep], "item": item[keep]},
            scale=scale,
            dont_know="count-in-base" if rules.dont_know == "count_in_base" else "exclude",
            level=rules.level,
        )
        unit_keys, item_keys = table.index.domains.keys
        for index in range(len(unit_keys)):
            item_rows.append(
                {
                    "unit": str(unit_keys[index]),
                    "group": group.code,
                    "item": str(item_keys[index]),
                    "index": float(table.index.estimate[index]),
                    "index_se": float(table.index.se[index]),
                    "rate": float(table.rate.estimate[index]),
                    "dont_know_share": float(table.dont_know_share[index]),
                    "n": int(table.index.n[index]),
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


def answers_digest(session: orm.Session, cycle: Cycle) -> str:
    """SHA-256 over every answer of the cycle (response, channel, group, unit, item, level)."""
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
    try:
        for group in cycle.rater_groups:
            scores, items, pairs, left_out = _group_scores(session, cycle, group, rules)
            group_scores.extend(scores)
            item_scores.extend(items)
            group_covariances.extend(pairs)
            excluded[group.code] = left_out
    except SamplingError as error:
        raise ValidationError(f"the survey data cannot be scored: {error}") from error
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
        "components": components,
        "decisions": dict(sorted((decisions or {}).items())),
        "answers_sha256": answers_digest(session, cycle),
    }


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


def input_problems(inputs: Mapping[str, Any]) -> list[str]:
    """Why these inputs cannot be published: missing components, undecided units."""
    problems = []
    weighted = {
        code
        for category in inputs["categories"]
        for code, weight in category["component_weights"].items()
        if weight > 0 and code != inputs["social_component"]
    }
    for code in sorted(weighted - set(inputs["components"])):
        problems.append(f"component {code!r} has not been imported")
    outputs = compute_outputs(inputs)
    for category in outputs["categories"]:
        for unit in category["units"]:
            social = unit["social"]
            if (social["redistributed"] or social["estimate"] is None) and unit[
                "unit"
            ] not in inputs["decisions"]:
                below = ", ".join(social["below_minimum"])
                problems.append(
                    f"unit {unit['unit']} has rater groups below the minimum "
                    f"({below}) and no decision"
                )
    return problems


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
) -> np.ndarray:
    """Covariance of the totals of ``codes``: only the survey component varies.

    ``cov(T_i, T_j) = w_s² · cov(S_i, S_j)`` with the social-recognition
    weight ``w_s`` of the category and the sub-score covariance built from the
    same-category unit covariances within each rater group.
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
    return np.asarray(weight**2 * social, dtype=np.float64)


def compute_outputs(inputs: Mapping[str, Any]) -> dict[str, Any]:
    """Sub-scores, totals, ranks, grades and neighbour tests from ``inputs`` (pure).

    A unit without any eligible rater group, or with a missing component, gets
    no total and no grade; :func:`input_problems` lists it.  The inputs are
    first brought to their canonical form (sorted keys), so the result does not
    depend on the order in which a mapping was built or stored.
    """
    inputs = json.loads(canonical_json(inputs))
    rules = ResultRules(**inputs["rules"])
    scheme = PRESETS[rules.grade_scheme]
    kinds = {group["code"]: group["kind"] for group in inputs["groups"]}
    scores_by_unit: dict[str, list[GroupScore]] = defaultdict(list)
    for row in inputs["group_scores"]:
        scores_by_unit[row["unit"]].append(
            GroupScore(row["group"], row["estimate"], row["variance"], row["valid_responses"])
        )
    social_code = inputs["social_component"]
    result_categories = []
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
        units = [unit for unit in inputs["units"] if unit["category"] == category["code"]]
        entries: dict[str, dict[str, Any]] = {}
        subs: dict[str, SubScore] = {}
        totals: dict[str, float] = {}
        standings: list[UnitStanding] = []
        for unit in units:
            code = unit["code"]
            sub = social_recognition_score(
                [score for score in scores_by_unit.get(code, []) if score.group in group_weights],
                group_weights,
                minimum_responses=rules.minimum_responses,
                level=rules.level,
            )
            subs[code] = sub
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
            entries[code] = entry
            component_scores = []
            complete = sub.estimate is not None and sub.variance is not None
            vetoed: list[str] = []
            completions: list[float] = []
            for component_code, weight in category["component_weights"].items():
                if component_code == social_code:
                    if sub.estimate is not None and sub.variance is not None:
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
        previous = (inputs.get("previous") or {}).get("units", {})
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
            _total_covariance(inputs, category, ranked_codes, subs, social_code),
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
        result_categories.append(
            {
                "code": category["code"],
                "name": category["name"],
                "quota": list(graded.quota),
                "units": ordered,
            }
        )
    return {"format": RULES_VERSION, "scheme": scheme.name, "categories": result_categories}

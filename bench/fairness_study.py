"""Fairness study (issue #23): are grades from small samples right, and are their
probabilities honest?

Simulates the demo prefecture (江州市: 44 units in 8 categories of 4–8 units,
the demo's component weights and the quota scheme 15:80:5) with known true
scores, ``--replicates`` times (1,000 for the report), at 30, 50 and 100
citizens per unit, and grades every replicate by quota from the direct
estimates and from their Fay–Herriot EBLUP.  It reports the share of units
graded correctly and the calibration of the grade probabilities of
:func:`sampling.grading.grade_probabilities` (binned predicted probability
against the observed frequency of the true grade).

Only the library (:mod:`sampling`) is used, never the web app.  The model
follows the demo's synthetic responses (survey/services/synthetic.py):

* a unit's latent satisfaction ``u_i ~ N(0.9, 0.45²)``, five items with
  offsets ``N(0, 0.15²)``, the citizens' offset −0.2 and a respondent's mood
  ``N(0, 0.6²)`` shared by all their answers (so units rated by the same
  citizens are positively correlated);
* answers by an ordered logit with thresholds 1.6, 0.2, −1.4, −2.6 on the
  five-point scale 100/80/60/30/0; every citizen rates 8 of the 44 units at
  random; "don't know" answers are left out;
* the true social-recognition score of a unit is the expected item-weighted
  composite (Gauss–Hermite quadrature over the mood); the imported
  components (routine, annual, self-building) are ``N(86, 5²)`` clipped to
  60–99 and rounded to 0.1, exact as in the app;
* new true scores in every replicate (the study averages over prefectures
  like the demo, which is also what the Fay–Herriot model assumes).

The citizens are the only rater group here (they carry the whole
social-recognition weight), so that "citizens per unit" is the sample size
of the score; no vetoes or target rules (those are held fixed and would be
graded correctly by construction).

Two rankings are graded: ``total`` (the published total, social recognition
weighted 0.15 for counties and 0.20 for departments) and ``social`` (the
social-recognition score alone, the survey's own ranking: the hard case).

Run ``python bench/fairness_study.py`` (1,000 replicates; a few minutes)
or ``--replicates 50`` for a quick look; ``--json FILE`` keeps the figures.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from sampling.estimation import Domains, SurveyDesign
from sampling.grading import (
    TEAMS_15_80_5,
    GradingRules,
    UnitStanding,
    grade_category,
    grade_probabilities,
    quota_counts,
)
from sampling.scoring import design_composites
from sampling.smoothing import fay_herriot

FloatArray = npt.NDArray[np.float64]

#: The demo prefecture's categories (survey/services/demo.py DEMO_UNITS): units per category.
CATEGORY_SIZES: dict[str, int] = {
    "county": 8,
    "party": 5,
    "mass_org": 4,
    "government": 5,
    "economic": 6,
    "social": 6,
    "law_enforcement": 6,
    "congress_cppcc": 4,
}
#: Component weights of the presets (survey/services/presets.py COMPONENT_PRESETS).
COUNTY_WEIGHTS = {"routine": 0.20, "annual": 0.45, "self_building": 0.20, "social": 0.15}
DEPARTMENT_WEIGHTS = {"routine": 0.15, "annual": 0.50, "self_building": 0.15, "social": 0.20}
IMPORTED = ("routine", "annual", "self_building")
POINTS = np.array([100.0, 80.0, 60.0, 30.0, 0.0])
THRESHOLDS = np.array([1.6, 0.2, -1.4, -2.6])
ITEMS = 5
UNITS_PER_CITIZEN = 8
CITIZEN_OFFSET = -0.2
MOOD_SD = 0.6
DECIMALS = 2
SCHEME = TEAMS_15_80_5
RULES = GradingRules(bottom_share="0.05", target_threshold=None, constraint_veto=False)
SIZES = (30, 50, 100)
TARGETS = ("total", "social")
METHODS = ("direct", "fay-herriot")
BINS = 10


def level_probabilities(latent: FloatArray) -> FloatArray:
    """Probabilities of the five levels (best first) for an array of latent values."""
    cumulative = 1.0 / (1.0 + np.exp(-(latent[..., None] - THRESHOLDS)))
    upper = np.concatenate([cumulative, np.ones((*latent.shape, 1))], axis=-1)
    lower = np.concatenate([np.zeros((*latent.shape, 1)), cumulative], axis=-1)
    return np.asarray(upper - lower, dtype=np.float64)


def true_social(unit_effect: FloatArray, item_effect: FloatArray) -> FloatArray:
    """Expected composite per unit, integrating the mood by Gauss–Hermite (40 nodes)."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(40)
    weights = weights / weights.sum()
    latent = (
        unit_effect[:, None, None]
        + item_effect[None, :, None]
        + CITIZEN_OFFSET
        + MOOD_SD * nodes[None, None, :]
    )
    expected = level_probabilities(latent) @ POINTS  # units × items × nodes
    return np.asarray((expected @ weights).mean(axis=1), dtype=np.float64)


@dataclass(frozen=True)
class Prefecture:
    """One replicate's truth: categories, weights, exact components, true totals."""

    category: npt.NDArray[np.int64]
    social_weight: FloatArray
    fixed: FloatArray
    """Weighted sum of the imported (exact) components."""
    unit_effect: FloatArray
    item_effect: FloatArray
    true_social: FloatArray


def draw_prefecture(generator: np.random.Generator) -> Prefecture:
    categories = list(CATEGORY_SIZES)
    category = np.repeat(np.arange(len(categories)), list(CATEGORY_SIZES.values()))
    weights = [
        COUNTY_WEIGHTS if categories[c] == "county" else DEPARTMENT_WEIGHTS for c in category
    ]
    unit_effect = generator.normal(0.9, 0.45, size=category.size)
    item_effect = generator.normal(0.0, 0.15, size=ITEMS)
    components = np.round(np.clip(generator.normal(86, 5, size=(category.size, 3)), 60, 99), 1)
    fixed = np.array(
        [
            sum(w[name] * components[i, k] for k, name in enumerate(IMPORTED))
            for i, w in enumerate(weights)
        ]
    )
    return Prefecture(
        category=category,
        social_weight=np.array([w["social"] for w in weights]),
        fixed=fixed,
        unit_effect=unit_effect,
        item_effect=item_effect,
        true_social=true_social(unit_effect, item_effect),
    )


def survey(
    prefecture: Prefecture, per_unit: int, generator: np.random.Generator
) -> tuple[FloatArray, FloatArray]:
    """Direct social scores of all units and their covariance (linearisation, citizens as PSUs).

    ``per_unit × units / 8`` citizens each rate 8 random units on the five items.
    """
    units = prefecture.category.size
    citizens = math.ceil(per_unit * units / UNITS_PER_CITIZEN)
    rated = np.argsort(generator.random((citizens, units)), axis=1)[:, :UNITS_PER_CITIZEN]
    rated.sort(axis=1)
    mood = generator.normal(0.0, MOOD_SD, size=citizens)
    latent = (
        prefecture.unit_effect[rated][:, :, None]
        + prefecture.item_effect[None, None, :]
        + CITIZEN_OFFSET
        + mood[:, None, None]
    )
    cumulative = 1.0 / (1.0 + np.exp(-(latent[..., None] - THRESHOLDS)))
    level = (generator.random(latent.shape)[..., None] > cumulative).sum(axis=-1)
    points = POINTS[level]  # citizens × 8 × items
    respondent = np.repeat(np.arange(citizens), UNITS_PER_CITIZEN * ITEMS)
    unit = np.repeat(rated.ravel(), ITEMS)
    item = np.tile(np.arange(ITEMS), citizens * UNITS_PER_CITIZEN)
    design = SurveyDesign(np.ones(respondent.size), psu=respondent)
    domains = Domains.from_codes(
        [(unit, np.arange(units)), (item, np.arange(ITEMS))], ["unit", "item"]
    )
    composite = design_composites(
        design, points.ravel(), domains, dict.fromkeys(range(ITEMS), 1.0 / ITEMS)
    )
    if composite.units.tolist() != list(range(units)):
        raise RuntimeError("a unit was rated by nobody; raise the sample size")
    return composite.estimate, composite.covariance


def smooth(direct: FloatArray, covariance: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Fay–Herriot EBLUP (REML, intercept only) and an approximate covariance.

    Diagonal: the Prasad–Rao MSE; off-diagonal: ``γ_i γ_j cov(θ̂_i, θ̂_j)``, the
    covariance of the shrunk sampling errors (the MSE's other terms are of
    order ``1/m`` and left out between units).  Positive semi-definite, since
    ``mse_i ≥ g1_i = γ_i ψ_i ≥ γ_i² ψ_i``.
    """
    fit = fay_herriot(direct, np.diag(covariance))
    shrunk = fit.gamma[:, None] * covariance * fit.gamma[None, :]
    np.fill_diagonal(shrunk, fit.mse)
    return fit.eblup, shrunk


def grades_of(scores: FloatArray, members: npt.NDArray[np.int64]) -> list[int]:
    standings = [
        UnitStanding(str(index), round(float(scores[index]), DECIMALS)) for index in members
    ]
    graded = {u.unit: SCHEME.index(u.grade) for u in grade_category(standings, SCHEME, RULES).units}
    return [graded[str(index)] for index in members]


@dataclass
class Tally:
    """Counts for one (citizens per unit, method, ranking) cell."""

    units: int = 0
    correct: int = 0
    top_units: int = 0
    top_correct: int = 0
    robust: int = 0
    robust_correct: int = 0
    brier: float = 0.0
    pairs: int = 0
    predicted: list[float] = field(default_factory=lambda: [0.0] * BINS)
    observed: list[int] = field(default_factory=lambda: [0] * BINS)
    count: list[int] = field(default_factory=lambda: [0] * BINS)
    grade_predicted: list[float] = field(default_factory=lambda: [0.0] * BINS)
    grade_observed: list[int] = field(default_factory=lambda: [0] * BINS)
    grade_count: list[int] = field(default_factory=lambda: [0] * BINS)

    def add(
        self, probabilities: FloatArray, published: int, truth: int, possible: Sequence[int]
    ) -> None:
        self.units += 1
        right = published == truth
        self.correct += right
        if truth == 0:
            self.top_units += 1
            self.top_correct += right
        grade_probability = float(probabilities[published])
        if grade_probability >= 0.8:
            self.robust += 1
            self.robust_correct += right
        slot = min(int(grade_probability * BINS), BINS - 1)
        self.grade_predicted[slot] += grade_probability
        self.grade_observed[slot] += right
        self.grade_count[slot] += 1
        for grade in possible:
            p = float(probabilities[grade])
            hit = grade == truth
            self.brier += (p - hit) ** 2
            self.pairs += 1
            slot = min(int(p * BINS), BINS - 1)
            self.predicted[slot] += p
            self.observed[slot] += hit
            self.count[slot] += 1

    def summary(self) -> dict[str, Any]:
        def table(predicted: list[float], observed: list[int], count: list[int]) -> list[Any]:
            return [
                {
                    "bin": f"{b / BINS:.1f}–{(b + 1) / BINS:.1f}",
                    "n": count[b],
                    "mean_predicted": predicted[b] / count[b] if count[b] else None,
                    "observed": observed[b] / count[b] if count[b] else None,
                }
                for b in range(BINS)
            ]

        total = sum(self.count)
        ece = sum(
            abs(self.predicted[b] - self.observed[b]) for b in range(BINS) if self.count[b]
        ) / max(total, 1)
        return {
            "units": self.units,
            "correct_share": self.correct / self.units,
            "top_grade_recall": self.top_correct / max(self.top_units, 1),
            "robust_share": self.robust / self.units,
            "correct_among_robust": self.robust_correct / max(self.robust, 1),
            "correct_among_not_robust": (self.correct - self.robust_correct)
            / max(self.units - self.robust, 1),
            "brier": self.brier / max(self.pairs, 1),
            "calibration_error": ece,
            "calibration": table(self.predicted, self.observed, self.count),
            "published_grade_calibration": table(
                self.grade_predicted, self.grade_observed, self.grade_count
            ),
        }


def run(replicates: int, draws: int, seed: int, sizes: Sequence[int]) -> dict[str, Any]:
    root = np.random.SeedSequence(seed)
    tallies = {(n, m, t): Tally() for n in sizes for m in METHODS for t in TARGETS}
    members = [
        np.flatnonzero(
            np.repeat(np.arange(len(CATEGORY_SIZES)), list(CATEGORY_SIZES.values())) == c
        )
        for c in range(len(CATEGORY_SIZES))
    ]
    possible = [
        [g for g, count in enumerate(quota_counts(SCHEME, len(m))) if count] for m in members
    ]
    for replicate, child in enumerate(root.spawn(replicates)):
        generator = np.random.default_rng(child)
        prefecture = draw_prefecture(generator)
        truths = {
            "total": prefecture.fixed + prefecture.social_weight * prefecture.true_social,
            "social": prefecture.true_social,
        }
        true_grades = {t: [grades_of(truths[t], m) for m in members] for t in TARGETS}
        for n in sizes:
            direct, covariance = survey(prefecture, n, generator)
            estimates = {"direct": (direct, covariance), "fay-herriot": smooth(direct, covariance)}
            for method, (social, social_cov) in estimates.items():
                for target in TARGETS:
                    weight = prefecture.social_weight if target == "total" else np.ones_like(social)
                    base = prefecture.fixed if target == "total" else np.zeros_like(social)
                    totals = base + weight * social
                    total_cov = weight[:, None] * social_cov * weight[None, :]
                    tally = tallies[(n, method, target)]
                    for c, m in enumerate(members):
                        standings = [
                            UnitStanding(str(i), round(float(totals[i]), DECIMALS)) for i in m
                        ]
                        result = grade_probabilities(
                            standings,
                            total_cov[np.ix_(m, m)],
                            SCHEME,
                            RULES,
                            seed=int(generator.integers(2**63)),
                            estimates=totals[m].tolist(),
                            decimals=DECIMALS,
                            draws=draws,
                            check_draws=2 if replicate == 0 else 0,
                        )
                        matrix = result.matrix()
                        for k, unit in enumerate(result.units):
                            tally.add(
                                matrix[k],
                                SCHEME.index(unit.grade),
                                true_grades[target][c][k],
                                possible[c],
                            )
        if (replicate + 1) % max(1, replicates // 10) == 0:
            print(f"  {replicate + 1}/{replicates} replicates", file=sys.stderr, flush=True)
    return {f"{n}/{m}/{t}": tally.summary() for (n, m, t), tally in tallies.items()}


def report(results: dict[str, Any], sizes: Sequence[int]) -> str:
    lines = []
    for target in TARGETS:
        lines.append(f"\nRanking: {target}\n")
        lines.append(
            "| citizens/unit | method | graded correctly | top grade found | robust | "
            "correct if robust | correct if not | Brier | calibration error |"
        )
        lines.append("|---|---|---|---|---|---|---|---|---|")
        for n in sizes:
            for method in METHODS:
                s = results[f"{n}/{method}/{target}"]
                lines.append(
                    f"| {n} | {method} | {s['correct_share']:.3f} | {s['top_grade_recall']:.3f} | "
                    f"{s['robust_share']:.3f} | {s['correct_among_robust']:.3f} | "
                    f"{s['correct_among_not_robust']:.3f} | {s['brier']:.4f} | "
                    f"{s['calibration_error']:.4f} |"
                )
    for target in TARGETS:
        for method in METHODS:
            lines.append(
                f"\nCalibration, ranking {target}, {method}: predicted probability of the "
                "published grade (binned) vs share graded correctly\n"
            )
            lines.append(
                "| bin | " + " | ".join(f"{n}: n, predicted, observed" for n in sizes) + " |"
            )
            lines.append("|---|" + "---|" * len(sizes))
            for b in range(BINS):
                cells = []
                for n in sizes:
                    row = results[f"{n}/{method}/{target}"]["published_grade_calibration"][b]
                    if row["n"]:
                        cells.append(
                            f"{row['n']}, {row['mean_predicted']:.3f}, {row['observed']:.3f}"
                        )
                    else:
                        cells.append("–")
                lines.append(f"| {b / BINS:.1f}–{(b + 1) / BINS:.1f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--replicates", type=int, default=1000)
    parser.add_argument("--draws", type=int, default=2000, help="Monte Carlo draws per category")
    parser.add_argument("--seed", type=int, default=20261206)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    results = run(args.replicates, args.draws, args.seed, args.sizes)
    elapsed = time.perf_counter() - started
    print(f"{args.replicates} replicates, {args.draws} draws, seed {args.seed}, {elapsed:.0f} s")
    print(report(results, args.sizes))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(
                {
                    "replicates": args.replicates,
                    "draws": args.draws,
                    "seed": args.seed,
                    "seconds": elapsed,
                    "results": results,
                },
                handle,
                indent=1,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

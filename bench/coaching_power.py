"""Coaching signals (issue #23): power and false-alarm rate of the top-box-shift flag.

Simulates the demo prefecture (江州市: 44 units in 8 categories of 4–8 units)
for two cycles with the same true shares.  In the second cycle one unit (a
random one in every replicate) is *coached*: each of its respondents, with
probability ``--coached`` (0.2), answers top box (满意) whatever they think;
the others answer honestly.  :func:`sampling.quality.top_box_shift` is run on
the counts with its defaults (two-sided z tests, ``alpha = 0.05``, Holm over
the 44 units within each comparison; Benjamini–Hochberg and no correction,
the level of a single unit named in advance by a complaint, reported too).

Honest answers: a unit's true top-box share among substantive answers is
``expit(logit 0.45 + s·N(0, 1))`` (``s`` = 0: sister units alike; ``s`` =
0.3: sisters differ for real, as units do), don't know with probability
0.08, the same in both cycles.

Reported per sample size (30, 50, 100 respondents per unit):

* **power**: share of replicates in which the coached unit is flagged by
  the top-box test against last cycle, against its sisters, and by any of
  the four tests (top box and don't know, each against last cycle and
  sisters);
* **false alarms**: share of honest units flagged by the same tests
  (per unit), and the share of replicates with at least one honest unit
  flagged by any test (family-wise).

Run ``python bench/coaching_power.py`` (500 replicates, about half a minute);
``--json FILE`` keeps the figures.  Only the library is used.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from sampling.quality import Correction, top_box_shift

CATEGORY_SIZES = (8, 5, 4, 5, 6, 6, 6, 4)
SIZES = (30, 50, 100)
SPREADS = (0.0, 0.3)
TOP_SHARE = 0.45
DONT_KNOW = 0.08
CORRECTIONS = (Correction.HOLM, Correction.BENJAMINI_HOCHBERG, Correction.NONE)


def cycle(
    rng: np.random.Generator, truth: np.ndarray, n: int, coached: np.ndarray, rate: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Counts of one cycle: answers, top box, don't know per unit."""
    units = truth.shape[0]
    pushed = rng.binomial(n, np.where(coached, rate, 0.0))
    honest = n - pushed
    dont_know = rng.binomial(honest, DONT_KNOW)
    top = rng.binomial(honest - dont_know, truth) + pushed
    return np.full(units, float(n)), top.astype(float), dont_know.astype(float)


def study(replicates: int, seed: int, rate: float, sizes: Sequence[int]) -> dict[str, Any]:
    """Run the simulation; figures by spread, sample size and correction."""
    rng = np.random.default_rng(seed)
    categories = np.repeat(np.arange(len(CATEGORY_SIZES)), CATEGORY_SIZES)
    units = [f"u{i}" for i in range(categories.size)]
    logit = np.log(TOP_SHARE / (1 - TOP_SHARE))
    figures: dict[str, Any] = {}
    for spread in SPREADS:
        for n in sizes:
            for correction in CORRECTIONS:
                figures.setdefault(f"spread={spread}", {}).setdefault(f"n={n}", {})[
                    correction.value
                ] = {
                    "power": {"previous": 0, "sisters": 0, "any": 0},
                    "false_alarm": {"previous": 0, "sisters": 0, "any": 0},
                    "familywise_false_alarm": 0,
                }
            for _ in range(replicates):
                truth = 1 / (1 + np.exp(-(logit + spread * rng.standard_normal(categories.size))))
                target = rng.integers(categories.size)
                coached = np.arange(categories.size) == target
                last = cycle(rng, truth, n, np.zeros_like(coached), rate)
                this = cycle(rng, truth, n, coached, rate)
                for correction in CORRECTIONS:
                    result = top_box_shift(
                        units, categories.tolist(), *this, *last, correction=correction
                    )
                    cell = figures[f"spread={spread}"][f"n={n}"][correction.value]
                    for i, unit in enumerate(result.units):
                        key = "power" if i == target else "false_alarm"
                        cell[key]["previous"] += unit.top_box_vs_previous.flagged
                        cell[key]["sisters"] += unit.top_box_vs_sisters.flagged
                        cell[key]["any"] += unit.flagged
                    cell["familywise_false_alarm"] += any(
                        unit.flagged for i, unit in enumerate(result.units) if i != target
                    )
            for cell in figures[f"spread={spread}"][f"n={n}"].values():
                for name in ("previous", "sisters", "any"):
                    cell["power"][name] /= replicates
                    cell["false_alarm"][name] /= replicates * (categories.size - 1)
                cell["familywise_false_alarm"] /= replicates
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--replicates", type=int, default=500)
    parser.add_argument("--seed", type=int, default=20261207)
    parser.add_argument("--coached", type=float, default=0.2, help="share of a unit coached")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    figures = study(args.replicates, args.seed, args.coached, args.sizes)
    seconds = time.perf_counter() - started
    print(f"{args.replicates} replicates, {args.coached:.0%} coached, {seconds:.1f} s")
    print("spread  n    corr  power: prev  sis   any | false alarm: prev   sis    any  | FWER")
    for spread, by_n in figures.items():
        for n, by_correction in by_n.items():
            for correction, cell in by_correction.items():
                power, alarm = cell["power"], cell["false_alarm"]
                print(
                    f"{spread[7:]:6} {n[2:]:4} {correction:5}"
                    f"  {power['previous']:.3f} {power['sisters']:.3f} {power['any']:.3f}"
                    f" | {alarm['previous']:.4f} {alarm['sisters']:.4f} {alarm['any']:.4f}"
                    f" | {cell['familywise_false_alarm']:.3f}"
                )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({"arguments": vars(args), "figures": figures}, handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

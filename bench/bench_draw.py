"""Benchmark: ``python -m sampling draw`` against peers on the same frame.

Usage: ``python bench/bench_draw.py [FRAME.csv] [--n 100000] [--all]``.  The
frame (id,stratum,phone) is generated with /work/shared/peers/gen_frame.py
when missing.  Every peer is timed as a whole process (wall time and peak RSS
of the child) and the table is printed in Markdown.  By default svy and minyi
run; ``--all`` adds samplics and R ``sampling::strata``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

PEERS = Path(os.environ.get("MINYI_PEERS_DIR", "/work/shared/peers"))
PEER_PYTHON = Path.home() / ".peers" / "bin" / "python"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("frame", nargs="?", default=str(Path.home() / "peer-data" / "frame10m.csv"))
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--all", action="store_true", help="also samplics and R")
    args = parser.parse_args()
    frame = Path(args.frame)
    if not frame.exists():
        frame.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [str(PEER_PYTHON), str(PEERS / "gen_frame.py"), "10000000", "1000", str(frame)],
            check=True,
        )
    out_dir = tempfile.mkdtemp(prefix="bench-draw-")
    ours = [
        sys.executable,
        "-m",
        "sampling",
        "draw",
        str(frame),
        "--id",
        "id",
        "--strata",
        "stratum",
        "--n",
        str(args.n),
        "--method",
        "proportional",
        "--seed",
        "bench",
        "--out",
        os.path.join(out_dir, "sample.csv"),
        "--protocol",
        os.path.join(out_dir, "protocol.json"),
    ]
    runs: list[tuple[str, list[str]]] = [
        ("minyi", ours),
        ("svy", [str(PEER_PYTHON), str(PEERS / "peer_draw_svy.py"), str(frame), str(args.n)]),
    ]
    if args.all:
        runs.append(
            (
                "samplics",
                [str(PEER_PYTHON), str(PEERS / "peer_draw_samplics.py"), str(frame), str(args.n)],
            )
        )
        runs.append(
            ("R sampling", ["Rscript", str(PEERS / "peer_draw_r.R"), str(frame), str(args.n)])
        )
    results: dict[str, tuple[float, float, str]] = {}
    for name, command in runs:
        # Each measurement in a fresh grandchild so ru_maxrss is per process.
        probe = [sys.executable, "-c", _PROBE, *command]
        done = subprocess.run(probe, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"{name} failed:\n{done.stderr}")
        seconds, megabytes, last = done.stdout.strip().split("\t", 2)
        results[name] = (float(seconds), float(megabytes), last)
    base = results["svy"][0]
    print(f"frame: {frame} ({frame.stat().st_size / 1e6:.0f} MB), n = {args.n}\n")
    print("| tool | wall time (s) | × svy | peak RSS (MB) | output |")
    print("| --- | ---: | ---: | ---: | --- |")
    for name, (seconds, megabytes, last) in results.items():
        print(f"| {name} | {seconds:.2f} | {seconds / base:.2f} | {megabytes:.0f} | {last[:90]} |")
    return 0


_PROBE = """
import resource, subprocess, sys, time
start = time.perf_counter()
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
seconds = time.perf_counter() - start
if done.returncode:
    sys.stderr.write(done.stderr); sys.exit(done.returncode)
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
lines = (done.stdout or done.stderr).strip().splitlines()
print(f"{seconds}\\t{peak}\\t{lines[-1] if lines else ''}")
"""


if __name__ == "__main__":
    raise SystemExit(main())
